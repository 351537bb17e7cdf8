using Zhizao.Core;
using Zhizao.Storage.Engine;

namespace Zhizao.Storage.Tests;

public class RecoveryTests
{
    private static PointBatch Batch(int seriesId, int index, int size = 10)
    {
        var b = new PointBatch(size);
        for (int i = 0; i < size; i++)
        {
            b.Add(seriesId, T.Base + ((((long)index * size) + i) * T.S), (double)((index * size) + i));
        }

        return b;
    }

    private static string OnlyWalSegment(string dir) => Assert.Single(Directory.GetFiles(dir, "wal-*.log"), f => new FileInfo(f).Length > 0);

    [Fact]
    public async Task Reopen_after_dispose_without_flush_replays_the_wal()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
            for (int k = 0; k < 5; k++)
            {
                await store.WriteAsync(Batch(s.Id, k));
            }
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            Assert.True(store.Recovery.IsClean, store.Recovery.ToString());
            Assert.Equal(50, store.Recovery.WalPointsReplayed);
            Assert.Equal(50, store.ReadRange(0, 0, long.MaxValue).Count);
            store.Flush();
            Assert.DoesNotContain(Directory.GetFiles(dir.Path, "wal-*.log"), f => new FileInfo(f).Length > 0);
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            Assert.Equal(0, store.Recovery.WalPointsReplayed);
            Assert.Equal(50, store.ReadRange(0, 0, long.MaxValue).Count);
            Assert.True(store.TryGetSeries("a", out _));
        }
    }

    [Fact]
    public async Task Acknowledged_points_survive_a_crash_without_dispose()
    {
        using var dir = new TempDir();
        var store = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
        for (int k = 0; k < 5; k++)
        {
            await store.WriteAsync(Batch(s.Id, k));
        }

        store.Flush();
        for (int k = 5; k < 8; k++)
        {
            await store.WriteAsync(Batch(s.Id, k));
        }

        store.SimulateCrash();
        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        Assert.True(again.Recovery.IsClean, again.Recovery.ToString());
        Assert.Equal(80, again.ReadRange(s.Id, 0, long.MaxValue).Count);
        Assert.True(again.TryGetLatest(s.Id, out DataPoint latest));
        Assert.Equal(79.0, T.Value(latest));
    }

    [Fact]
    public async Task A_directory_copied_while_writes_are_acknowledged_holds_every_acknowledged_point()
    {
        using var dir = new TempDir();
        using var store = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
        int acknowledged = 0;
        using var stop = new CancellationTokenSource();
        Task writer = Task.Run(async () =>
        {
            for (int k = 0; !stop.IsCancellationRequested; k++)
            {
                await store.WriteAsync(Batch(s.Id, k, 100));
                Volatile.Write(ref acknowledged, k + 1);
            }
        });

        while (Volatile.Read(ref acknowledged) < 20)
        {
            await Task.Yield();
        }

        int before = Volatile.Read(ref acknowledged);
        string copy = dir.Copy();
        await stop.CancelAsync();
        await writer;
        try
        {
            using var recovered = TimeSeriesEngine.Open(copy, T.Quiet());
            IReadOnlyList<DataPoint> pts = recovered.ReadRange(s.Id, 0, long.MaxValue);
            Assert.True(pts.Count >= before * 100, $"{pts.Count} points, {before * 100} acknowledged before the copy");
            for (int i = 0; i < pts.Count; i++)
            {
                Assert.Equal(i, T.Value(pts[i]));
            }
        }
        finally
        {
            Directory.Delete(copy, true);
        }
    }

    [Fact]
    public async Task Truncated_wal_tail_keeps_every_record_before_the_cut_and_reports_file_and_offset()
    {
        using var dir = new TempDir();
        var ends = new List<long>();
        string segment;
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
            await store.WriteAsync(new PointBatch()); // nothing
            for (int k = 0; k < 12; k++)
            {
                await store.WriteAsync(Batch(s.Id, k));
                segment = OnlyWalSegment(dir.Path);
                ends.Add(new FileInfo(segment).Length);
            }
        }

        segment = OnlyWalSegment(dir.Path);
        long length = new FileInfo(segment).Length;
        var rng = new Random(5);
        long[] cuts = [.. Enumerable.Range(0, 12).Select(_ => (long)rng.Next(1, (int)length)), ends[0], ends[5] + 1, length - 1];
        foreach (long cut in cuts)
        {
            string copy = dir.Copy();
            try
            {
                string seg = Path.Combine(copy, Path.GetFileName(segment));
                using (var fs = new FileStream(seg, FileMode.Open))
                {
                    fs.SetLength(cut);
                }

                int survivors = ends.Count(e => e <= cut);
                using var store = TimeSeriesEngine.Open(copy, T.Quiet());
                int points = store.TryGetSeries("a", out SeriesInfo s) ? store.ReadRange(s.Id, 0, long.MaxValue).Count : 0;
                Assert.Equal(survivors * 10, points);
                long lastGood = ends.Where(e => e <= cut).DefaultIfEmpty(-1).Max();
                if (ends.Contains(cut))
                {
                    Assert.Empty(store.Recovery.WalTailDrops);
                }
                else
                {
                    WalTailDrop drop = Assert.Single(store.Recovery.WalTailDrops);
                    Assert.Equal(seg, drop.File);
                    Assert.Equal(cut - drop.Offset, drop.BytesDropped);
                    if (lastGood > 0)
                    {
                        Assert.Equal(lastGood, drop.Offset);
                    }

                    Assert.Equal(drop.Offset, new FileInfo(seg).Length); // tail cut off
                }
            }
            finally
            {
                Directory.Delete(copy, true);
            }
        }
    }

    [Fact]
    public async Task Flipped_byte_in_the_wal_is_detected_reported_and_earlier_records_kept()
    {
        using var dir = new TempDir();
        var ends = new List<long>();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
            for (int k = 0; k < 10; k++)
            {
                await store.WriteAsync(Batch(s.Id, k));
                ends.Add(new FileInfo(OnlyWalSegment(dir.Path)).Length);
            }
        }

        string seg = OnlyWalSegment(dir.Path);
        byte[] bytes = File.ReadAllBytes(seg);
        long victim = ends[6] + 20; // inside record 7
        bytes[victim] ^= 0x40;
        File.WriteAllBytes(seg, bytes);

        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        WalTailDrop drop = Assert.Single(again.Recovery.WalTailDrops);
        Assert.Equal(seg, drop.File);
        Assert.Equal(ends[6], drop.Offset);
        Assert.Contains("CRC", drop.Reason, StringComparison.Ordinal);
        Assert.Equal(70, again.ReadRange(0, 0, long.MaxValue).Count);
        Assert.Single(Directory.GetFiles(dir.Path, "*.corrupt"));
    }

    [Fact]
    public async Task Flipped_byte_in_a_block_chunk_quarantines_that_chunk_and_keeps_the_rest()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo a = store.GetOrCreateSeries("a", ValueKind.Float64);
            SeriesInfo b = store.GetOrCreateSeries("b", ValueKind.Float64);
            await store.WriteAsync(Batch(a.Id, 0, 100));
            await store.WriteAsync(Batch(b.Id, 0, 100));
            store.Flush();
        }

        string file = Assert.Single(Directory.GetFiles(dir.Path, "blk-*.zblk"));
        long offset;
        using (BlockFile bf = BlockFile.Open(file, 1, []))
        {
            ChunkEntry ea = bf.Entries.Single(e => e.SeriesId == 0);
            offset = ea.Offset + (ea.Length / 2);
        }

        byte[] bytes = File.ReadAllBytes(file);
        bytes[offset] ^= 0x01;
        File.WriteAllBytes(file, bytes);

        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        QuarantinedFile q = Assert.Single(again.Recovery.Quarantined);
        Assert.Equal(file, q.File);
        Assert.Contains("series 0", q.Reason, StringComparison.Ordinal);
        Assert.Empty(again.ReadRange(0, 0, long.MaxValue));
        Assert.Equal(100, again.ReadRange(1, 0, long.MaxValue).Count);
        Assert.True(File.Exists(file + ".corrupt"));
    }

    [Fact]
    public async Task Corrupt_block_index_quarantines_the_file_and_other_blocks_stay()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo a = store.GetOrCreateSeries("a", ValueKind.Float64);
            await store.WriteAsync(Batch(a.Id, 0, 100));
            store.Flush();
            await store.WriteAsync(Batch(a.Id, 1, 100));
            store.Flush();
        }

        string[] files = [.. Directory.GetFiles(dir.Path, "blk-*.zblk").Order()];
        Assert.Equal(2, files.Length);
        byte[] bytes = File.ReadAllBytes(files[1]);
        bytes[^30] ^= 0xFF; // inside the index
        File.WriteAllBytes(files[1], bytes);

        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        QuarantinedFile q = Assert.Single(again.Recovery.Quarantined);
        Assert.Equal(files[1], q.File);
        Assert.Contains("CRC", q.Reason, StringComparison.Ordinal);
        Assert.False(File.Exists(files[1]));
        Assert.True(File.Exists(files[1] + ".corrupt"));
        Assert.Equal(100, again.ReadRange(0, 0, long.MaxValue).Count);
    }

    [Fact]
    public async Task Garbage_files_in_the_data_directory_are_reported_and_do_not_harm_data()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo a = store.GetOrCreateSeries("a", ValueKind.Float64);
            await store.WriteAsync(Batch(a.Id, 0, 100));
            store.Flush();
            await store.WriteAsync(Batch(a.Id, 1, 100));
        }

        File.WriteAllText(Path.Combine(dir.Path, "notes.txt"), "hello");
        File.WriteAllBytes(Path.Combine(dir.Path, "blk-000000000099.zblk"), [1, 2, 3, 4, 5]);
        File.WriteAllBytes(Path.Combine(dir.Path, "wal-000000000077.log"), [9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9]);

        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        Assert.Contains("notes.txt", again.Recovery.IgnoredFiles);
        Assert.Contains(again.Recovery.Quarantined, q => q.File.EndsWith("blk-000000000099.zblk", StringComparison.Ordinal));
        Assert.Contains(again.Recovery.WalTailDrops, d => d.File.EndsWith("wal-000000000077.log", StringComparison.Ordinal) && d.Offset == 0);
        Assert.Equal(200, again.ReadRange(0, 0, long.MaxValue).Count);
        await again.WriteAsync(Batch(0, 2, 100));
        again.Flush();
        Assert.Equal(300, again.ReadRange(0, 0, long.MaxValue).Count);
    }

    [Fact]
    public async Task Many_wal_segments_are_replayed_in_order_and_deleted_once_sealed()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { WalSegmentBytes = 4096 }))
        {
            SeriesInfo s = store.GetOrCreateSeries("a", ValueKind.Float64);
            for (int k = 0; k < 40; k++)
            {
                await store.WriteAsync(Batch(s.Id, k, 50));
            }

            Assert.True(Directory.GetFiles(dir.Path, "wal-*.log").Length > 5);
        }

        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet() with { WalSegmentBytes = 4096 }))
        {
            Assert.True(store.Recovery.IsClean, store.Recovery.ToString());
            Assert.Equal(2000, store.Recovery.WalPointsReplayed);
            IReadOnlyList<DataPoint> pts = store.ReadRange(0, 0, long.MaxValue);
            Assert.Equal(Enumerable.Range(0, 2000).Select(i => (double)i), pts.Select(T.Value));
            store.Flush();
            Assert.Single(Directory.GetFiles(dir.Path, "wal-*.log")); // the fresh, empty segment
            Assert.True(store.GetStats().WalBytes == 0);
        }
    }

    [Fact]
    public async Task Corrupt_series_catalog_is_reported_and_the_data_stays_readable_by_id()
    {
        using var dir = new TempDir();
        using (var store = TimeSeriesEngine.Open(dir.Path, T.Quiet()))
        {
            SeriesInfo a = store.GetOrCreateSeries("a", ValueKind.Float64);
            SeriesInfo b = store.GetOrCreateSeries("b", ValueKind.Int64);
            await store.WriteAsync(Batch(a.Id, 0, 10));
            var pb = new PointBatch();
            pb.Add(b.Id, T.Base, 7L);
            await store.WriteAsync(pb);
            store.Flush();
        }

        string cat = Path.Combine(dir.Path, "series.cat");
        byte[] bytes = File.ReadAllBytes(cat);
        bytes[^1] ^= 0x20; // last byte of the key of series "b"
        File.WriteAllBytes(cat, bytes);

        using var again = TimeSeriesEngine.Open(dir.Path, T.Quiet());
        Assert.Contains(again.Recovery.Quarantined, q => q.File == cat);
        Assert.True(again.TryGetSeries("a", out _));
        SeriesInfo lost = again.GetSeries(1);
        Assert.Equal(ValueKind.Int64, lost.Kind);
        Assert.StartsWith("__lost/", lost.Key, StringComparison.Ordinal);
        Assert.Equal(7L, Assert.Single(again.ReadRange(1, 0, long.MaxValue)).Value.AsInt64);
        Assert.Equal(10, again.ReadRange(0, 0, long.MaxValue).Count);
    }
}
