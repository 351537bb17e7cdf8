using Zhizao.Core;
using static Zhizao.Simulator.SimTag;

namespace Zhizao.Simulator.Models;

/// <summary>
/// A continuous electric furnace with three zones, each a first-order thermal plant under a PI controller acting on
/// the measured (possibly drifting) temperature. Trays exit at a steady pace while running.
/// </summary>
internal sealed class Oven : Machine
{
    private const int Zone1 = 5, Zone2 = 6, Zone3 = 7, Setpoint = 8, HeaterDuty = 9;

    internal static readonly SimTag[] TagList =
    [
        .. Common(producer: true, maxPowerKw: 200),
        F("zone1_temp", "°C", 0, 1200, 1, "Zone 1 temperature (thermocouple)"),
        F("zone2_temp", "°C", 0, 1200, 1, "Zone 2 temperature (thermocouple)"),
        F("zone3_temp", "°C", 0, 1200, 1, "Zone 3 temperature (thermocouple)"),
        F("setpoint", "°C", 0, 1200, 0, "Process temperature setpoint"),
        F("heater_duty", "%", 0, 100, 1, "Mean heater duty over the zones"),
    ];

    internal static readonly EquipmentType Definition = Build(
        "oven", "Industrial oven / furnace", "Continuous electric furnace, three PID-controlled zones", TagList);

    private static readonly double[] ZoneLoad = [2.0, 1.0, 0.5]; // the entry zone heats the cold trays
    private static readonly double[] ZoneTau = [0.85, 1.0, 1.15];
    private readonly double _setpoint, _zoneKw, _tau, _gainK, _kp, _ki, _trayS, _fanKw;
    private readonly double[] _temp = new double[3];
    private readonly double[] _integral = new double[3];
    private readonly double[] _duty = new double[3];
    private double _progress;

    public Oven(string id, string name, ulong seed, double setpoint, double zoneKw) : base(id, name, Definition, TagList, seed)
    {
        _setpoint = setpoint;
        _zoneKw = zoneKw;
        _tau = Noise.Uniform(1800, 2700);
        _gainK = (setpoint - 20) / 0.72; // K per unit duty: about 72 % duty holds setpoint while loaded
        _kp = 2.0 / _gainK;
        _ki = _kp / (_tau / 2);
        _trayS = Noise.Uniform(90, 150);
        _fanKw = zoneKw * 0.06;
        for (int i = 0; i < 3; i++)
        {
            _temp[i] = setpoint;
            _integral[i] = 0.7;
        }
    }

    private protected override bool HasShortStops => false;
    private protected override FaultKind[] SeededFaults { get; } = [FaultKind.HeaterDegradation, FaultKind.SensorDrift];

    private protected override string Describe(FaultKind kind) => kind switch
    {
        FaultKind.HeaterDegradation => "Zone 2 heating element degradation, ending in burnout",
        FaultKind.SensorDrift => "Zone 1 thermocouple drift (reads high, true temperature sags)",
        _ => base.Describe(kind),
    };

    private protected override void Simulate(double dt, long t)
    {
        double heater = Severity(FaultKind.HeaterDegradation);
        double drift = 15 * Severity(FaultKind.SensorDrift);
        double ambient = Ambient(t);
        bool powered = State != MachineState.Down;
        double load = State == MachineState.Running ? 0.04 : 0; // trays absorb heat
        double remaining = dt;
        while (remaining > 0)
        {
            double h = Math.Min(remaining, 10);
            remaining -= h;
            for (int i = 0; i < 3; i++)
            {
                double measured = _temp[i] + (i == 0 ? drift : 0);
                double e = _setpoint - measured;
                double u = 0;
                if (powered)
                {
                    // conditional integration (anti-windup): do not integrate further into saturation
                    double raw = (_kp * e) + _integral[i];
                    if (!((raw >= 1 && e > 0) || (raw <= 0 && e < 0)))
                    {
                        _integral[i] = Math.Clamp(_integral[i] + (_ki * e * h), 0, 1);
                    }

                    u = Math.Clamp((_kp * e) + _integral[i], 0, 1);
                }

                _duty[i] = u;
                double efficiency = i == 1 ? 1 - (0.4 * heater) : 1;
                double steady = ambient + (_gainK * ((u * efficiency) - (load * ZoneLoad[i])));
                _temp[i] = Lag(_temp[i], steady, h, _tau * ZoneTau[i]);
            }
        }

        if (State == MachineState.Running)
        {
            _progress += dt / _trayS;
            int trays = (int)_progress;
            _progress -= trays;
            double worst = 0;
            for (int i = 0; i < 3; i++)
            {
                worst = Math.Max(worst, Math.Abs(_temp[i] - _setpoint));
            }

            CountParts(trays, 0.01 + (0.8 * Math.Clamp((worst - (0.006 * _setpoint)) / (0.02 * _setpoint), 0, 1)));
        }

        double dutySum = _duty[0] + _duty[1] + _duty[2];
        PowerKw = (_zoneKw * dutySum) + (powered ? _fanKw : 0) + (powered ? 0.05 * Noise.Gaussian() : 0);
        PowerKw = Math.Max(0, PowerKw);
        Values[Zone1] = _temp[0] + drift + (0.06 * Noise.Gaussian());
        Values[Zone2] = _temp[1] + (0.06 * Noise.Gaussian());
        Values[Zone3] = _temp[2] + (0.06 * Noise.Gaussian());
        Values[Setpoint] = _setpoint;
        Values[HeaterDuty] = dutySum / 3 * 100;
    }
}
