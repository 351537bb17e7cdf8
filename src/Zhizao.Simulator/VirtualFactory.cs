using Zhizao.Core;
using Zhizao.Simulator.Models;

namespace Zhizao.Simulator;

/// <summary>
/// A simulated plant: an ISA-95 asset tree and the machines on it. <see cref="Step"/> advances every machine to a
/// timestamp and appends one quantised <see cref="Sample"/> per tag per machine. Deterministic: the same seed and the
/// same step times give identical samples; every machine draws from its own streams (derived from the seed and its
/// id), so adding a machine does not perturb the others. Thread-safe: steps, injections and ground-truth reads are
/// serialised by one lock.
/// </summary>
public sealed class VirtualFactory
{
    private readonly Lock _gate = new();
    private readonly Machine[] _machines;
    private readonly Machine[] _stepOrder;
    private readonly PlantLine[] _lines;
    private readonly Dictionary<string, Machine> _byId;
    private readonly GroundTruthLog _log = new();
    private bool _started;

    private VirtualFactory(int seed, long startNs, IReadOnlyList<Asset> assets, Machine[] machines, PlantLine[] lines)
    {
        Seed = seed;
        StartNs = startNs;
        CurrentNs = startNs;
        Assets = assets;
        _machines = machines;
        _lines = lines;
        _stepOrder = [.. machines.OrderBy(m => m.Phase)];
        _byId = machines.ToDictionary(m => m.Id, StringComparer.Ordinal);
        foreach (Machine m in machines)
        {
            m.Initialise(startNs, _log);
        }

        SamplesPerStep = machines.Sum(m => m.TagCount);
        Types = [.. EquipmentCatalog.Types.Where(t => machines.Any(m => m.TypeId == t.Id))];
    }

    public int Seed { get; }
    public long StartNs { get; }

    /// <summary>Time of the last step (or <see cref="StartNs"/> before the first).</summary>
    public long CurrentNs { get; private set; }

    /// <summary>The full asset tree, parents before children: enterprise, site, area, lines, cells, equipment.</summary>
    public IReadOnlyList<Asset> Assets { get; }

    /// <summary>The equipment types used by this plant.</summary>
    public IReadOnlyList<EquipmentType> Types { get; }

    public IReadOnlyList<Machine> Machines => _machines;

    /// <summary>How many samples one <see cref="Step"/> appends (one per tag per machine).</summary>
    public int SamplesPerStep { get; }

