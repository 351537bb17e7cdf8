using Zhizao.Core;

namespace Zhizao.Simulator;

/// <summary>Value codes of every machine's <c>state</c> tag.</summary>
public enum MachineState
{
    /// <summary>Stopped by a breakdown, a failure under repair, or a jam.</summary>
    Down = 0,

    /// <summary>Available but not producing: off shift, break, starved/blocked, unloaded (compressor).</summary>
    Idle = 1,

    /// <summary>Producing / running / loaded.</summary>
    Running = 2,
}

/// <summary>
/// One simulated machine. Subclasses hold the physics; this class holds what all machines share: the run/idle/down
/// state machine (shift calendar, random short stops, breakdowns with repair), seeded faults with their ground truth,
/// energy integration, part counters and the emission of one quantised sample per tag.
/// </summary>
public abstract class Machine
{
    private protected const int StateTag = 0;
    private protected const int PowerTag = 1;
    private protected const int EnergyTag = 2;
    private protected const int GoodTag = 3;
    private protected const int ScrapTag = 4;

    private const long NsPerSecond = Time.NanosPerSecond;
    private const long NsPerMinute = 60 * NsPerSecond;
    private const long NsPerHour = 60 * NsPerMinute;
    private const long NsPerDay = 24 * NsPerHour;

    private readonly SimTag[] _tags;
    private readonly string[] _keys;
    private readonly SimRandom _faultRng;
    private readonly SimRandom _stopRng;
    private readonly List<ActiveFault> _faults = [];
    private readonly double[] _severity = new double[8];
    private readonly long _shiftJitterNs;

    private bool _started;
    private long _startNs;
    private long _lastNs;
    private double _energyKwh;
    private long _good;
    private long _scrap;

    private long _downUntilNs = long.MinValue;
    private bool _repairing;
    private long _stopUntilNs = long.MinValue;
    private MachineState _stopState;
    private long _nextStopNs = long.MaxValue;
    private long _nextBreakdownNs = long.MaxValue;
    private long _nextFaultNs = long.MaxValue;
    private FaultKind _nextFaultKind;
    private GroundTruthLog _log = new();

    private protected Machine(string id, string name, EquipmentType type, SimTag[] tags, ulong plantSeed)
    {
        Id = id;
        Name = name;
        Type = type;
        _tags = tags;
        _keys = new string[tags.Length];
        for (int i = 0; i < tags.Length; i++)
        {
            _keys[i] = SeriesKey.ForTag(id, tags[i].Name);
        }

        Values = new double[tags.Length];
        Produces = tags.Length > ScrapTag && tags[GoodTag].Name == "part_count_good";
        Noise = new SimRandom(SimRandom.Derive(plantSeed, id + "#noise"));
        _faultRng = new SimRandom(SimRandom.Derive(plantSeed, id + "#faults"));
        _stopRng = new SimRandom(SimRandom.Derive(plantSeed, id + "#stops"));
        _shiftJitterNs = (long)(_stopRng.Uniform(-4, 4) * NsPerMinute);
        _energyKwh = Math.Round(_stopRng.Uniform(1_000, 50_000));
        _good = (long)_stopRng.Uniform(10_000, 500_000);
        _scrap = _good / 50;
    }

    public string Id { get; }
    public string Name { get; }
    public EquipmentType Type { get; }
    public string TypeId => Type.Id;
    public string LineId => Line.Id;
    public MachineState State { get; private protected set; }
    public double EnergyKwh => _energyKwh;

    /// <summary>Tags in emission order (index i of <see cref="Values"/>).</summary>
    public IReadOnlyList<SimTag> Tags => _tags;

    /// <summary>Current severity in [0, 1] of a fault kind on this machine (0 when none is active).</summary>
    public double Severity(FaultKind kind) => _severity[(int)kind];

    internal PlantLine Line { get; set; } = null!;

