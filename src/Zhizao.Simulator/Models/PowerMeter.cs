using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>
/// A three-phase power meter on a line's feeder: it measures the sum of the line's machines plus building load.
/// Sensor drift on the phase-1 current transformer shows in current_l1 and in the computed power.
/// </summary>
internal sealed class PowerMeter : Machine
{
    private const int V1 = 3, V2 = 4, V3 = 5, I1 = 6, I2 = 7, I3 = 8, PowerFactor = 9, Frequency = 10;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: false, maxPowerKw: 2000),
        F("voltage_l1", "V", 0, 300, 1, "Phase 1 voltage, line to neutral"),
        F("voltage_l2", "V", 0, 300, 1, "Phase 2 voltage, line to neutral"),
        F("voltage_l3", "V", 0, 300, 1, "Phase 3 voltage, line to neutral"),
        F("current_l1", "A", 0, 3000, 1, "Phase 1 current"),
        F("current_l2", "A", 0, 3000, 1, "Phase 2 current"),
        F("current_l3", "A", 0, 3000, 1, "Phase 3 current"),
        F("power_factor", null, 0, 1, 3, "True power factor"),
        F("frequency", "Hz", 45, 55, 2, "Grid frequency"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "power-meter", "Power meter", "Three-phase feeder power meter (class 0.5S)", TagList);

    private readonly double[] _imbalance = new double[3];
    private double _voltWalk, _freqWalk;

    public PowerMeter(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        for (int i = 0; i < 3; i++)
        {
            _imbalance[i] = Noise.Uniform(-0.03, 0.03);
        }
    }

    internal override int Phase => 2;
    private protected override bool FollowsShift => false;
    private protected override bool HasShortStops => false;
    private protected override double BreakdownMeanDays => double.PositiveInfinity;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.SensorDrift => "Phase 1 current transformer drift (reads high)",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double load = 0;
        foreach (Machine m in Line.Machines)
        {
            if (!ReferenceEquals(m, this))
            {
                load += m.CurrentPowerKw;
            }
        }

        bool daytime = SecondOfDay(t) is >= 6 * 3600 and < 22 * 3600;
        load += (daytime ? 18 : 7) + (0.3 * Noise.Gaussian()); // lighting, HVAC, offices

        double sdt = Math.Sqrt(Math.Min(dt, 600));
        _voltWalk = Math.Clamp(_voltWalk + (0.05 * sdt * Noise.Gaussian()), -4, 4);
        _freqWalk = Math.Clamp(_freqWalk + (0.002 * sdt * Noise.Gaussian()), -0.08, 0.08);
        double pf = Math.Clamp(0.80 + (0.12 * Math.Min(1, load / 400)) + (0.002 * Noise.Gaussian()), 0, 1);
        double ctGain = 1 + (0.08 * Severity(FaultKind.SensorDrift));
        double measuredKw = 0;
        for (int i = 0; i < 3; i++)
        {
            double v = 231 + _voltWalk - (0.004 * load) + (1.2 * _imbalance[i] * 10) + (0.05 * Noise.Gaussian());
            double current = load * 1000 / 3 / (v * pf) * (1 + _imbalance[i]);
            if (i == 0)
            {
                current *= ctGain;
            }

            Values[V1 + i] = v;
            Values[I1 + i] = current;
            measuredKw += v * current * pf / 1000;
        }

        State = measuredKw > 10 ? MachineState.Running : MachineState.Idle;
        PowerKw = measuredKw;
        Values[PowerFactor] = pf;
        Values[Frequency] = 50 + _freqWalk;
    }
}
