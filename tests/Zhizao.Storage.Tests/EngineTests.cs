using Zhizao.Core;

namespace Zhizao.Storage.Tests;

public class EngineTests
{
    private static TagValue Sample(ValueKind kind, int i) => kind switch
    {
        ValueKind.Float64 => TagValue.FromDouble(i % 7 == 0 ? double.NaN : Math.Round(20 + Math.Sin(i / 10.0), 2)),
        ValueKind.Int64 => TagValue.FromInt64(i % 5 == 0 ? long.MinValue + i : i * 1000L),
        ValueKind.Bool => TagValue.FromBool(i % 3 == 0),
        _ => TagValue.FromString(i % 4 == 0 ? "RUNNING" : "IDLE #" + (i % 3)),
    };

    [Theory]
    [InlineData(ValueKind.Float64)]
    [InlineData(ValueKind.Int64)]
    [InlineData(ValueKind.Bool)]
    [InlineData(ValueKind.String)]
    public async Task Points_of_every_kind_round_trip_through_head_and_blocks(ValueKind kind)
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo s = store.GetOrCreateSeries("line1/m1/" + kind, kind);
            var batch = new PointBatch();
            for (int i = 0; i < 500; i++)
            {
                batch.Add(s.Id, T.Base + (i * T.S), Sample(kind, i));
            }

            WriteResult r = await store.WriteAsync(batch);
            Assert.Equal(500, r.Accepted);
            AssertSeries(store.ReadRange(s.Id, long.MinValue, long.MaxValue), kind, 0, 500);

            store.Flush();
            Assert.Equal(500, store.GetStats().PointsInBlocks);
            Assert.Equal(0, store.GetStats().PointsInHead);

            batch.Clear();
            for (int i = 500; i < 800; i++)
            {
                batch.Add(s.Id, T.Base + (i * T.S), Sample(kind, i));
            }