    /// <summary>0: producing machines, 1: utilities that follow the line, 2: meters that sum the line.</summary>
    internal virtual int Phase => 0;

    private protected double[] Values { get; }
    private protected SimRandom Noise { get; }
    private protected double PowerKw { get; set; }
    private protected bool Produces { get; }
    private protected virtual bool FollowsShift => true;
    private protected virtual bool HasShortStops => true;
    private protected virtual double BreakdownMeanDays => 8;
    private protected abstract FaultKind[] SeededFaults { get; }

    internal int TagCount => _tags.Length;

    internal double CurrentPowerKw => PowerKw;

    internal void Initialise(long startNs, GroundTruthLog log)
    {
        _log = log;
        _startNs = startNs;
        _nextStopNs = startNs + (long)(_stopRng.Exponential(2.5) * NsPerHour);
        _nextBreakdownNs = double.IsPositiveInfinity(BreakdownMeanDays)
            ? long.MaxValue
            : startNs + (long)(_faultRng.Exponential(BreakdownMeanDays) * NsPerDay);
        if (SeededFaults.Length > 0)
        {
            ScheduleNextFault(startNs + (long)(_faultRng.Uniform(0.5, 60) * NsPerHour));
        }
    }

    internal void Advance(long t)
    {
        double dt = 0;
        if (_started)
        {
            dt = (t - _lastNs) * 1e-9;
        }

        _started = true;
        _lastNs = t;
        UpdateFaults(t);
        UpdateState(t);
        Simulate(dt, t);
        _energyKwh += PowerKw * dt / 3600.0;
    }

    internal void Emit(long t, List<Sample> output)
    {
        Values[StateTag] = (int)State;
        Values[PowerTag] = PowerKw;
        Values[EnergyTag] = _energyKwh;
        if (Produces)
        {
            Values[GoodTag] = _good;
            Values[ScrapTag] = _scrap;
        }

        SimTag[] tags = _tags;
        string[] keys = _keys;
        double[] values = Values;
        for (int i = 0; i < tags.Length; i++)
        {
            SimTag tag = tags[i];
            TagValue v = tag.Kind == ValueKind.Int64
                ? TagValue.FromInt64((long)Math.Round(values[i]))
                : TagValue.FromDouble(tag.Quantise(values[i]));
            output.Add(new Sample(keys[i], t, v));
        }
    }

    internal GroundTruthEvent Inject(FaultKind kind, long timeToFailureNs)
    {
        long now = _started ? _lastNs : _startNs;
        if (kind == FaultKind.Breakdown)
        {
            return StartBreakdown(now, injected: true);
        }

        GroundTruthEvent e = _log.Add(Id, kind, now, injected: true, $"Injected: {Describe(kind)}");
        _faults.Add(new ActiveFault(kind, now, Math.Max(1, timeToFailureNs), e.Id, Seeded: false));
        return e;
    }

    /// <summary>Advances the physics by <paramref name="dt"/> seconds to time <paramref name="t"/> and sets
    /// <see cref="Values"/> (type-specific tags) and <see cref="PowerKw"/>.</summary>
    private protected abstract void Simulate(double dt, long t);

    private protected virtual string Describe(FaultKind kind) => kind switch
    {
        FaultKind.BearingWear => "bearing wear",
        FaultKind.Fouling => "fouling",
        FaultKind.SensorDrift => "sensor drift",
        FaultKind.ToolWear => "abnormal tool wear",
        FaultKind.Leak => "leak",
        FaultKind.HeaterDegradation => "heater degradation",
        _ => "Random breakdown (no precursor)",
    };

    /// <summary>Hours from onset to failure (or to recalibration for drift).</summary>
    private protected virtual (double Min, double Max) DevelopmentHours(FaultKind kind) => kind switch
    {
        FaultKind.ToolWear => (2, 8),
        FaultKind.SensorDrift => (24, 96),
        FaultKind.Fouling => (24, 72),
        _ => (12, 48),
    };

