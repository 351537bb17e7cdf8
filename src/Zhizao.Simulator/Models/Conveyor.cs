using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>A belt conveyor carrying the line's parts; items arrive at a rate that follows the line's running machines.</summary>
internal sealed class Conveyor : Machine
{
    private const int BeltSpeed = 3, MotorCurrent = 4, Vibration = 5, ItemsCount = 6;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: false, maxPowerKw: 20),
        F("belt_speed", "m/s", 0, 3, 2, "Belt speed"),
        F("motor_current", "A", 0, 50, 1, "Drive motor current"),
        F("vibration_rms", "mm/s", 0, 50, 2, "Drive gearbox vibration velocity RMS"),
        I("items_count", "items", 0, long.MaxValue, "Items counted by the photo-eye (cumulative)"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "conveyor", "Belt conveyor", "Flat belt conveyor with photo-eye counter, 2.2 kW drive", TagList);

    private readonly double _nominalSpeed, _itemsPerSecond;
    private double _speed, _items, _loadWalk;

    public Conveyor(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        _nominalSpeed = Math.Round(Noise.Uniform(0.5, 1.2), 2);
        _itemsPerSecond = Noise.Uniform(0.08, 0.2);
        _items = Math.Round(Noise.Uniform(100_000, 900_000));
    }

    internal override int Phase => 1;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.BearingWear, FaultKind.Fouling];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.BearingWear => "Gearbox / drive roller bearing wear",
        FaultKind.Fouling => "Material build-up on belt and rollers (friction rises, belt slips)",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double bearing = Severity(FaultKind.BearingWear);
        double fouling = Severity(FaultKind.Fouling);
        bool running = State == MachineState.Running;
        _speed = Lag(_speed, running ? _nominalSpeed * (1 - (0.05 * fouling)) : 0, dt, 1.5);
        if (_speed < 0.005)
        {
            _speed = 0;
        }

        if (running)
        {
            _items += Noise.Poisson(_itemsPerSecond * Line.RunningFraction * dt);
        }

        _loadWalk = Math.Clamp(_loadWalk + (0.02 * Math.Sqrt(Math.Min(dt, 600)) * Noise.Gaussian()), -0.3, 0.3);
        double moving = _speed / _nominalSpeed;
        double current = moving > 0 ? (1.8 + (1.6 * moving * (1 + _loadWalk)) + (2.0 * bearing) + (1.8 * fouling)) : 0;
        PowerKw = Math.Max(0, (Math.Sqrt(3) * 400 * current * 0.78 / 1000) + 0.05 + (moving > 0 ? 0.01 * Noise.Gaussian() : 0));
        double vib = moving > 0 ? 0.7 + (0.3 * moving) + (6 * (bearing * Math.Sqrt(bearing))) : 0.04;

        Values[BeltSpeed] = _speed;
        Values[MotorCurrent] = current + (moving > 0 ? 0.03 * Noise.Gaussian() : 0);
        Values[Vibration] = vib + (0.02 * Math.Abs(Noise.Gaussian()));
        Values[ItemsCount] = _items;
    }
}
