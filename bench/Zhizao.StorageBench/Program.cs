using System.Diagnostics;
using Zhizao.Core;
using Zhizao.Storage;

// In-process figures for the storage engine. Usage: dotnet run -c Release --project bench/Zhizao.StorageBench [dataDir] [ingestPoints]
string root = args.Length > 0 ? args[0] : Path.Combine(Path.GetTempPath(), "zhizao-storagebench");
long ingestPoints = args.Length > 1 ? long.Parse(args[1]) : 20_000_000;
if (Directory.Exists(root))
{
    Directory.Delete(root, true);
}

Console.WriteLine($"data dir {root}, {Environment.ProcessorCount} cores, {ingestPoints:N0} ingest points");
if (ingestPoints > 0)
{
    StorageBench.Ingest(Path.Combine(root, "ingest"), ingestPoints);
}

StorageBench.Compression(Path.Combine(root, "compress"));
Directory.Delete(root, true);

internal static class StorageBench
{
    private const long S = 1_000_000_000L;
    private const long Base = 1_700_000_000L * S;

    public static void Ingest(string dir, long total)
    {
        const int Series = 10_000;
        const int Writers = 4;
        const int BatchPoints = 50_000;
        const int PerSeriesPerBatch = BatchPoints / Series * Writers; // each writer owns Series / Writers series
        using var store = TimeSeriesEngine.Open(dir, new StorageOptions { Fsync = Environment.GetEnvironmentVariable("BENCH_NOFSYNC") == "1" ? FsyncPolicy.Never : FsyncPolicy.Always });
        for (int k = 0; k < Series; k++)
        {
            store.GetOrCreateSeries($"plant/line{k / 100}/m{k % 100}/temp", ValueKind.Float64);
        }

        long batchesPerWriter = total / Writers / BatchPoints;

        // the data is generated before the clock starts: the figure is the engine's, not the random generator's
        var prepared = new PointBatch[Writers][];
        for (int w = 0; w < Writers; w++)
        {
            var rng = new Random(w);
            int first = w * (Series / Writers);
            int count = Series / Writers;
            var temp = new double[count];
            for (int i = 0; i < count; i++)
            {
                temp[i] = 20 + rng.Next(0, 100) / 10.0;
            }

            prepared[w] = new PointBatch[batchesPerWriter];
            long step = 0;
            for (long b = 0; b < batchesPerWriter; b++)
            {
                var batch = new PointBatch(BatchPoints);
                for (int r = 0; r < PerSeriesPerBatch; r++, step++)
                {
                    long ts = Base + (step * S);
                    for (int i = 0; i < count; i++)
                    {
                        temp[i] = Math.Round(temp[i] + ((rng.Next(3) - 1) * 0.1), 1);
                        batch.Add(first + i, ts, temp[i]);
                    }
                }

                prepared[w][b] = batch;
            }
        }

        TimeSpan cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        TimeSpan gc0 = GC.GetTotalPauseDuration();
        int[] gcs0 = [GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2)];
        var sw = Stopwatch.StartNew();
        Task[] tasks = new Task[Writers];
        for (int w = 0; w < Writers; w++)
        {
            PointBatch[] mine = prepared[w];
            tasks[w] = Task.Run(async () =>
            {
                foreach (PointBatch batch in mine)
                {
                    await store.WriteAsync(batch);
                }
            });
        }