    private protected void CountParts(int parts, double scrapProbability)
    {
        for (int i = 0; i < parts; i++)
        {
            if (Noise.NextDouble() < scrapProbability)
            {
                _scrap++;
            }
            else
            {
                _good++;
            }
        }
    }

    /// <summary>Ambient temperature in the hall, °C: a daily swing peaking mid-afternoon.</summary>
    private protected static double Ambient(long t) => 21.0 + (4.0 * Math.Sin(2 * Math.PI * (SecondOfDay(t) - (9 * 3600)) / 86400.0));

    /// <summary>First-order lag: the exact step response over dt for time constant tau (stable for any dt).</summary>
    private protected static double Lag(double current, double target, double dt, double tau) =>
        target + ((current - target) * Math.Exp(-dt / tau));

    private protected static long SecondOfDay(long t) => (((t / NsPerSecond) % 86400) + 86400) % 86400;

    private protected bool OnShift(long t)
    {
        long s = SecondOfDay(t - _shiftJitterNs);
        return s switch
        {
            < 6 * 3600 => false,
            < (9 * 3600) + (45 * 60) => true,
            < 10 * 3600 => false, // morning break
            < 12 * 3600 => true,
            < (12 * 3600) + (30 * 60) => false, // lunch
            < 18 * 3600 => true,
            < (18 * 3600) + (20 * 60) => false, // shift change
            < 22 * 3600 => true,
            _ => false,
        };
    }

    private void UpdateFaults(long t)
    {
        if (t >= _nextFaultNs)
        {
            long onset = _nextFaultNs;
            FaultKind kind = _nextFaultKind;
            (double min, double max) = DevelopmentHours(kind);
            long duration = (long)(_faultRng.Uniform(min, max) * NsPerHour);
            GroundTruthEvent e = _log.Add(Id, kind, onset, injected: false, Describe(kind));
            _faults.Add(new ActiveFault(kind, onset, duration, e.Id, Seeded: true));
            _nextFaultNs = long.MaxValue;
        }

        Array.Clear(_severity);
        for (int i = _faults.Count - 1; i >= 0; i--)
        {
            ActiveFault f = _faults[i];
            double x = Math.Clamp((double)(t - f.OnsetNs) / f.DurationNs, 0, 1);
            if (f.Kind == FaultKind.SensorDrift)
            {
                if (x >= 1)
                {
                    ClearFault(i, f.OnsetNs + f.DurationNs);
                    continue;
                }

                _severity[(int)f.Kind] = Math.Max(_severity[(int)f.Kind], x);
                continue;
            }

            double s = x * x; // P-F curve: slow at first, accelerating towards failure
            _severity[(int)f.Kind] = Math.Max(_severity[(int)f.Kind], s);
            if (x >= 1 && !f.Failed)
            {
                f.Failed = true;
                _log.SetFailure(f.EventId, f.OnsetNs + f.DurationNs);
                if (!_repairing)
                {
                    _repairing = true;
                    _downUntilNs = t + (long)(_faultRng.Uniform(1, 5) * NsPerHour);
                }
            }
        }
    }

    private void UpdateState(long t)
    {
        if (_repairing && t >= _downUntilNs)
        {
            FinishRepair(_downUntilNs);
        }

        if (!_repairing && t >= _nextBreakdownNs)
        {
            StartBreakdown(t, injected: false);
        }

        if (_repairing)
        {
            State = MachineState.Down;
            return;
        }

        if (FollowsShift && !OnShift(t))
        {
            State = MachineState.Idle;
            if (_nextStopNs < t)
            {
                _nextStopNs = t + (long)(_stopRng.Exponential(2.5) * NsPerHour);
            }

            return;
        }

        if (!HasShortStops)
        {
            State = MachineState.Running;
            return;
        }

        if (t < _stopUntilNs)
        {
            State = _stopState;
            return;
        }

        if (t >= _nextStopNs)
        {
            bool jam = _stopRng.Chance(0.4);
            _stopState = jam ? MachineState.Down : MachineState.Idle;
            double minutes = jam ? _stopRng.Uniform(1, 6) : _stopRng.Uniform(1, 10);
            _stopUntilNs = t + (long)(minutes * NsPerMinute);
            _nextStopNs = _stopUntilNs + (long)(_stopRng.Exponential(2.5) * NsPerHour);
            State = _stopState;
            return;
        }

        State = MachineState.Running;
    }

