using Zhizao.Core;
using static Zhizao.Simulator.Tests.SimHelpers;

namespace Zhizao.Simulator.Tests;

public class FaultTests
{
    [Fact]
    public void Seeded_faults_are_recorded_with_onset_before_failure_and_repair()
    {
        var f = VirtualFactory.CreateDefault(21, Monday);
        Run(f, Monday, Monday + (5 * Day), Minute, (_, _) => { });
        IReadOnlyList<GroundTruthEvent> truth = f.GroundTruth;
        Assert.Contains(truth, e => e.Kind == FaultKind.BearingWear);
        Assert.True(truth.Select(e => e.Kind).Distinct().Count() >= 5);
        foreach (GroundTruthEvent e in truth)
        {
            Assert.False(e.Injected);
            Assert.Contains(f.Machines, m => m.Id == e.MachineId);
            Assert.InRange(e.OnsetNs, Monday, Monday + (5 * Day));
            if (e.FailureNs is long failure)
            {
                Assert.NotEqual(FaultKind.SensorDrift, e.Kind);
                Assert.True(e.Kind == FaultKind.Breakdown ? failure == e.OnsetNs : failure > e.OnsetNs, e.ToString());
            }

            if (e.EndNs is long end)
            {
                Assert.True(end >= (e.FailureNs ?? e.OnsetNs), e.ToString());
            }
        }

        Assert.Contains(truth, e => e.Kind != FaultKind.Breakdown && e.FailureNs is not null && e.EndNs is not null);
    }

    [Fact]
    public void Ground_truth_does_not_depend_on_the_sample_rate()
    {
        static string[] Onsets(long step)
        {
            var f = VirtualFactory.CreateDefault(23, Monday);
            Run(f, Monday, Monday + (2 * Day), step, (_, _) => { });
            return [.. f.GroundTruth.Where(e => e.Kind != FaultKind.Breakdown).Select(e => $"{e.MachineId} {e.Kind} {e.OnsetNs}").Take(5)];
        }

        string[] coarse = Onsets(Minute);
        Assert.NotEmpty(coarse);
        Assert.Equal(coarse, Onsets(10 * Second));
    }

    [Fact]
    public void Bearing_wear_raises_vibration_after_onset_before_failure()
    {
        var f = VirtualFactory.CreateDefault(25, Monday);
        long step = 30 * Second;
        var series = Collect(f, Monday, Monday + (6 * Day), step, k => k.EndsWith("/vibration_rms", StringComparison.Ordinal) || k.EndsWith("/state", StringComparison.Ordinal));
        GroundTruthEvent[] failures = [.. f.GroundTruth.Where(e => e.Kind == FaultKind.BearingWear && e.FailureNs is not null)];
        Assert.NotEmpty(failures);
        int compared = 0;
        foreach (GroundTruthEvent e in failures)
        {
            long onset = e.OnsetNs, failure = e.FailureNs!.Value;
            Assert.True(onset < failure);
            List<(long T, double V)> vib = series[e.MachineId + "/vibration_rms"];
            List<(long T, double V)> state = series[e.MachineId + "/state"];

            // compare like with like: vibration while running, before onset vs the last quarter before failure
            double[] before = Running(vib, state, onset - (12 * Hour), onset);
            double[] late = Running(vib, state, failure - ((failure - onset) / 4), failure);
            if (before.Length < 30 || late.Length < 30)
            {
                continue; // not enough running time in a window (nights, breaks)
            }

            compared++;
            double t = WelchT(late, before);
            Assert.True(late.Average() > before.Average() + 0.5 && t > 5,
                $"{e.MachineId}: vibration {before.Average():0.00} mm/s before onset, {late.Average():0.00} mm/s before failure (t = {t:0.0})");
        }

        Assert.True(compared > 0, "no bearing failure had enough running time to compare");

        static double[] Running(List<(long T, double V)> vib, List<(long T, double V)> state, long from, long to) =>
            [.. vib.Where((p, i) => p.T >= from && p.T < to && state[i].V == 2).Select(p => p.V)];
    }