    /// <summary>
    /// The demo plant: enterprise → site → area → 2 lines → cells → 24 machines of all 8 types. Line 1 machines metal
    /// (6 CNC, heat-treatment furnace), line 2 moulds plastic (4 injection moulding machines, annealing oven);
    /// each line has conveyors, an extraction fan drive, cooling-water pumps, a compressor and a feeder meter.
    /// Two shifts, 06:00–22:00 UTC with breaks; seeded faults start within the first 60 hours.
    /// </summary>
    public static VirtualFactory CreateDefault(int seed, long startNs)
    {
        ulong s = SimRandom.Derive((ulong)(uint)seed, "zhizao-plant");
        var assets = new List<Asset>
        {
            new() { Id = "demo-enterprise", Name = "Zhizao Demo Manufacturing", Level = AssetLevel.Enterprise },
            new() { Id = "demo-site", Name = "Suzhou plant", Level = AssetLevel.Site, ParentId = "demo-enterprise" },
            new() { Id = "production", Name = "Production hall", Level = AssetLevel.Area, ParentId = "demo-site" },
        };
        var machines = new List<Machine>();
        var lines = new List<PlantLine>();

        PlantLine line = AddLine("line-1", "Line 1 — machining");
        AddCell("l1-machining", "Machining cell",
            [.. Enumerable.Range(1, 6).Select(i => (Machine)new CncMachine($"l1-cnc-{i:00}", $"CNC machining centre {i}", s))]);
        AddCell("l1-handling", "Material handling",
            new Conveyor("l1-conv-01", "Part conveyor", s),
            new MotorDrive("l1-drive-01", "Mist extraction fan drive", s));
        AddCell("l1-heat-treat", "Heat treatment", new Oven("l1-oven-01", "Hardening furnace", s, setpoint: 860, zoneKw: 45));
        AddCell("l1-utilities", "Line 1 utilities",
            new Pump("l1-pump-01", "Coolant supply pump", s),
            new AirCompressor("l1-comp-01", "Line 1 air compressor", s),
            new PowerMeter("l1-pm-01", "Line 1 feeder meter", s));

        line = AddLine("line-2", "Line 2 — moulding");
        AddCell("l2-moulding", "Moulding cell",
            [.. Enumerable.Range(1, 4).Select(i => (Machine)new InjectionMouldingMachine($"l2-imm-{i:00}", $"Injection moulding machine {i}", s))]);
        AddCell("l2-handling", "Material handling",
            new Conveyor("l2-conv-01", "Sprue conveyor", s),
            new Conveyor("l2-conv-02", "Part conveyor", s),
            new MotorDrive("l2-drive-01", "Granulator drive", s));
        AddCell("l2-annealing", "Annealing", new Oven("l2-oven-01", "Annealing oven", s, setpoint: 120, zoneKw: 12));
        AddCell("l2-utilities", "Line 2 utilities",
            new Pump("l2-pump-01", "Mould cooling-water pump", s),
            new Pump("l2-pump-02", "Chiller loop pump", s),
            new AirCompressor("l2-comp-01", "Line 2 air compressor", s),
            new PowerMeter("l2-pm-01", "Line 2 feeder meter", s));

        return new VirtualFactory(seed, startNs, assets, [.. machines], [.. lines]);

        PlantLine AddLine(string id, string name)
        {
            assets.Add(new Asset { Id = id, Name = name, Level = AssetLevel.Line, ParentId = "production" });
            var l = new PlantLine(id);
            lines.Add(l);
            return l;
        }

        void AddCell(string id, string name, params Machine[] cellMachines)
        {
            assets.Add(new Asset { Id = id, Name = name, Level = AssetLevel.Cell, ParentId = line.Id });
            foreach (Machine m in cellMachines)
            {
                m.Line = line;
                line.Machines.Add(m);
                machines.Add(m);
                assets.Add(new Asset
                {
                    Id = m.Id,
                    Name = m.Name,
                    Level = AssetLevel.Equipment,
                    ParentId = id,
                    TypeId = m.TypeId,
                    Description = m.Type.Description,
                });
            }
        }
    }

    public Machine GetMachine(string machineId) =>
        _byId.TryGetValue(machineId, out Machine? m) ? m : throw new NotFoundException($"No simulated machine '{machineId}'.");

    /// <summary>
    /// Advances every machine to <paramref name="timestampNs"/> and appends one sample per tag per machine, machine by
    /// machine in <see cref="Machines"/> order. Steps must not go back in time.
    /// </summary>
    public void Step(long timestampNs, List<Sample> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        lock (_gate)
        {
            Advance(timestampNs);
            output.EnsureCapacity(output.Count + SamplesPerStep);
            foreach (Machine m in _machines)
            {
                m.Emit(timestampNs, output);
            }
        }
    }

    /// <summary>Like <see cref="Step"/> but appends only the samples of one machine (all machines still advance).</summary>
    public void Step(long timestampNs, string machineId, List<Sample> output)
    {
        ArgumentNullException.ThrowIfNull(output);
        Machine target = GetMachine(machineId);
        lock (_gate)
        {
            Advance(timestampNs);
            target.Emit(timestampNs, output);
        }
    }