    private GroundTruthEvent StartBreakdown(long t, bool injected)
    {
        GroundTruthEvent e = _log.Add(Id, FaultKind.Breakdown, t, injected, (injected ? "Injected: " : string.Empty) + Describe(FaultKind.Breakdown));
        e = _log.SetFailure(e.Id, t);
        long repair = (long)(_faultRng.Uniform(20, 120) * NsPerMinute);
        if (_repairing)
        {
            _downUntilNs = Math.Max(_downUntilNs, t + repair);
        }
        else
        {
            _repairing = true;
            _downUntilNs = t + repair;
        }

        _faults.Add(new ActiveFault(FaultKind.Breakdown, t, 1, e.Id, Seeded: false) { Failed = true });
        if (!injected)
        {
            _nextBreakdownNs = _downUntilNs + (long)(_faultRng.Exponential(BreakdownMeanDays) * NsPerDay);
        }

        State = MachineState.Down;
        return e;
    }

    private void FinishRepair(long endNs)
    {
        _repairing = false;
        for (int i = _faults.Count - 1; i >= 0; i--)
        {
            if (_faults[i].Kind != FaultKind.SensorDrift && _faults[i].OnsetNs <= endNs)
            {
                ClearFault(i, endNs);
            }
        }

        _stopUntilNs = long.MinValue;
    }

    private void ClearFault(int index, long endNs)
    {
        ActiveFault f = _faults[index];
        _faults.RemoveAt(index);
        _log.SetEnd(f.EventId, endNs);
        if (f.Seeded)
        {
            ScheduleNextFault(endNs + (long)((6 + _faultRng.Exponential(72)) * NsPerHour));
        }
    }

    private void ScheduleNextFault(long onsetNs)
    {
        FaultKind[] kinds = SeededFaults;
        _nextFaultKind = kinds[(int)(_faultRng.NextDouble() * kinds.Length)];
        _nextFaultNs = onsetNs;
    }

    private sealed record ActiveFault(FaultKind Kind, long OnsetNs, long DurationNs, long EventId, bool Seeded)
    {
        public bool Failed { get; set; }
    }
}

/// <summary>The plant's ground-truth journal. Guarded by the factory's lock.</summary>
internal sealed class GroundTruthLog
{
    private readonly List<GroundTruthEvent> _events = [];

    public int Count => _events.Count;

    public GroundTruthEvent Add(string machineId, FaultKind kind, long onsetNs, bool injected, string description)
    {
        var e = new GroundTruthEvent(_events.Count, machineId, kind, onsetNs, null, null, injected, description);
        _events.Add(e);
        return e;
    }

    public GroundTruthEvent SetFailure(long id, long failureNs) => _events[(int)id] = _events[(int)id] with { FailureNs = failureNs };

    public void SetEnd(long id, long endNs) => _events[(int)id] = _events[(int)id] with { EndNs = endNs };

    public GroundTruthEvent[] Snapshot() => [.. _events];
}

/// <summary>A production line: the machines on it and what its utilities and meter need to know.</summary>
internal sealed class PlantLine(string id)
{
    public string Id { get; } = id;
    public List<Machine> Machines { get; } = [];

    /// <summary>Fraction of the line's producing machines running at the current step.</summary>
    public double RunningFraction { get; set; }
}
