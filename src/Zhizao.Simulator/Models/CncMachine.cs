using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>A vertical machining centre: a part program of clamp, roughing, finishing and unload phases.</summary>
internal sealed class CncMachine : Machine
{
    private const int SpindleSpeed = 5, SpindleLoad = 6, Vibration = 7, CoolantTemp = 8, ToolWearTag = 9;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: true, maxPowerKw: 60),
        F("spindle_speed", "rpm", 0, 24000, 0, "Spindle speed"),
        F("spindle_load", "%", 0, 150, 0, "Spindle load, % of rated torque"),
        F("vibration_rms", "mm/s", 0, 50, 2, "Spindle housing vibration velocity RMS (ISO 10816)"),
        F("coolant_temp", "°C", 0, 80, 1, "Coolant tank temperature"),
        F("tool_wear", "%", 0, 150, 1, "Estimated wear of the active tool, % of tool life"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "cnc", "CNC machining centre", "3-axis vertical machining centre, 18.5 kW spindle", TagList);

    private readonly double _cycleS, _roughRpm, _finishRpm, _ratedKw, _toolLifeParts;
    private double _progress, _speed, _load, _coolant, _toolWear, _cycleThis;

    public CncMachine(string id, string name, ulong seed) : base(id, name, Definition, TagList, seed)
    {
        _cycleS = Noise.Uniform(60, 120);
        _roughRpm = Math.Round(Noise.Uniform(70, 90)) * 100;
        _finishRpm = Math.Round(Noise.Uniform(105, 135)) * 100;
        _ratedKw = 18.5;
        _toolLifeParts = Noise.Uniform(100, 160);
        _toolWear = Noise.Uniform(0, 60);
        _coolant = 24;
        _cycleThis = _cycleS;
    }

    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.BearingWear, FaultKind.ToolWear, FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.BearingWear => "Spindle bearing wear",
        FaultKind.ToolWear => "Abnormal tool wear (chipping), ending in tool breakage",
        FaultKind.SensorDrift => "Coolant temperature sensor drift",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double bearing = Severity(FaultKind.BearingWear);
        double tool = Severity(FaultKind.ToolWear);
        double targetRpm = 0, targetLoad = 0, aux;
        if (State == MachineState.Running)
        {
            _progress += dt / _cycleThis;
            int parts = 0;
            while (_progress >= 1)
            {
                _progress -= 1;
                parts++;
                _toolWear += 100.0 / _toolLifeParts * Noise.Uniform(0.8, 1.2) * (1 + (4 * tool));
                if (_toolWear >= 90 && tool < 0.05)
                {
                    _toolWear = 0; // automatic tool change at end of tool life
                }

                _cycleThis = _cycleS * (1 + (0.01 * Noise.Gaussian()));
            }

            double wearFactor = Math.Max(0, _toolWear - 70) / 30;
            CountParts(parts, 0.008 + (0.05 * wearFactor) + (0.25 * tool) + (0.1 * bearing));

            double p = _progress;
            double wearLoad = 1 + (0.003 * _toolWear);
            (targetRpm, targetLoad) = p switch
            {
                < 0.08 => (0.0, 0.0),
                < 0.5 => (_roughRpm, 58.0 * wearLoad),
                < 0.9 => (_finishRpm, 26.0 * wearLoad),
                _ => (0.0, 0.0),
            };
            aux = 2.6;
        }
        else
        {
            aux = State == MachineState.Idle ? 1.2 : 0.35;
        }

        _speed = Lag(_speed, targetRpm, dt, 0.7);
        if (_speed < 5)
        {
            _speed = 0;
        }

        bool spinning = _speed > 0;
        _load = spinning ? Math.Max(0, targetLoad + (1.2 * Noise.Gaussian()) + (6 * tool)) : 0;
        double spindleKw = spinning ? (_ratedKw * _load / 100 * (0.4 + (0.6 * _speed / 12000))) + 0.4 : 0;
        PowerKw = Math.Max(0, aux + spindleKw + (0.05 * Noise.Gaussian()));

        double vib = spinning ? 0.45 + (_speed / 24000 * 1.3) : 0.12;
        vib += (spinning ? 1.0 : 0.15) * ((7.5 * (bearing * Math.Sqrt(bearing))) + (1.2 * tool) + (0.4 * Math.Pow(_toolWear / 100, 3)));
        vib += 0.03 * Math.Abs(Noise.Gaussian());

        double ambient = Ambient(t);
        double coolantTarget = ambient + State switch
        {
            MachineState.Running => 5 + (0.08 * _load),
            MachineState.Idle => 2,
            _ => 0,
        };
        _coolant = Lag(_coolant, coolantTarget, dt, 900);

        Values[SpindleSpeed] = _speed;
        Values[SpindleLoad] = _load;
        Values[Vibration] = vib;
        Values[CoolantTemp] = _coolant + (8 * Severity(FaultKind.SensorDrift)) + (0.04 * Noise.Gaussian());
        Values[ToolWearTag] = _toolWear;
    }
}