    /// <summary>
    /// Generates history on the fast path: steps from <paramref name="fromNs"/> (inclusive) to <paramref name="toNs"/>
    /// (exclusive) every <paramref name="stepNs"/>, yielding batches of about <paramref name="batchSamples"/> samples
    /// ordered by time. When <paramref name="machineId"/> is given only its samples are yielded, and a producing
    /// machine (CNC, moulding, oven) is stepped on its own, which is much faster; the others catch up on the next step.
    /// This advances the factory itself. The yielded list is REUSED for the next batch: consume or copy it before moving on.
    /// </summary>
    public IEnumerable<IReadOnlyList<Sample>> GenerateHistory(long fromNs, long toNs, long stepNs, string? machineId = null, int batchSamples = 65_536)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(stepNs);
        ArgumentOutOfRangeException.ThrowIfLessThan(toNs, fromNs);
        if (machineId is not null)
        {
            _ = GetMachine(machineId);
        }

        return Generate(fromNs, toNs, stepNs, machineId, Math.Max(1, batchSamples));
    }

    /// <summary>
    /// Starts a fault on a machine now (at its last step). It develops over <paramref name="timeToFailure"/> (default
    /// one hour; severity grows as the square of elapsed time) and then stops the machine, like a seeded fault.
    /// <see cref="FaultKind.Breakdown"/> stops the machine at once.
    /// </summary>
    public GroundTruthEvent InjectFault(string machineId, FaultKind kind, TimeSpan? timeToFailure = null)
    {
        Machine m = GetMachine(machineId);
        long ns = (long)(timeToFailure ?? TimeSpan.FromHours(1)).TotalNanoseconds;
        lock (_gate)
        {
            return m.Inject(kind, ns);
        }
    }

    /// <summary>A snapshot of every fault onset, failure and repair recorded so far, in onset-recording order.</summary>
    public IReadOnlyList<GroundTruthEvent> GroundTruth
    {
        get
        {
            lock (_gate)
            {
                return _log.Snapshot();
            }
        }
    }

    private IEnumerable<IReadOnlyList<Sample>> Generate(long fromNs, long toNs, long stepNs, string? machineId, int batchSamples)
    {
        Machine? only = machineId is null ? null : GetMachine(machineId);
        int perStep = only?.TagCount ?? SamplesPerStep;
        var batch = new List<Sample>(Math.Max(batchSamples, perStep) + perStep);
        for (long t = fromNs; t < toNs; t += stepNs)
        {
            if (only is null)
            {
                Step(t, batch);
            }
            else if (only.Phase == 0)
            {
                StepAlone(only, t, batch);
            }
            else
            {
                Step(t, only.Id, batch);
            }

            if (batch.Count + perStep > batchSamples)
            {
                yield return batch;
                batch.Clear();
            }
        }

        if (batch.Count > 0)
        {
            yield return batch;
        }
    }

    /// <summary>A producing machine depends on no other, so it can be stepped on its own (the rest catch up later).</summary>
    private void StepAlone(Machine machine, long t, List<Sample> output)
    {
        lock (_gate)
        {
            CheckForward(t);
            _started = true;
            CurrentNs = t;
            machine.Advance(t);
            machine.Emit(t, output);
        }
    }

    private void CheckForward(long t)
    {
        if (_started && t < CurrentNs)
        {
            throw new ArgumentOutOfRangeException(nameof(t), $"Step time {t} is before the last step {CurrentNs}; the simulation only moves forward.");
        }
    }

    private void Advance(long t)
    {
        CheckForward(t);

        _started = true;
        CurrentNs = t;
        Machine[] order = _stepOrder;
        int i = 0;
        for (int phase = 0; phase <= 2; phase++)
        {
            for (; i < order.Length && order[i].Phase == phase; i++)
            {
                order[i].Advance(t);
            }

            if (phase == 0)
            {
                foreach (PlantLine line in _lines)
                {
                    int producers = 0, running = 0;
                    foreach (Machine m in line.Machines)
                    {
                        if (m.Phase == 0)
                        {
                            producers++;
                            running += m.State == MachineState.Running ? 1 : 0;
                        }
                    }

                    line.RunningFraction = producers == 0 ? 0 : (double)running / producers;
                }
            }
        }
    }
}
