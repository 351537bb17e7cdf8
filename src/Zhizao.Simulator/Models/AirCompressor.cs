using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>
/// An oil-injected screw compressor under load/unload control feeding the line's air network. Running = loaded,
/// Idle = unloaded. The network pressure integrates supply minus demand (and leaks).
/// </summary>
internal sealed class AirCompressor : Machine
{
    private const int DischargePressure = 3, DischargeTemp = 4, OilTemp = 5, MotorCurrent = 6, Flow = 7, Vibration = 8;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: false, maxPowerKw: 120),
        F("discharge_pressure", "bar", 0, 10, 2, "Discharge (network) pressure, gauge"),
        F("discharge_temp", "°C", 0, 120, 1, "Air-end discharge temperature"),
        F("oil_temp", "°C", 0, 120, 1, "Oil temperature after cooler"),
        F("motor_current", "A", 0, 250, 1, "Main motor current"),
        F("flow", "m³/min", 0, 20, 2, "Free air delivery"),
        F("vibration_rms", "mm/s", 0, 50, 2, "Motor/air-end vibration velocity RMS"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "air-compressor", "Air compressor", "Oil-injected rotary screw compressor, 75 kW, load/unload control", TagList);

    private const double LoadBar = 6.8, UnloadBar = 7.5, NetworkM3 = 12;
    private readonly double _ratedFlow, _ratedKw;
    private double _pressure = 7.1, _dischargeTemp = 70, _oilTemp = 62, _flow, _demandWalk;
    private bool _loaded;

    public AirCompressor(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        _ratedFlow = Noise.Uniform(11, 13.5);
        _ratedKw = 75;
    }

    internal override int Phase => 1;
    private protected override bool FollowsShift => false;
    private protected override bool HasShortStops => false;
    private protected override double BreakdownMeanDays => 20;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.Leak, FaultKind.Fouling, FaultKind.BearingWear];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.Leak => "Compressed-air leak in the line network",
        FaultKind.Fouling => "Oil/air cooler fouling",
        FaultKind.BearingWear => "Air-end bearing wear",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double leak = Severity(FaultKind.Leak);
        double fouling = Severity(FaultKind.Fouling);
        double bearing = Severity(FaultKind.BearingWear);
        bool available = State != MachineState.Down;

        _demandWalk = Math.Clamp(_demandWalk + (0.02 * Math.Sqrt(Math.Min(dt, 600)) * Noise.Gaussian()), -0.8, 0.8);
        double demand = 1.8 + (7.0 * Line.RunningFraction) + _demandWalk + (4.0 * leak); // m³/min free air
        double remaining = dt;
        while (remaining > 0)
        {
            double h = Math.Min(remaining, 1.0);
            remaining -= h;
            if (available)
            {
                if (_pressure <= LoadBar)
                {
                    _loaded = true;
                }
                else if (_pressure >= UnloadBar)
                {
                    _loaded = false;
                }
            }
            else
            {
                _loaded = false;
            }

            double supply = _loaded ? _ratedFlow : 0;
            double drained = demand * Math.Min(1, _pressure / 3.0); // demand collapses as the network empties
            _pressure = Math.Max(0, _pressure + ((supply - drained) / 60 * h * 1.013 / NetworkM3));
        }

        if (available)
        {
            State = _loaded ? MachineState.Running : MachineState.Idle;
        }

        double ambient = Ambient(t);
        _flow = Lag(_flow, _loaded ? _ratedFlow * (1 - (0.03 * fouling)) : 0, dt, 2);
        double dtTarget = State switch
        {
            MachineState.Running => 78 + (20 * fouling) + (0.3 * (ambient - 20)),
            MachineState.Idle => 62 + (10 * fouling),
            _ => ambient,
        };
        _dischargeTemp = Lag(_dischargeTemp, dtTarget, dt, 120);
        double oilTarget = State switch
        {
            MachineState.Running => 70 + (14 * fouling),
            MachineState.Idle => 58 + (8 * fouling),
            _ => ambient,
        };
        _oilTemp = Lag(_oilTemp, oilTarget, dt, 600);

        double power = State switch
        {
            MachineState.Running => (_ratedKw * (0.93 + (0.07 * (_pressure - LoadBar) / (UnloadBar - LoadBar)))) + (5 * fouling) + (3 * bearing),
            MachineState.Idle => 0.27 * _ratedKw,
            _ => 0.1,
        };
        PowerKw = Math.Max(0, power + (0.2 * Noise.Gaussian()));
        double pf = State == MachineState.Running ? 0.88 : 0.55;
        double current = State == MachineState.Down ? 0 : PowerKw * 1000 / (Math.Sqrt(3) * 400 * pf * 0.95);
        double vib = State == MachineState.Down ? 0.05 : (State == MachineState.Running ? 1.9 : 1.2) + (8 * (bearing * Math.Sqrt(bearing)));

        Values[DischargePressure] = _pressure + (0.004 * Noise.Gaussian());
        Values[DischargeTemp] = _dischargeTemp + (0.05 * Noise.Gaussian());
        Values[OilTemp] = _oilTemp + (0.05 * Noise.Gaussian());
        Values[MotorCurrent] = current;
        Values[Flow] = _flow + (_loaded ? 0.02 * Noise.Gaussian() : 0);
        Values[Vibration] = vib + (0.03 * Math.Abs(Noise.Gaussian()));
    }
}
