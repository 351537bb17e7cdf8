using System.Diagnostics;
using System.Text;
using Zhizao.Core;
using Zhizao.Ingest;

namespace Zhizao.Ingest.Tests;

[CollectionDefinition(nameof(ThroughputTests), DisableParallelization = true)]
public sealed class ThroughputCollection;

/// <summary>
/// Prints (does not assert) parse throughput; runs alone, after the parallel tests, so figures are not skewed by them.
/// Each reports the best round (closest to an idle machine) and the average.
/// Run: dotnet test tests/Zhizao.Ingest.Tests -c Release --filter ThroughputTests --logger "console;verbosity=detailed"
/// </summary>
[Collection(nameof(ThroughputTests))]
public class ThroughputTests
{
    [Fact]
    public void Throughput_is_printed_for_typical_telegraf_lines()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 20_000; i++)
        {
            sb.Append("cpu,cpu=cpu").Append(i % 16).Append(",host=edge-gw-01,region=eu-west usage_guest=0,usage_guest_nice=0,usage_idle=91.2")
              .Append(i % 10).Append(",usage_iowait=0.25,usage_irq=0,usage_nice=0,usage_softirq=0.12,usage_steal=0,usage_system=2.7,usage_user=5.9 ")
              .Append(1700000000000000000L + (i * 1_000_000_000L)).Append('\n');
        }

        byte[] body = Encoding.UTF8.GetBytes(sb.ToString());
        var parser = new LineProtocolParser();
        var sink = new LineProtocolParserTests.CountingSink();
        parser.Parse(body, TimestampPrecision.Nanoseconds, 0, ref sink);
        Assert.Equal(20_000, sink.Accepted);

        WarmUp(() =>
        {
            var warm = new LineProtocolParserTests.CountingSink();
            parser.Parse(body.AsSpan(0, 20_000), TimestampPrecision.Nanoseconds, 0, ref warm);
        });
        long allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
        var total = Stopwatch.StartNew();
        int rounds = 0;
        TimeSpan best = TimeSpan.MaxValue;
        while (total.ElapsedMilliseconds < 1500)
        {
            sink = new LineProtocolParserTests.CountingSink();
            long start = Stopwatch.GetTimestamp();
            parser.Parse(body, TimestampPrecision.Nanoseconds, 0, ref sink);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            best = elapsed < best ? elapsed : best;
            rounds++;
        }

        long allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        double cpuSeconds = (Environment.CpuUsage.TotalTime - cpuBefore).TotalSeconds;
        double fields = sink.Fields / best.TotalSeconds;
        double average = (double)sink.Fields * rounds / total.Elapsed.TotalSeconds;
        double megabytes = body.Length / best.TotalSeconds / 1e6;
        Console.WriteLine($"line protocol parse: best round {fields / 1e6:F2} M fields/s ({megabytes:F0} MB/s), average {average / 1e6:F2} M fields/s, per CPU-second {sink.Fields * rounds / cpuSeconds / 1e6:F2} M fields/s, {allocated} bytes allocated over {rounds} rounds");
        Assert.True(allocated < 10_000, $"steady-state parsing allocated {allocated} bytes");
    }

    [Fact]
    public void End_to_end_line_protocol_ingest_throughput_is_printed()
    {
        var sb = new StringBuilder();
        for (int i = 0; i < 20_000; i++)
        {
            sb.Append('l').Append(i % 4).Append("-cnc-").Append(i % 50).Append(",site=sz spindle_speed=").Append(1200 + (i % 100)).Append(".5,feed=")
              .Append(i % 300).Append("i,temp=41.").Append(i % 10).Append(",running=t,load=0.7").Append(i % 9).Append(' ')
              .Append(1700000000000000000L + i).Append('\n');
        }

        byte[] body = Encoding.UTF8.GetBytes(sb.ToString());
        var cache = new SeriesKeyCache(new FakeStore().Resolve);
        var parser = new LineProtocolParser();
        var writer = new NullWriter();
        var result = new IngestResult();
        parser.Ingest(body, TimestampPrecision.Nanoseconds, 0, cache, ref writer, result);
        Assert.Equal(100_000, result.PointsAccepted);

        WarmUp(() => parser.Ingest(body.AsSpan(0, 20_000), TimestampPrecision.Nanoseconds, 0, cache, ref writer, new IngestResult()));
        TimeSpan cpuBefore = Environment.CpuUsage.TotalTime;
        var total = Stopwatch.StartNew();
        long points = 0;
        TimeSpan best = TimeSpan.MaxValue;
        while (total.ElapsedMilliseconds < 1500)
        {
            result.Clear();
            long start = Stopwatch.GetTimestamp();
            parser.Ingest(body, TimestampPrecision.Nanoseconds, 0, cache, ref writer, result);
            TimeSpan elapsed = Stopwatch.GetElapsedTime(start);
            best = elapsed < best ? elapsed : best;
            points += result.PointsAccepted;
        }

        Console.WriteLine($"line protocol parse + series resolve: best round {result.PointsAccepted / best.TotalSeconds / 1e6:F2} M points/s, average {points / total.Elapsed.TotalSeconds / 1e6:F2} M points/s, per CPU-second {points / (Environment.CpuUsage.TotalTime - cpuBefore).TotalSeconds / 1e6:F2} M points/s, single-threaded");
    }

    private struct NullWriter : IPointWriter
    {
        public long Sum;

        public void Add(int seriesId, long timestampNs, TagValue value) => Sum += seriesId + value.Bits;
    }

    /// <summary>Runs the code path long enough for tiered compilation to reach its optimised tier before timing.</summary>
    private static void WarmUp(Action action)
    {
        var stopwatch = Stopwatch.StartNew();
        for (int i = 0; i < 200 || stopwatch.ElapsedMilliseconds < 500; i++)
        {
            action();
        }
    }
}