        Task.WaitAll(tasks);
        sw.Stop();
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpu0).TotalSeconds;
        long points = batchesPerWriter * Writers * BatchPoints;
        Console.WriteLine($"ingest: process CPU {cpu:F2} s over {sw.Elapsed.TotalSeconds:F2} s wall = {cpu / sw.Elapsed.TotalSeconds:F2} cores busy; {cpu * 1e9 / points:F0} ns CPU per point (data generated beforehand); GC pauses {(GC.GetTotalPauseDuration() - gc0).TotalMilliseconds:F0} ms, collections gen0/1/2 {GC.CollectionCount(0) - gcs0[0]}/{GC.CollectionCount(1) - gcs0[1]}/{GC.CollectionCount(2) - gcs0[2]}");
        StoreStats st = store.GetStats();
        Console.WriteLine($"ingest: {points:N0} points, {Series} series, {Writers} writers x batches of {BatchPoints:N0}, fsync group commit: "
            + $"{sw.Elapsed.TotalSeconds:F2} s = {points / sw.Elapsed.TotalSeconds / 1e6:F2} M points/s (blocks {st.PointsInBlocks:N0}, head {st.PointsInHead:N0}, maintenance error: {store.LastMaintenanceError?.Message ?? "none"})");
        double ingestSeconds = sw.Elapsed.TotalSeconds;
        sw.Restart();
        store.Flush();
        st = store.GetStats();
        Console.WriteLine($"ingest: including sealing everything into blocks: {points / (ingestSeconds + sw.Elapsed.TotalSeconds) / 1e6:F2} M points/s");
        Console.WriteLine($"ingest: final flush {sw.Elapsed.TotalMilliseconds:F0} ms; {st.BlockBytes / (double)st.PointsInBlocks:F3} bytes/point over {st.BlockCount} block files (~{st.PointsInBlocks / Series} points per series)");

        // latest for 1000 series
        var lat = new double[200];
        for (int rep = 0; rep < lat.Length; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int k = 0; k < 1000; k++)
            {
                store.TryGetLatest(k, out _);
            }

            lat[rep] = Stopwatch.GetElapsedTime(t0).TotalMicroseconds;
        }

        Array.Sort(lat);
        Console.WriteLine($"latest: 1,000 series in {lat[lat.Length / 2]:F1} µs median ({lat[0]:F1} µs min)");
    }

    public static void Compression(string dir)
    {
        const int Series = 200;
        const int Points = 86_400;
        using var store = TimeSeriesEngine.Open(dir, new StorageOptions { Fsync = FsyncPolicy.Always, BackgroundMaintenance = false, PartitionDuration = TimeSpan.FromDays(1) });
        var rng = new Random(1);
        var batch = new PointBatch(Points);
        long dayStart = Base - (Base % (86_400 * S));
        for (int k = 0; k < Series; k++)
        {
            bool vibration = k % 2 == 1;
            SeriesInfo s = store.GetOrCreateSeries(vibration ? $"m{k}/vibration" : $"m{k}/temperature", ValueKind.Float64);
            batch.Clear();
            double temp = 20 + rng.Next(0, 100) / 10.0;
            for (int i = 0; i < Points; i++)
            {
                double v;
                if (vibration)
                {
                    // 0.05 Hz sway sampled at 1 Hz plus gaussian-ish noise, rounded to 0.01 mm/s
                    double noise = (rng.NextDouble() + rng.NextDouble() + rng.NextDouble() - 1.5) * 0.05;
                    v = Math.Round(2.0 + (0.3 * Math.Sin(i * 0.05 * 2 * Math.PI / 10)) + noise, 2);
                }
                else
                {
                    temp = Math.Round(temp + ((rng.Next(3) - 1) * 0.1), 1);
                    v = temp;
                }

                batch.Add(s.Id, dayStart + (i * S), v);
            }

            store.WriteAsync(batch).AsTask().GetAwaiter().GetResult();
        }

        store.Flush();
        StoreStats st = store.GetStats();
        Console.WriteLine($"compression: {st.PointsInBlocks:N0} points (temperature 0.1 random walk + vibration 0.01 with noise, 1 s) "
            + $"in {st.BlockBytes:N0} bytes = {st.BlockBytes / (double)st.PointsInBlocks:F3} bytes/point");

        // aggregate one sealed day into 1-minute buckets
        var times = new double[Environment.GetEnvironmentVariable("BENCH_AGG_REPS") is { } reps ? int.Parse(reps) : 100];
        int buckets = 0;
        for (int rep = -100; rep < times.Length; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            buckets = store.Aggregate(1, dayStart, dayStart + (86_400 * S), 60 * S).Count;
            if (rep >= 0)
            {
                times[rep] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
            }
        }

        Array.Sort(times);
        Console.WriteLine($"aggregate: 86,400 sealed points -> {buckets} 1-minute buckets in {times[times.Length / 2]:F3} ms median ({times[0]:F3} ms min)");
        var reads = new double[20];
        for (int rep = 0; rep < reads.Length; rep++)
        {
            long t0 = Stopwatch.GetTimestamp();
            _ = store.ReadRange(0, dayStart, dayStart + (86_400 * S));
            reads[rep] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
        }

        Array.Sort(reads);
        Console.WriteLine($"read: 86,400 sealed points raw in {reads[reads.Length / 2]:F3} ms median");
    }
}