    [Fact]
    public void A_failure_stops_the_machine_until_repaired()
    {
        var f = VirtualFactory.CreateDefault(27, Monday);
        var states = Collect(f, Monday, Monday + (5 * Day), Minute, k => k.EndsWith("/state", StringComparison.Ordinal));
        GroundTruthEvent[] repaired = [.. f.GroundTruth.Where(e => e.FailureNs is not null && e.EndNs is not null && e.EndNs - e.FailureNs > 3 * Minute)];
        Assert.NotEmpty(repaired);
        foreach (GroundTruthEvent e in repaired)
        {
            List<(long T, double V)> s = states[e.MachineId + "/state"];
            double[] during = [.. s.Where(p => p.T >= e.FailureNs + Minute && p.T < e.EndNs).Select(p => p.V)];
            Assert.All(during, v => Assert.Equal(0, v));
        }
    }

    [Fact]
    public void Injected_bearing_wear_shows_in_vibration_and_ground_truth()
    {
        var baseline = VirtualFactory.CreateDefault(31, Monday + (8 * Hour));
        var faulty = VirtualFactory.CreateDefault(31, Monday + (8 * Hour));
        long start = baseline.StartNs;
        baseline.Step(start, []);
        faulty.Step(start, []);
        GroundTruthEvent injected = faulty.InjectFault("l1-pump-01", FaultKind.BearingWear, TimeSpan.FromHours(2));
        Assert.True(injected.Injected);
        Assert.Equal(start, injected.OnsetNs);

        static double LateVibration(VirtualFactory f, long start)
        {
            var s = Collect(f, start + Second, start + (80 * Minute), Second, k => k == "l1-pump-01/vibration_rms");
            return s["l1-pump-01/vibration_rms"].Where(p => p.T >= start + (65 * Minute) && p.V > 0.5).Average(p => p.V);
        }

        double normal = LateVibration(baseline, start);
        double worn = LateVibration(faulty, start);
        Assert.True(worn > normal + 1.0, $"vibration {worn} mm/s with injected wear vs {normal} mm/s without");
        Assert.Contains(faulty.GroundTruth, e => e.Id == injected.Id && e.MachineId == "l1-pump-01" && e.Injected);
        Assert.True(faulty.GetMachine("l1-pump-01").Severity(FaultKind.BearingWear) > 0.3);
    }

    [Fact]
    public void Injected_breakdown_takes_the_machine_down_at_once()
    {
        var f = VirtualFactory.CreateDefault(33, Monday + (8 * Hour));
        f.Step(f.StartNs, []);
        GroundTruthEvent e = f.InjectFault("l2-imm-02", FaultKind.Breakdown);
        Assert.Equal(e.OnsetNs, e.FailureNs);
        var samples = new List<Sample>();
        f.Step(f.StartNs + Second, "l2-imm-02", samples);
        Assert.Equal(0, samples.Single(s => s.SeriesKey == "l2-imm-02/state").Value.AsInt64);
        Assert.Equal(MachineState.Down, f.GetMachine("l2-imm-02").State);
    }

    [Fact]
    public void Injected_fault_runs_to_failure_and_is_repaired()
    {
        var f = VirtualFactory.CreateDefault(35, Monday + (8 * Hour));
        f.Step(f.StartNs, []);
        GroundTruthEvent e = f.InjectFault("l1-comp-01", FaultKind.Fouling, TimeSpan.FromMinutes(30));
        Run(f, f.StartNs + Minute, f.StartNs + (8 * Hour), Minute, (_, _) => { });
        GroundTruthEvent done = f.GroundTruth.Single(x => x.Id == e.Id);
        Assert.Equal(e.OnsetNs + (30 * Minute), done.FailureNs);
        Assert.NotNull(done.EndNs);
        Assert.True(done.EndNs > done.FailureNs);
    }

    private static double WelchT(double[] a, double[] b)
    {
        double ma = a.Average(), mb = b.Average();
        double va = a.Sum(x => (x - ma) * (x - ma)) / (a.Length - 1);
        double vb = b.Sum(x => (x - mb) * (x - mb)) / (b.Length - 1);
        return (ma - mb) / Math.Sqrt((va / a.Length) + (vb / b.Length) + 1e-12);
    }
}
