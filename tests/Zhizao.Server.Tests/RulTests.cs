using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;
using Zhizao.Core;
using Zhizao.Health;
using Zhizao.Simulator;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Server.Tests;

/// <summary>Remaining useful life in the node: trained on run-to-failure histories in the node's own data, checked on later failures.</summary>
public sealed class RulTests(ITestOutputHelper output)
{
    private static readonly long Day = 86_400 * Time.NanosPerSecond;
    private static readonly string[] Pumps = ["l1-pump-01", "l2-pump-01", "l2-pump-02"];

    [Fact]
    public async Task A_model_trained_on_earlier_failures_estimates_the_time_to_later_failures_better_than_knowing_nothing()
    {
        long start = new DateTimeOffset(2026, 10, 1, 0, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;
        long trainEnd = start + (12 * Day), end = start + (17 * Day);
        await using var node = await Node.StartAsync();
        var store = node.Services.GetRequiredService<ITimeSeriesStore>();
        var meta = node.Services.GetRequiredService<MetadataStore>();
        var plant = VirtualFactory.CreateDefault(7, start);
        meta.Import(new AssetModelDocument { Types = [.. plant.Types], Assets = [.. plant.Assets] });
        var truth = new FleetHistory { Seed = 7, MachineIds = Pumps, FromNs = start, ToNs = end }
            .Generate(batch => StoreSamples.WriteAsync(store, [.. batch]).GetAwaiter().GetResult());
        var failures = truth.Where(e => e.FailureNs is not null).ToList();
        output.WriteLine($"{failures.Count} failures in the history: {string.Join("; ", failures.Select(f => $"{f.MachineId} {f.Kind} {Time.ToIso(f.OnsetNs)}→{Time.ToIso(f.FailureNs!.Value)}"))}");

        using var http = node.Http;
        // too short a period: a clear refusal, not a useless model
        var tooShort = await http.PostAsJsonAsync("api/rul/pump/train", new { from = start.ToString(), to = (start + Day).ToString() });
        Assert.Equal(HttpStatusCode.BadRequest, tooShort.StatusCode);
        Assert.Contains("runs to failure", await tooShort.Content.ReadAsStringAsync());

        var trained = await http.PostAsJsonAsync("api/rul/pump/train", new { from = start.ToString(), to = trainEnd.ToString() });
        Assert.Equal(HttpStatusCode.OK, trained.StatusCode);
        var status = await trained.Content.ReadFromJsonAsync<JsonElement>();
        int runs = status.GetProperty("trainingRuns").GetInt32();
        output.WriteLine($"trained on {runs} runs");
        Assert.True(runs >= 6, $"only {runs} runs to failure found in 12 days of 3 pumps");

        var rul = node.Services.GetRequiredService<RulService>();
        double mae = 0, naive = 0, coverage = 0;
        int scored = 0, laterFailures = 0;
        double meanTarget = RulService.CapHours / 2;
        foreach (string pump in Pumps)
        {
            var bt = rul.Backtest(pump, trainEnd, end);
            laterFailures += bt.FailuresNs.Count;
            var points = bt.Points.Where(p => p.TrueHours is { } h && h < RulService.CapHours).ToList();
            output.WriteLine($"{pump}: {bt.FailuresNs.Count} failures after training, {bt.ScoredPoints} cycles scored, MAE {bt.MaeHours} h, coverage {bt.Coverage}");
            foreach (var p in points.Where((_, i) => i % 12 == 0))
            {
                output.WriteLine($"  {Time.ToIso(p.AtNs)} true {p.TrueHours:0.0} h  estimate {p.Hours:0.0} h [{p.LowerHours:0.0}, {p.UpperHours:0.0}]");
            }

            scored += points.Count;
            mae += points.Sum(p => Math.Abs(p.Hours - p.TrueHours!.Value));
            naive += points.Sum(p => Math.Abs(meanTarget - p.TrueHours!.Value));
            coverage += points.Count(p => p.TrueHours >= p.LowerHours - 0.17 && p.TrueHours <= p.UpperHours + 0.17);
        }

        Assert.True(laterFailures >= 2, $"the 5 days after training hold only {laterFailures} failures");
        mae /= scored;
        naive /= scored;
        coverage /= scored;
        output.WriteLine($"held-out failures {laterFailures}, cycles {scored}: MAE {mae:0.00} h vs {naive:0.00} h for a constant {meanTarget} h; band coverage {coverage:P0}");
        Assert.True(mae < 0.7 * naive, $"MAE {mae:0.00} h is not clearly better than a constant guess ({naive:0.00} h)");
        Assert.True(coverage >= 0.5, $"the P10–P90 band holds the truth only {coverage:P0} of the time");

        // the live view: with the last day's data of the pumps, every pump that is running gets an estimate with a band
        // around it; one under repair at the end of the day (1-5 h down after a failure; where the day's failures fall depends on the
        // wall clock) gets none
        long now = Time.NowNs();
        now -= now % (10 * Time.NanosPerSecond);
        new FleetHistory { Seed = 8, MachineIds = Pumps, FromNs = now - Day, ToNs = now }.Generate(batch => StoreSamples.WriteAsync(store, [.. batch]).GetAwaiter().GetResult());
        await rul.EstimateAllAsync(CancellationToken.None);
        var live = await http.GetFromJsonAsync<JsonElement>("api/rul");
        var estimates = live.EnumerateArray().Single(m => m.GetProperty("typeId").GetString() == "pump").GetProperty("estimates")
            .EnumerateArray().ToDictionary(e => e.GetProperty("equipmentId").GetString()!);
        foreach (string pump in Pumps)
        {
            Assert.True(store.TryGetSeries($"{pump}/state", out var st));
            var lastHalfHour = store.ReadRange(st.Id, now - (1800 * Time.NanosPerSecond), now + 1).Select(p => (int)p.Value.AsDouble).ToList();
            output.WriteLine($"live {pump}: down in {lastHalfHour.Count(v => v == 0)} of the last {lastHalfHour.Count} state samples, estimate {(estimates.TryGetValue(pump, out var x) ? x.GetProperty("hours").GetDouble().ToString("0.0") + " h" : "none")}");
            if (lastHalfHour.Count > 0 && lastHalfHour.All(v => v != 0))
            {
                Assert.True(estimates.ContainsKey(pump), $"{pump} ran for the last 30 min but has no estimate");
            }
        }

        Assert.NotEmpty(estimates);
        foreach (var e in estimates.Values)
        {
            Assert.True(e.GetProperty("lowerHours").GetDouble() <= e.GetProperty("hours").GetDouble() && e.GetProperty("hours").GetDouble() <= e.GetProperty("upperHours").GetDouble());
        }
    }
}
