using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>
/// A centrifugal cooling-water pump: the operating point is where the pump curve H = H0 - aQ² meets the system
/// curve H = Hs + rQ². Fouling (strainer) raises r: flow falls, discharge pressure rises, efficiency falls.
/// </summary>
internal sealed class Pump : Machine
{
    private const int Flow = 3, DischargePressure = 4, Vibration = 5, BearingTemp = 6, MotorCurrent = 7;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: false, maxPowerKw: 60),
        F("flow", "m³/h", 0, 300, 1, "Volumetric flow"),
        F("discharge_pressure", "bar", 0, 16, 2, "Discharge pressure, gauge"),
        F("vibration_rms", "mm/s", 0, 50, 2, "Bearing housing vibration velocity RMS"),
        F("bearing_temp", "°C", 0, 150, 1, "Drive-end bearing temperature"),
        F("motor_current", "A", 0, 150, 1, "Motor current"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "pump", "Centrifugal pump", "End-suction centrifugal pump, cooling water, 22 kW", TagList);

    private const double SuctionBar = 0.6;
    private readonly double _h0, _a, _hs, _r;
    private double _flow, _bearingTemp = 35, _valveWalk;

    public Pump(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        double ratedQ = Noise.Uniform(100, 140);
        _h0 = Noise.Uniform(50, 60);
        double ratedH = _h0 - 15;
        _a = 15 / (ratedQ * ratedQ);
        _hs = Noise.Uniform(10, 18);
        _r = (ratedH - _hs) / (ratedQ * ratedQ);
    }

    internal override int Phase => 1;
    private protected override bool HasShortStops => false;
    private protected override double BreakdownMeanDays => 15;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.BearingWear, FaultKind.Fouling, FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.BearingWear => "Pump drive-end bearing wear",
        FaultKind.Fouling => "Suction strainer / heat-exchanger fouling",
        FaultKind.SensorDrift => "Discharge pressure transmitter drift",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double fouling = Severity(FaultKind.Fouling);
        double bearing = Severity(FaultKind.BearingWear);
        bool running = State == MachineState.Running;

        _valveWalk = Math.Clamp(_valveWalk + (0.01 * Math.Sqrt(Math.Min(dt, 600)) * Noise.Gaussian()), -0.15, 0.15);
        double r = _r * (1 + (2.5 * fouling)) * (1 + _valveWalk);
        double q = running ? Math.Sqrt(Math.Max(0, (_h0 - _hs) / (_a + r))) : 0;
        _flow = Lag(_flow, q, dt, 3);
        double head = running ? Math.Max(0, _h0 - (_a * _flow * _flow)) : 0;
        double pressure = SuctionBar + (head * 0.0981); // ρg / 1e5, water
        double eta = 0.74 * (1 - (0.12 * fouling)) * Math.Clamp(0.4 + (0.6 * _flow / Math.Max(1, q)), 0.4, 1);
        double hydraulicKw = 9.81 * (_flow / 3600) * head / Math.Max(0.2, eta);
        PowerKw = running ? hydraulicKw / 0.93 + (2.2 * bearing) + (0.05 * Noise.Gaussian()) : 0;
        PowerKw = Math.Max(0, PowerKw);
        double current = running ? (PowerKw * 1000 / (Math.Sqrt(3) * 400 * 0.86)) + 6 : 0;

        double ambient = Ambient(t);
        _bearingTemp = Lag(_bearingTemp, running ? ambient + 20 + (30 * bearing) : ambient + 1, dt, 1200);
        double vib = running ? 1.1 + (0.4 * _flow / Math.Max(1, q)) + (9 * (bearing * Math.Sqrt(bearing))) : 0.05;

        Values[Flow] = _flow + (running ? 0.15 * Noise.Gaussian() : 0);
        Values[DischargePressure] = pressure + (0.5 * Severity(FaultKind.SensorDrift)) + (0.003 * Noise.Gaussian());
        Values[Vibration] = vib + (0.03 * Math.Abs(Noise.Gaussian()));
        Values[BearingTemp] = _bearingTemp + (0.04 * Noise.Gaussian());
        Values[MotorCurrent] = current;
    }
}
