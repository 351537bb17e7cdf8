using System.Globalization;
using Zhizao.Core;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class SignalTests
{
    [Theory]
    [InlineData(1, Second, 2 * Hour)]
    [InlineData(5, 10 * Second, 2 * Day)]
    [InlineData(8, 100 * Time.NanosPerMillisecond, 20 * Minute)]
    public void Every_sample_is_within_its_range_and_quantised_to_its_resolution(int seed, long step, long span)
    {
        var f = VirtualFactory.CreateDefault(seed, Monday + (5 * Hour));
        var tags = new Dictionary<string, SimTag>(StringComparer.Ordinal);
        foreach (Machine m in f.Machines)
        {
            foreach (SimTag t in m.Tags)
            {
                tags[SeriesKey.ForTag(m.Id, t.Name)] = t;
            }
        }

        long checkedSamples = 0;
        Run(f, f.StartNs, f.StartNs + span, step, (_, samples) =>
        {
            Assert.Equal(f.SamplesPerStep, samples.Count);
            foreach (Sample s in samples)
            {
                SimTag tag = tags[s.SeriesKey];
                Assert.Equal(tag.Kind, s.Value.Kind);
                double v = s.Value.AsDouble;
                if (v < tag.Low || v > tag.High)
                {
                    Assert.Fail($"{s.SeriesKey} = {v} outside [{tag.Low}, {tag.High}] at {Time.ToIso(s.TimestampNs)}");
                }

                if (tag.Kind == ValueKind.Float64)
                {
                    // the nearest double to a decimal with at most Decimals digits after the point
                    string text = v.ToString("R", CultureInfo.InvariantCulture);
                    int dot = text.IndexOf('.');
                    int digits = dot < 0 ? 0 : text.Length - dot - 1;
                    if (digits > tag.Decimals || text.Contains('E') || v != Math.Round(v * tag.Scale) / tag.Scale)
                    {
                        Assert.Fail($"{s.SeriesKey} = {text} is not quantised to {tag.Resolution}");
                    }
                }

                checkedSamples++;
            }
        });
        Assert.True(checkedSamples >= 1_000_000);
    }

    [Fact]
    public void Resolutions_are_realistic_sensor_resolutions()
    {
        Assert.Equal(1, EquipmentCatalog.Resolution("cnc", "spindle_speed"));
        Assert.Equal(0.1, EquipmentCatalog.Resolution("cnc", "coolant_temp"));
        Assert.Equal(0.01, EquipmentCatalog.Resolution("cnc", "vibration_rms"));
        Assert.Equal(0.01, EquipmentCatalog.Resolution("pump", "discharge_pressure"));
        Assert.Equal(0.1, EquipmentCatalog.Resolution("pump", "motor_current"));
        Assert.Throws<NotFoundException>(() => EquipmentCatalog.Resolution("cnc", "no_such_tag"));
    }

    [Fact]
    public void Quantise_gives_the_double_nearest_the_decimal()
    {
        SimTag temp = EquipmentCatalog.TagsOf("oven").Single(t => t.Name == "zone1_temp");
        Assert.Equal(860.3, temp.Quantise(860.2999999));
        Assert.Equal(0.1, EquipmentCatalog.TagsOf("cnc").Single(t => t.Name == "coolant_temp").Quantise(0.1 + 0.2 - 0.2));
        Assert.Equal(0.0, EquipmentCatalog.TagsOf("cnc").Single(t => t.Name == "coolant_temp").Quantise(-0.04));
        Assert.False(double.IsNegative(EquipmentCatalog.TagsOf("cnc").Single(t => t.Name == "coolant_temp").Quantise(-0.04)));
        Assert.Equal(1200.0, temp.Quantise(5000)); // sensors saturate at their range
    }

    [Fact]
    public void State_machine_produces_running_idle_and_down_over_a_simulated_day()
    {
        var f = VirtualFactory.CreateDefault(7, Monday);
        long step = 5 * Second;
        var states = Collect(f, Monday, Monday + Day, step, k => k.EndsWith("/state", StringComparison.Ordinal));
        var plant = states.Values.SelectMany(l => l).Select(p => (int)p.V).ToHashSet();
        Assert.Equal([0, 1, 2], plant.Order().ToArray());

        List<(long T, double V)> cnc = states["l1-cnc-01/state"];
        foreach (int code in new[] { 0, 1, 2 })
        {
            Assert.Contains(cnc, p => p.V == code);
        }

        // two shifts: night (02:00) is idle for producing machines, mid-morning mostly running
        foreach (string id in f.Machines.Where(m => m.TypeId is "cnc" or "injection-moulding").Select(m => m.Id))
        {
            List<(long T, double V)> s = states[id + "/state"];
            Assert.NotEqual(2, s.Single(p => p.T == Monday + (2 * Hour)).V);
            double runningShare = s.Count(p => p.T >= Monday + (6 * Hour) && p.T < Monday + (22 * Hour) && p.V == 2) / (16.0 * Hour / step);
            Assert.InRange(runningShare, 0.5, 0.99);
        }
    }

    [Fact]
    public void Counters_and_energy_never_decrease()
    {
        var f = VirtualFactory.CreateDefault(11, Monday);
        string[] cumulative = ["/part_count_good", "/part_count_scrap", "/items_count", "/energy_kwh"];
        var series = Collect(f, Monday, Monday + (2 * Day), 5 * Second, k => cumulative.Any(c => k.EndsWith(c, StringComparison.Ordinal)));
        Assert.True(series.Count >= f.Machines.Count + 10);
        foreach ((string key, List<(long T, double V)> points) in series)
        {
            for (int i = 1; i < points.Count; i++)
            {
                if (points[i].V < points[i - 1].V)
                {
                    Assert.Fail($"{key} fell from {points[i - 1].V} to {points[i].V}");
                }
            }

            if (!key.EndsWith("scrap", StringComparison.Ordinal))
            {
                Assert.True(points[^1].V > points[0].V, $"{key} never increased");
            }
        }
    }

    [Fact]
    public void Scrap_is_a_small_fraction_of_production()
    {
        var f = VirtualFactory.CreateDefault(11, Monday);
        var series = Collect(f, Monday, Monday + Day, 5 * Second, k => k.Contains("/part_count_", StringComparison.Ordinal));
        double good = 0, scrap = 0;
        foreach ((string key, List<(long T, double V)> p) in series)
        {
            double d = p[^1].V - p[0].V;
            if (key.EndsWith("good", StringComparison.Ordinal))
            {
                good += d;
            }
            else
            {
                scrap += d;
            }
        }

        Assert.True(good > 1000, $"{good} good parts");
        Assert.InRange(scrap / (good + scrap), 0.002, 0.15);
    }

    [Fact]
    public void Energy_equals_the_integral_of_power()
    {
        var f = VirtualFactory.CreateDefault(13, Monday);
        long step = 2 * Second;
        var series = Collect(f, Monday, Monday + Day, step, k => k.EndsWith("/power_kw", StringComparison.Ordinal) || k.EndsWith("/energy_kwh", StringComparison.Ordinal));
        foreach (Machine m in f.Machines)
        {
            List<(long T, double V)> power = series[m.Id + "/power_kw"];
            List<(long T, double V)> energy = series[m.Id + "/energy_kwh"];
            double integral = 0;
            for (int i = 1; i < power.Count; i++)
            {
                integral += power[i].V * (power[i].T - power[i - 1].T) / 1e9 / 3600;
            }

            double delta = energy[^1].V - energy[0].V;
            Assert.True(integral > 0.5, $"{m.Id} used {integral} kWh");
            Assert.True(Math.Abs(delta - integral) <= (0.002 * integral) + 0.02, $"{m.Id}: energy rose {delta} kWh, power integrates to {integral} kWh");
        }
    }

    [Fact]
    public void Power_follows_state()
    {
        var f = VirtualFactory.CreateDefault(17, Monday);
        var s = Collect(f, Monday, Monday + Day, 5 * Second, k => k.StartsWith("l1-cnc-02/", StringComparison.Ordinal) || k.StartsWith("l2-imm-01/", StringComparison.Ordinal));
        foreach (string id in new[] { "l1-cnc-02", "l2-imm-01" })
        {
            List<(long T, double V)> state = s[id + "/state"], power = s[id + "/power_kw"];
            double Mean(int code) => Enumerable.Range(0, state.Count).Where(i => state[i].V == code).Average(i => power[i].V);
            Assert.True(Mean(2) > Mean(1) * 1.5, $"{id}: running {Mean(2)} kW vs idle {Mean(1)} kW");
        }
    }

    [Fact]
    public void Oven_zones_hold_setpoint_and_pump_operating_point_is_plausible()
    {
        var f = VirtualFactory.CreateDefault(19, Monday + (8 * Hour));
        var s = Collect(f, f.StartNs, f.StartNs + (2 * Hour), Second, k => k.StartsWith("l1-oven-01/", StringComparison.Ordinal) || k.StartsWith("l1-pump-01/", StringComparison.Ordinal));
        Assert.InRange(s["l1-oven-01/zone2_temp"].Average(p => p.V), 845, 875);
        Assert.InRange(s["l1-oven-01/heater_duty"].Average(p => p.V), 40, 100);
        List<(long T, double V)> flow = s["l1-pump-01/flow"];
        List<(long T, double V)> pressure = s["l1-pump-01/discharge_pressure"];
        Assert.InRange(flow.Where(p => p.V > 1).Average(p => p.V), 60, 200);
        Assert.InRange(pressure.Where((p, i) => flow[i].V > 1).Average(p => p.V), 2, 7);
    }
}
