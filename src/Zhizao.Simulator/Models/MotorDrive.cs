using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>An induction motor on a variable-frequency drive turning a fan (torque ∝ speed²).</summary>
internal sealed class MotorDrive : Machine
{
    private const int Speed = 3, Torque = 4, MotorCurrent = 5, WindingTemp = 6, Vibration = 7;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: false, maxPowerKw: 60),
        F("speed", "rpm", 0, 3000, 0, "Shaft speed"),
        F("torque", "N·m", 0, 500, 1, "Shaft torque (drive estimate)"),
        F("motor_current", "A", 0, 150, 1, "Motor current"),
        F("winding_temp", "°C", 0, 180, 1, "Stator winding temperature (PT100)"),
        F("vibration_rms", "mm/s", 0, 50, 2, "Motor vibration velocity RMS"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "motor-drive", "Motor / drive", "30 kW induction motor on a VFD driving an extraction fan", TagList);

    private readonly double _ratedRpm, _ratedTorque;
    private double _speed, _windingTemp = 40, _speedWalk;

    public MotorDrive(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        _ratedRpm = 1480;
        _ratedTorque = Noise.Uniform(150, 190);
    }

    internal override int Phase => 1;
    private protected override bool HasShortStops => false;
    private protected override double BreakdownMeanDays => 12;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.BearingWear, FaultKind.Fouling, FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.BearingWear => "Motor non-drive-end bearing wear",
        FaultKind.Fouling => "Blocked motor cooling (fan cowl clogged), windings run hot",
        FaultKind.SensorDrift => "Winding PT100 drift",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double bearing = Severity(FaultKind.BearingWear);
        double fouling = Severity(FaultKind.Fouling);
        bool running = State == MachineState.Running;
        _speedWalk = Math.Clamp(_speedWalk + (0.01 * Math.Sqrt(Math.Min(dt, 600)) * Noise.Gaussian()), -0.12, 0.0);
        double target = running ? _ratedRpm * (0.88 + _speedWalk) * (0.7 + (0.3 * Line.RunningFraction)) : 0;
        _speed = Lag(_speed, target, dt, 4);
        if (_speed < 1)
        {
            _speed = 0;
        }

        double n = _speed / _ratedRpm;
        double torque = _speed > 0 ? (_ratedTorque * n * n * (1 + (0.02 * Noise.Gaussian()))) + (12 * bearing) : 0;
        double mechKw = torque * _speed * 2 * Math.PI / 60 / 1000;
        PowerKw = _speed > 0 ? (mechKw / 0.93) + 0.3 : (State == MachineState.Idle ? 0.08 : 0.02);
        double ratedCurrent = 55;
        double current = _speed > 0 ? Math.Sqrt(Math.Pow(0.3 * ratedCurrent, 2) + Math.Pow(PowerKw * 1000 / (Math.Sqrt(3) * 400 * 0.9), 2)) : 0;
        double ambient = Ambient(t);
        double rise = (70 * Math.Pow(current / ratedCurrent, 2) * (1 + (0.6 * fouling))) + (8 * bearing);
        _windingTemp = Lag(_windingTemp, ambient + rise, dt, 1500);
        double vib = _speed > 0 ? 0.8 + (0.5 * n) + (7 * (bearing * Math.Sqrt(bearing))) : 0.03;

        Values[Speed] = _speed;
        Values[Torque] = torque;
        Values[MotorCurrent] = current + (_speed > 0 ? 0.05 * Noise.Gaussian() : 0);
        Values[WindingTemp] = _windingTemp + (10 * Severity(FaultKind.SensorDrift)) + (0.04 * Noise.Gaussian());
        Values[Vibration] = vib + (0.02 * Math.Abs(Noise.Gaussian()));
    }
}