            await store.WriteAsync(batch);
            AssertSeries(store.ReadRange(s.Id, long.MinValue, long.MaxValue), kind, 0, 800);
            AssertSeries(store.ReadRange(s.Id, T.Base + (450 * T.S), T.Base + (550 * T.S)), kind, 450, 550);
            Assert.Equal(10, store.ReadRange(s.Id, T.Base, long.MaxValue, limit: 10).Count);
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            Assert.True(store.TryGetSeries("line1/m1/" + kind, out SeriesInfo s));
            Assert.Equal(kind, s.Kind);
            AssertSeries(store.ReadRange(s.Id, long.MinValue, long.MaxValue), kind, 0, 800);
        }
    }

    private static void AssertSeries(IReadOnlyList<DataPoint> points, ValueKind kind, int from, int to)
    {
        Assert.Equal(to - from, points.Count);
        for (int i = from; i < to; i++)
        {
            DataPoint p = points[i - from];
            Assert.Equal(T.Base + (i * T.S), p.TimestampNs);
            Assert.Equal(Sample(kind, i), p.Value);
        }
    }

    [Fact]
    public async Task Out_of_order_points_inside_the_window_are_accepted_and_read_sorted()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { OutOfOrderWindow = TimeSpan.FromMinutes(10) });
        SeriesInfo s = store.GetOrCreateSeries("t", ValueKind.Float64);
        var b = new PointBatch();
        b.Add(s.Id, T.Base + (600 * T.S), 6.0);
        await store.WriteAsync(b);
        store.Flush();
        b.Clear();
        b.Add(s.Id, T.Base + (300 * T.S), 3.0); // 5 min late: inside
        b.Add(s.Id, T.Base + (599 * T.S), 5.99);
        WriteResult r = await store.WriteAsync(b);
        Assert.Equal(new WriteResult(2, 0, null), r);
        double[] got = [.. store.ReadRange(s.Id, 0, long.MaxValue).Select(T.Value)];
        Assert.Equal([3.0, 5.99, 6.0], got);
        store.Flush();
        Assert.Equal([3.0, 5.99, 6.0], store.ReadRange(s.Id, 0, long.MaxValue).Select(T.Value));
    }

    [Fact]
    public async Task Points_older_than_the_window_are_rejected_and_counted_not_thrown()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { OutOfOrderWindow = TimeSpan.FromMinutes(10) });
        SeriesInfo s = store.GetOrCreateSeries("t", ValueKind.Float64);
        var b = new PointBatch();
        b.Add(s.Id, T.Base + (3600 * T.S), 1.0);
        await store.WriteAsync(b);
        b.Clear();
        b.Add(s.Id, T.Base, 0.5); // an hour late
        b.Add(s.Id, T.Base + (3599 * T.S), 0.9);
        b.Add(s.Id, T.Base + (1 * T.S), 0.6);
        WriteResult r = await store.WriteAsync(b);
        Assert.Equal(1, r.Accepted);
        Assert.Equal(2, r.Rejected);
        Assert.Contains("out-of-order window", r.FirstRejectReason, StringComparison.Ordinal);
        Assert.Equal(2, store.ReadRange(s.Id, 0, long.MaxValue).Count);
    }

    [Fact]
    public async Task Duplicate_timestamp_keeps_the_last_write_in_head_blocks_and_after_restart()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo s = store.GetOrCreateSeries("d", ValueKind.Int64);
            var b = new PointBatch();
            b.Add(s.Id, T.Base, 1L);
            b.Add(s.Id, T.Base, 2L);
            b.Add(s.Id, T.Base + T.S, 10L);
            await store.WriteAsync(b);
            Assert.Equal([2L, 10L], store.ReadRange(s.Id, 0, long.MaxValue).Select(p => p.Value.AsInt64));
            store.Flush();
            b.Clear();
            b.Add(s.Id, T.Base, 3L); // overrides a sealed point
            await store.WriteAsync(b);
            Assert.Equal([3L, 10L], store.ReadRange(s.Id, 0, long.MaxValue).Select(p => p.Value.AsInt64));
            store.Flush();
            Assert.Equal([3L, 10L], store.ReadRange(s.Id, 0, long.MaxValue).Select(p => p.Value.AsInt64));
            Assert.True(store.TryGetLatest(s.Id, out DataPoint latest));
            Assert.Equal(10L, latest.Value.AsInt64);
            b.Clear();
            b.Add(s.Id, T.Base + T.S, 11L);
            await store.WriteAsync(b);
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            Assert.Equal([3L, 11L], store.ReadRange(0, 0, long.MaxValue).Select(p => p.Value.AsInt64));
            Assert.True(store.TryGetLatest(0, out DataPoint latest));
            Assert.Equal(11L, latest.Value.AsInt64);
        }
    }

    [Fact]
    public async Task Aggregation_matches_a_naive_computation_over_random_data()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet(FsyncPolicy.Never) with { MaxChunkPoints = 64 });
        SeriesInfo s = store.GetOrCreateSeries("agg", ValueKind.Float64);
        var rng = new Random(42);
        var truth = new SortedDictionary<long, double>();
        var b = new PointBatch();
        long bucket = 60 * T.S;
        for (int round = 0; round < 6; round++)
        {
            b.Clear();
            for (int i = 0; i < 700; i++)
            {
                // whole seconds, with some exactly on bucket edges, some out of order and some duplicates
                long t = T.Base + (rng.Next(0, 3600) * T.S);
                if (i % 50 == 0)
                {
                    t = T.Base - (T.Base % bucket) + (rng.Next(1, 60) * bucket);
                }

                double v = Math.Round((rng.NextDouble() * 100) - 50, 2);
                b.Add(s.Id, t, v);
                truth[t] = v;
            }

            await store.WriteAsync(b);
            if (round % 2 == 0)
            {
                store.Flush();
            }
        }

        // a sealed chunk wholly inside one bucket exercises the pre-aggregate path
        b.Clear();
        long far = T.Base + (10_000 * bucket);
        for (int i = 0; i < 10; i++)
        {
            b.Add(s.Id, far + (i * T.S), (double)i);
            truth[far + (i * T.S)] = i;
        }

        await store.WriteAsync(b);
        store.Flush();

        foreach ((long from, long to, long width) in new[] { (T.Base, T.Base + (3600 * T.S), bucket), (T.Base + 17, T.Base + (1234 * T.S), 7 * T.S), (0L, long.MaxValue, 600 * T.S) })
        {
            IReadOnlyList<AggregateBucket> got = store.Aggregate(s.Id, from, to, width);
            var expected = truth.Where(kv => kv.Key >= from && kv.Key < to).GroupBy(kv => kv.Key - (kv.Key % width)).OrderBy(g => g.Key).ToList();
            Assert.Equal(expected.Count, got.Count);
            for (int i = 0; i < got.Count; i++)
            {
                double[] xs = [.. expected[i].Select(kv => kv.Value)];
                AggregateBucket a = got[i];
                Assert.Equal(expected[i].Key, a.StartNs);
                Assert.Equal(xs.Length, a.Count);
                Assert.Equal(xs.Min(), a.Min);
                Assert.Equal(xs.Max(), a.Max);
                Assert.Equal(xs[0], a.First);
                Assert.Equal(xs[^1], a.Last);
                double mean = xs.Average();
                Assert.Equal(xs.Sum(), a.Sum, 6);
                Assert.Equal(mean, a.Avg, 6);
                Assert.Equal(Math.Sqrt(xs.Select(x => (x - mean) * (x - mean)).Sum() / xs.Length), a.StdDev, 6);
            }
        }
    }

    [Fact]
    public async Task Extreme_timestamps_are_stored_read_and_aggregated()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { OutOfOrderWindow = TimeSpan.MaxValue / 2 });
        SeriesInfo s = store.GetOrCreateSeries("x", ValueKind.Int64);
        long[] times = [long.MinValue, long.MinValue + 5, -1, 0, long.MaxValue - 1, long.MaxValue];
        var b = new PointBatch();
        foreach (long t in times)
        {
            b.Add(s.Id, t, t);
        }

        Assert.Equal(times.Length, (await store.WriteAsync(b)).Accepted);
        foreach (bool sealedFirst in new[] { false, true })
        {
            if (sealedFirst)
            {
                store.Flush();
            }

            Assert.Equal(times[..^1], store.ReadRange(s.Id, long.MinValue, long.MaxValue).Select(p => p.TimestampNs));
            IReadOnlyList<AggregateBucket> buckets = store.Aggregate(s.Id, long.MinValue, long.MaxValue, T.S);
            Assert.Equal([2, 1, 1, 1], buckets.Select(x => x.Count));
            Assert.Equal(5, store.Aggregate(s.Id, long.MinValue, long.MaxValue, long.MaxValue).Sum(x => x.Count));
        }
    }

    [Fact]
    public void Aggregating_a_string_series_is_invalid_input()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        SeriesInfo s = store.GetOrCreateSeries("state", ValueKind.String);
        Assert.Throws<InvalidInputException>(() => store.Aggregate(s.Id, 0, 10, 1));
    }

    [Fact]
    public async Task Latest_value_is_kept_per_series_and_survives_restart_from_blocks_and_wal()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            var b = new PointBatch();
            for (int k = 0; k < 20; k++)
            {
                SeriesInfo s = store.GetOrCreateSeries($"s{k:D2}", ValueKind.Float64);
                b.Add(s.Id, T.Base + (k * T.S), k + 0.5);
                b.Add(s.Id, T.Base - T.S, -1.0); // older: must not replace the latest
            }

            await store.WriteAsync(b);
            store.Flush();
            b.Clear();
            b.Add(3, T.Base + (100 * T.S), 42.0);
            await store.WriteAsync(b);
            Assert.True(store.TryGetLatest(3, out DataPoint p3));
            Assert.Equal(42.0, T.Value(p3));
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            for (int k = 0; k < 20; k++)
            {
                Assert.True(store.TryGetLatest(k, out DataPoint p));
                Assert.Equal(k == 3 ? 42.0 : k + 0.5, T.Value(p));
            }

            Assert.False(store.TryGetLatest(99, out _));
        }
    }

    [Fact]
    public async Task Retention_drops_whole_old_blocks_and_old_head_points()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { PartitionDuration = TimeSpan.FromHours(1), OutOfOrderWindow = TimeSpan.FromDays(30) });
        SeriesInfo s = store.GetOrCreateSeries("r", ValueKind.Float64);
        var b = new PointBatch();
        for (int h = 0; h < 5; h++)
        {
            b.Add(s.Id, T.Base + (h * 3600 * T.S), (double)h);
        }

        await store.WriteAsync(b);
        store.Flush();
        Assert.Equal(5, store.GetStats().BlockCount);
        b.Clear();
        b.Add(s.Id, T.Base + (1 * T.S), 100.0); // old point left in the head
        await store.WriteAsync(b);

        int removed = store.ApplyRetention(T.Base + (2 * 3600 * T.S));
        Assert.Equal(2, removed);
        Assert.Equal([2.0, 3.0, 4.0], store.ReadRange(s.Id, 0, long.MaxValue).Select(T.Value));
        Assert.Equal(3, store.GetStats().BlockCount);
        Assert.Equal(3, Directory.GetFiles(dir.Path, "blk-*.zblk").Length);
    }

    [Fact]
    public async Task Writes_older_than_the_retention_period_are_rejected()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { RetentionPeriod = TimeSpan.FromDays(1) });
        SeriesInfo s = store.GetOrCreateSeries("r", ValueKind.Float64);
        var b = new PointBatch();
        b.Add(s.Id, Time.NowNs() - (2L * 86_400 * T.S), 1.0);
        b.Add(s.Id, Time.NowNs(), 2.0);
        WriteResult r = await store.WriteAsync(b);
        Assert.Equal(1, r.Accepted);
        Assert.Contains("retention", r.FirstRejectReason, StringComparison.Ordinal);
    }

    [Fact]
    public void Series_are_found_listed_by_prefix_and_a_kind_change_conflicts()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        SeriesInfo a = store.GetOrCreateSeries("plant/b", ValueKind.Float64);
        SeriesInfo b = store.GetOrCreateSeries("plant/a", ValueKind.Int64);
        store.GetOrCreateSeries("other", ValueKind.Bool);
        Assert.Equal(a, store.GetOrCreateSeries("plant/b", ValueKind.Float64));
        Assert.Throws<ConflictException>(() => store.GetOrCreateSeries("plant/b", ValueKind.String));
        Assert.Equal([b, a], store.ListSeries("plant/"));
        Assert.Equal(3, store.ListSeries().Count);
        Assert.Equal(b, store.GetSeries(b.Id));
        Assert.Throws<NotFoundException>(() => store.GetSeries(77));
    }

    [Fact]
    public async Task Unknown_series_and_wrong_value_kind_are_invalid_input()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        SeriesInfo f = store.GetOrCreateSeries("f", ValueKind.Float64);
        var b = new PointBatch();
        b.Add(5, T.Base, 1.0);
        await Assert.ThrowsAsync<InvalidInputException>(async () => await store.WriteAsync(b));
        b.Clear();
        b.Add(f.Id, T.Base, "text");
        await Assert.ThrowsAsync<InvalidInputException>(async () => await store.WriteAsync(b));
    }

    [Fact]
    public async Task Concurrent_writers_and_readers_lose_nothing()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, new StorageOptions { Fsync = FsyncPolicy.Never, MaxHeadPoints = 20_000, MaintenanceInterval = TimeSpan.FromMilliseconds(20) });
        const int Series = 50;
        for (int k = 0; k < Series; k++)
        {
            store.GetOrCreateSeries($"c{k}", ValueKind.Int64);
        }

        using var stop = new CancellationTokenSource();
        Task reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                IReadOnlyList<DataPoint> pts = store.ReadRange(7, 0, long.MaxValue);
                for (int i = 1; i < pts.Count; i++)
                {
                    Assert.True(pts[i].TimestampNs > pts[i - 1].TimestampNs);
                }

                store.TryGetLatest(7, out _);
                store.Aggregate(7, 0, long.MaxValue, 10 * T.S);
            }
        });

        Task[] writers = [.. Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            var b = new PointBatch(1000);
            for (int round = 0; round < 40; round++)
            {
                // batches of 1,000 and 20,000 points: small groups apply inline, large ones in parallel stripes
                int size = round % 8 == 0 ? 20_000 : 1000;
                b.Clear();
                for (int i = 0; i < size; i++)
                {
                    int k = i % Series;
                    long seq = (round * 100_000L) + i;
                    b.Add(k, T.Base + (((seq * 4) + w) * 1000), seq);
                }

                WriteResult r = await store.WriteAsync(b);
                Assert.Equal(size, r.Accepted);
            }
        }))];
        await Task.WhenAll(writers);
        await stop.CancelAsync();
        await reader;
        Assert.Null(store.LastMaintenanceError);
        long total = 0;
        for (int k = 0; k < Series; k++)
        {
            total += store.ReadRange(k, 0, long.MaxValue).Count;
        }

        const int Expected = 4 * ((35 * 1000) + (5 * 20_000));
        Assert.Equal(Expected, total);
        store.Flush();
        Assert.Equal(Expected, store.GetStats().PointsInBlocks);
    }
}
