using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>A hydraulic injection moulding machine: clamp, inject, hold, cool, eject; three barrel heater zones.</summary>
internal sealed class InjectionMouldingMachine : Machine
{
    private const int Zone1 = 5, Zone2 = 6, Zone3 = 7, MouldTemp = 8, InjectionPressure = 9, ClampForce = 10, CycleTime = 11;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: true, maxPowerKw: 80),
        F("barrel_temp_zone1", "°C", 0, 400, 1, "Barrel temperature, feed zone"),
        F("barrel_temp_zone2", "°C", 0, 400, 1, "Barrel temperature, compression zone"),
        F("barrel_temp_zone3", "°C", 0, 400, 1, "Barrel temperature, metering zone / nozzle"),
        F("mould_temp", "°C", 0, 150, 1, "Mould temperature"),
        F("injection_pressure", "bar", 0, 2500, 0, "Hydraulic injection pressure (specific)"),
        F("clamp_force", "kN", 0, 5000, 0, "Clamp force"),
        F("cycle_time", "s", 0, 120, 2, "Duration of the last completed cycle"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "injection-moulding", "Injection moulding machine", "Hydraulic injection moulding machine, 200 t clamp", TagList);

    private readonly double[] _setpoint = new double[3];
    private readonly double[] _zone = new double[3];
    private readonly double _cycleS, _peakBar, _clampKn, _mouldSp;
    private double _progress, _cycleThis, _lastCycle, _mould, _pressure, _clamp;

    public InjectionMouldingMachine(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        double baseSp = Math.Round(Noise.Uniform(200, 230));
        for (int i = 0; i < 3; i++)
        {
            _setpoint[i] = baseSp + (10 * i);
            _zone[i] = _setpoint[i];
        }

        _cycleS = Noise.Uniform(24, 40);
        _peakBar = Noise.Uniform(900, 1400);
        _clampKn = Math.Round(Noise.Uniform(150, 200)) * 10;
        _mouldSp = Math.Round(Noise.Uniform(40, 60));
        _mould = _mouldSp;
        _cycleThis = _lastCycle = _cycleS;
    }

    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.HeaterDegradation, FaultKind.Leak, FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.HeaterDegradation => "Barrel zone 2 heater band degradation",
        FaultKind.Leak => "Hydraulic leak (injection circuit)",
        FaultKind.SensorDrift => "Mould temperature thermocouple drift",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double heater = Severity(FaultKind.HeaterDegradation);
        double leak = Severity(FaultKind.Leak);
        double ambient = Ambient(t);
        bool heating = State != MachineState.Down;
        double heaterKw = 0;
        double worstDeviation = 0;
        for (int i = 0; i < 3; i++)
        {
            double deficit = i == 1 ? 25 * heater : 0;
            double target = heating ? _setpoint[i] - deficit : ambient;
            _zone[i] = Lag(_zone[i], target, dt, heating ? 500 : 2400);
            double duty = heating ? Math.Clamp(0.35 + (0.015 * (_setpoint[i] - _zone[i])) + (i == 1 ? 0.5 * heater : 0), 0, 1) : 0;
            heaterKw += 6 * duty;
            worstDeviation = Math.Max(worstDeviation, Math.Abs(_setpoint[i] - _zone[i]));
        }

        double hydraulic;
        if (State == MachineState.Running)
        {
            _progress += dt / _cycleThis;
            int parts = 0;
            while (_progress >= 1)
            {
                _progress -= 1;
                parts++;
                _lastCycle = _cycleThis;
                _cycleThis = (_cycleS * (1 + (0.15 * leak))) + (0.15 * Noise.Gaussian());
            }

            CountParts(parts, 0.015 + (0.3 * Math.Clamp((worstDeviation - 5) / 20, 0, 1)) + (0.2 * leak));
            double peak = _peakBar * (1 - (0.2 * leak));
            double p = _progress;
            (double pressure, double clamp, hydraulic) = p switch
            {
                < 0.1 => (0.0, _clampKn * p / 0.1, 0.5),
                < 0.22 => (peak, _clampKn, 0.95),
                < 0.5 => (peak * 0.55, _clampKn, 0.55),
                < 0.9 => (0.0, _clampKn, 0.45), // cooling while the screw recovers
                _ => (0.0, 0.0, 0.3),
            };
            _pressure = pressure > 0 ? pressure + (4 * Noise.Gaussian()) : 0;
            _clamp = clamp > 0 ? clamp + (3 * Noise.Gaussian()) : 0;
            hydraulic *= 1 + (0.25 * leak);
        }
        else
        {
            _pressure = 0;
            _clamp = 0;
            hydraulic = State == MachineState.Idle ? 0.08 : 0;
        }

        double mouldTarget = State == MachineState.Down ? ambient : _mouldSp + (State == MachineState.Running ? 2 : 0);
        _mould = Lag(_mould, mouldTarget, dt, 300);

        PowerKw = Math.Max(0, heaterKw + (30 * hydraulic) + (State == MachineState.Down ? 0.3 : 1.0) + (0.05 * Noise.Gaussian()));
        Values[Zone1] = _zone[0] + (0.05 * Noise.Gaussian());
        Values[Zone2] = _zone[1] + (0.05 * Noise.Gaussian());
        Values[Zone3] = _zone[2] + (0.05 * Noise.Gaussian());
        Values[MouldTemp] = _mould + (6 * Severity(FaultKind.SensorDrift)) + (0.05 * Noise.Gaussian());
        Values[InjectionPressure] = _pressure;
        Values[ClampForce] = _clamp;
        Values[CycleTime] = _lastCycle;
    }
}
