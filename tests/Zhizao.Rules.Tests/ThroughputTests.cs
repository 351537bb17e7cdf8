using System.Diagnostics;
using Xunit.Abstractions;
using Zhizao.Core;

namespace Zhizao.Rules.Tests;

[CollectionDefinition(nameof(ThroughputTests), DisableParallelization = true)]
public sealed class ThroughputCollection;

/// <summary>
/// Prints (does not assert) rule evaluation throughput: 1,000 machines × 10 rules of mixed kinds = 10,000 rule instances,
/// fed a stream of samples single-threaded; reports the best round and the average.
/// Run: dotnet test tests/Zhizao.Rules.Tests -c Release --filter Throughput --logger "console;verbosity=detailed"
/// </summary>
[Collection(nameof(ThroughputTests))]
public class ThroughputTests(ITestOutputHelper output)
{
    private const int Machines = 1_000;

    private static readonly EquipmentType Type = new()
    {
        Id = "bench",
        Name = "Bench machine",
        Tags =
        [
            new TagDefinition { Name = "t0" }, new TagDefinition { Name = "t1" }, new TagDefinition { Name = "t2" },
            new TagDefinition { Name = "t3" }, new TagDefinition { Name = "t4" }, new TagDefinition { Name = "t5" },
            new TagDefinition { Name = "state", DataType = ValueKind.Int64 },
            new TagDefinition { Name = "running", DataType = ValueKind.Bool },
        ],
    };

    private static RuleDefinition[] Rules()
    {
        RuleDefinition Rule(string id, RuleKind kind) => new() { Id = id, Name = id, EquipmentTypeId = "bench", Kind = kind };
        return
        [
            Rule("t0-high", RuleKind.Limit) with { Limit = new LimitParameters { Tag = "t0", Type = LimitType.High, Setpoint = 80, Deadband = 2 } },
            Rule("t0-hh", RuleKind.Limit) with { OnDelaySeconds = 5, Limit = new LimitParameters { Tag = "t0", Type = LimitType.HighHigh, Setpoint = 95, Deadband = 2 } },
            Rule("t1-low", RuleKind.Limit) with { OffDelaySeconds = 3, Limit = new LimitParameters { Tag = "t1", Type = LimitType.Low, Setpoint = 10, Deadband = 1 } },
            Rule("t1-rate", RuleKind.RateOfChange) with { RateOfChange = new RateOfChangeParameters { Tag = "t1", MaxRatePerSecond = 5, WindowSeconds = 10 } },
            Rule("t2-rise", RuleKind.RateOfChange) with { RateOfChange = new RateOfChangeParameters { Tag = "t2", MaxRatePerSecond = 2, WindowSeconds = 30, Direction = RateDirection.Rising } },
            Rule("down-10min", RuleKind.StateDuration) with { StateDuration = new StateDurationParameters { Tag = "state", State = "0", DurationSeconds = 600 } },
            Rule("not-running-1min", RuleKind.StateDuration) with { StateDuration = new StateDurationParameters { Tag = "state", State = "1", Negate = true, DurationSeconds = 60 } },
            Rule("hot-running", RuleKind.Expression) with { Expression = "t3 > 50 and running" },
            Rule("imbalance", RuleKind.Expression) with { Expression = "abs(t4 - t5) > 20 or t2 > 90" },
            Rule("avg-high", RuleKind.Expression) with { Expression = "avg(t0, t1, t2) > 70 and state == 1" },
        ];
    }

    [Fact]
    public void Throughput_is_printed_for_10000_rules_of_mixed_kinds()
    {
        Asset[] assets = [.. Enumerable.Range(0, Machines).Select(i => new Asset { Id = $"m{i:D4}", Name = $"m{i}", Level = AssetLevel.Equipment, TypeId = "bench" })];
        RuleEngine engine = RuleEngine.Compile(Rules(), [Type], assets);
        Assert.Empty(engine.Problems);
        Assert.Equal(10_000, engine.Instances.Count);
        int seriesCount = engine.SeriesCount;
        Assert.Equal(Machines * 8, seriesCount);

        // Precomputed stream: 64 sweeps over every series (shuffled order), one sweep per second of sample time.
        const int sweeps = 64;
        var random = new Random(42);
        var series = new int[seriesCount];
        var values = new TagValue[seriesCount * sweeps];
        for (int s = 0; s < seriesCount; s++)
        {
            series[s] = s;
        }

        random.Shuffle(series); // samples arrive in no particular series order (no cache-friendly sweep)

        var instancesPerSeries = new int[seriesCount];
        foreach (RuleInstance instance in engine.Instances)
        {
            foreach (string key in instance.SeriesKeys)
            {
                Assert.True(engine.TryGetSeriesId(key, out int id));
                instancesPerSeries[id]++;
            }
        }

        for (int sweep = 0; sweep < sweeps; sweep++)
        {
            for (int s = 0; s < seriesCount; s++)
            {
                string tag = engine.SeriesKeys[s][(engine.SeriesKeys[s].IndexOf('/', StringComparison.Ordinal) + 1)..];
                values[(sweep * seriesCount) + s] = tag switch
                {
                    "state" => TagValue.FromInt64(random.Next(10) == 0 ? 0 : 1),
                    "running" => TagValue.FromBool(random.Next(4) != 0),
                    _ => TagValue.FromDouble(50 + (45 * Math.Sin((sweep + s) / 7.0)) + (random.NextDouble() * 4)),
                };
            }
        }

        double evaluationsPerSample = (double)instancesPerSeries.Sum() / seriesCount;
        var changes = new List<ConditionChange>(1 << 16);
        long time = 0;

        long Run(int rounds)
        {
            long samples = 0;
            for (int round = 0; round < rounds; round++)
            {
                for (int sweep = 0; sweep < sweeps; sweep++)
                {
                    time += Time.NanosPerSecond;
                    int offset = sweep * seriesCount;
                    for (int s = 0; s < seriesCount; s++)
                    {
                        engine.Process(series[s], time, values[offset + series[s]], changes);
                    }

                    engine.Advance(time, changes);
                    samples += seriesCount;
                    changes.Clear();
                }
            }

            return samples;
        }

        Run(3); // warm-up: tiering, ring buffers filled
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var total = Stopwatch.StartNew();
        long totalSamples = 0;
        double best = 0;
        while (total.ElapsedMilliseconds < 2000)
        {
            long start = Stopwatch.GetTimestamp();
            long samples = Run(2);
            double rate = samples / Stopwatch.GetElapsedTime(start).TotalSeconds;
            best = Math.Max(best, rate);
            totalSamples += samples;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        double average = totalSamples / total.Elapsed.TotalSeconds;
        output.WriteLine(
            $"rules: {engine.Instances.Count:N0} instances ({Machines:N0} machines x 10 rules: 3 limit, 2 rate-of-change, 2 state-duration, 3 expression), " +
            $"{seriesCount:N0} series, {evaluationsPerSample:F2} rule evaluations per sample");
        output.WriteLine(
            $"samples/s single-threaded: best {best / 1e6:F2} M, average {average / 1e6:F2} M " +
            $"({best * evaluationsPerSample / 1e6:F2} M rule evaluations/s); {totalSamples:N0} samples, allocated {allocated:N0} bytes, " +
            $"{Environment.ProcessorCount} cores (shared machine)");
        // No allocation per sample (a few one-off bytes from the runtime may show in Debug builds).
        Assert.True(allocated < 1024, $"allocated {allocated} bytes for {totalSamples} samples");
    }
}
