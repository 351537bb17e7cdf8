using System.Diagnostics;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>
/// Runs every engine, one after the other, on the same generated data: ingest (timed), bytes on disk, then the
/// aggregation and latest-values queries repeated after a warm-up. Each peer server is stopped before the next starts.
/// </summary>
internal sealed class StorageBenchmark(BenchOptions requested)
{
    private BenchOptions _options = requested;

    public async Task<int> RunAsync(CancellationToken ct)
    {
        var total = Stopwatch.StartNew();
        var machine = MachineInfo.Capture();
        var gen = Stopwatch.StartNew();
        var data = _options.DataSource == "sim"
            ? BenchData.FromSimulator(_options.Seconds, _options.DaySeconds)
            : BenchData.Generate(_options.Series, _options.Seconds, _options.DaySeconds);
        _options = _options with { Series = data.Series };
        Console.WriteLine($"zhizao storage benchmark, profile {_options.Profile}: {_options.Series:N0} series x {_options.Seconds:N0} s at 1 Hz " +
            $"= {_options.IngestPoints:N0} ingest points + 1 series x {_options.DaySeconds:N0} s for the aggregation query");
        Console.WriteLine($"machine: {machine.Summary}");
        Console.WriteLine($"data: {data.Source}; generated in {gen.Elapsed.TotalSeconds:0.0} s");
        var expected = Expected.From(data, _options.LatestTags);

        var results = new List<EngineResult>();
        using (var workspace = new Workspace(_options.KeepTemp))
        {
            foreach (string engine in BenchOptions.AllEngines.Where(_options.Engines.Contains))
            {
                ct.ThrowIfCancellationRequested();
                IBenchTarget target = engine switch
                {
                    "zhizao" => new ZhizaoTarget(_options, data, workspace),
                    "postgres" => new PostgresTarget(_options, data, workspace),
                    "influx" => new InfluxTarget(_options, data, workspace),
                    _ => new SqliteTarget(_options, data, workspace),
                };
                results.Add(await RunOneAsync(target, expected, ct));
            }
        }

        var report = Report.Render(_options, data, machine, results, total.Elapsed);
        Console.WriteLine();
        Console.WriteLine(report);
        string path = Report.Write(_options, report);
        Console.WriteLine($"written to {path}");
        return results.Any(r => r.Failed) ? 1 : 0;
    }

    private async Task<EngineResult> RunOneAsync(IBenchTarget target, Expected expected, CancellationToken ct)
    {
        var result = new EngineResult(target.Name);
        Console.WriteLine();
        Console.WriteLine($"== {target.Name}");
        try
        {
            string? skip = await target.StartAsync(ct);
            result.Setup = target.Setup;
            if (skip is not null)
            {
                result.Skipped = skip;
                Console.WriteLine($"   {skip}");
                return result;
            }

            result.LoadBefore = MachineInfo.LoadAverage();
            var sw = Stopwatch.StartNew();
            await target.IngestAsync(ct);
            sw.Stop();
            result.IngestSeconds = sw.Elapsed.TotalSeconds;
            result.IngestPointsPerSecond = _options.IngestPoints / sw.Elapsed.TotalSeconds;
            Console.WriteLine($"   ingest: {_options.IngestPoints:N0} points in {sw.Elapsed.TotalSeconds:0.00} s = {result.IngestPointsPerSecond:N0} points/s (load before: {result.LoadBefore})");

            await target.LoadDaySeriesAsync(ct);
            var disk = await target.MeasureDiskAsync(ct);
            result.Disk = disk;
            result.BytesPerPoint = disk.Bytes / (double)_options.TotalPoints;
            Console.WriteLine($"   disk: {disk.Bytes:N0} bytes = {result.BytesPerPoint:0.000} bytes/point ({disk.What})");

            result.VerifyProblems.AddRange(expected.CheckAggregate(await target.AggregateAsync(ct)));
            result.VerifyProblems.AddRange(expected.CheckLatest(await target.LatestAsync(_options.LatestTags, ct)));
            Console.WriteLine(result.VerifyProblems.Count == 0 ? "   results verified against the generated data" : "   VERIFY FAILED: " + string.Join("; ", result.VerifyProblems));

            result.Aggregate = await TimeAsync(async c => await target.AggregateAsync(c), ct);
            foreach (var alt in target.AlternativeAggregates)
            {
                var problems = expected.CheckAggregate(await alt.Run(ct)).ToList();
                if (problems.Count > 0)
                {
                    result.Notes.Add($"aggregation form '{alt.Form}' returned a wrong answer, not used: {problems[0]}");
                    continue;
                }

                var l = await TimeAsync(async c => await alt.Run(c), ct);
                bool faster = l.MedianMs < result.Aggregate.Value.MedianMs;
                result.Notes.Add($"aggregation with {alt.Form}: median {l.MedianMs:0.000} ms, p95 {l.P95Ms:0.000} ms; " +
                    $"with {target.AggregateForm}: median {result.Aggregate.Value.MedianMs:0.000} ms, p95 {result.Aggregate.Value.P95Ms:0.000} ms; " +
                    $"the table uses the faster: {(faster ? alt.Form : target.AggregateForm)}");
                if (faster)
                {
                    result.Aggregate = l;
                }
            }

            Console.WriteLine($"   aggregation 1 day -> 1,440 x 1 min: median {result.Aggregate.Value.MedianMs:0.000} ms, p95 {result.Aggregate.Value.P95Ms:0.000} ms");
            result.Latest = await TimeAsync(async c => await target.LatestAsync(_options.LatestTags, c), ct);
            Console.WriteLine($"   latest of {_options.LatestTags:N0} tags: median {result.Latest.Value.MedianMs:0.000} ms, p95 {result.Latest.Value.P95Ms:0.000} ms");
            foreach (var q in target.ExtraQueries)
            {
                var l = await TimeAsync(q.Run, ct);
                result.Extras.Add((q.Name, l));
                Console.WriteLine($"   {q.Name}: median {l.MedianMs:0.000} ms, p95 {l.P95Ms:0.000} ms");
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex)
        {
            result.Error = $"{ex.GetType().Name}: {ex.Message}";
            Console.WriteLine($"   FAILED: {result.Error}");
        }
        finally
        {
            result.Notes.AddRange(target.Notes);
            await target.DisposeAsync();
        }

        return result;
    }

    private async Task<Latency> TimeAsync(Func<CancellationToken, Task> query, CancellationToken ct)
    {
        for (int i = 0; i < _options.Warmup; i++)
        {
            await query(ct);
        }

        var samples = new List<double>(_options.Repetitions);
        for (int i = 0; i < _options.Repetitions; i++)
        {
            long start = Stopwatch.GetTimestamp();
            await query(ct);
            samples.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }

        return Latency.From(samples);
    }
}
