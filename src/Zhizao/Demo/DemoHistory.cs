using System.Diagnostics;
using Zhizao.Core;
using Zhizao.Health;
using Zhizao.Hosting;
using Zhizao.Simulator;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Demo;

/// <summary>
/// "Last week" of the demo plant's pumps and compressors: a simulated run-to-failure history (<see cref="FleetHistory"/>,
/// 30-second samples) written into the store before the live feed starts, once per data directory, so a newcomer sees
/// maintenance KPIs with failures in them and remaining-useful-life estimates at once. The RUL models of those types
/// are then trained on it exactly as a user would train them (<see cref="RulService.Train"/>) unless they exist.
/// </summary>
internal sealed partial class DemoHistory(MetadataStore meta, ITimeSeriesStore store, RulService rul, PlatformOptions options, ILogger<DemoHistory> logger)
{
    public const string MarkerKind = "demo-history";
    public static readonly string[] Types = ["pump", "air-compressor"];

    public async Task WriteAsync(VirtualFactory live, CancellationToken ct)
    {
        if (options.DemoHistoryDays <= 0 || meta.ListDocuments(MarkerKind).Any())
        {
            return;
        }

        var machines = live.Machines.Where(m => Types.Contains(m.TypeId)).Select(m => m.Id).ToList();
        long to = live.StartNs - (live.StartNs % (30 * Time.NanosPerSecond));
        long from = to - (long)(options.DemoHistoryDays * 86_400 * Time.NanosPerSecond);
        var sw = Stopwatch.StartNew();
        long points = 0;
        var batch = new PointBatch(65_536);
        var history = new FleetHistory { Seed = options.DemoSeed + 1, MachineIds = machines, FromNs = from, ToNs = to, StepNs = 30 * Time.NanosPerSecond };
        var truth = await Task.Run(() => history.Generate(samples =>
        {
            ct.ThrowIfCancellationRequested();
            batch.Clear();
            foreach (var s in samples)
            {
                int id = store.GetOrCreateSeries(s.SeriesKey, s.Value.Kind).Id;
                if (s.Value.Kind == ValueKind.Float64)
                {
                    batch.Add(id, s.TimestampNs, s.Value.AsDouble);
                }
                else
                {
                    batch.Add(id, s.TimestampNs, s.Value.AsInt64);
                }
            }

            store.WriteAsync(batch, ct).AsTask().GetAwaiter().GetResult();
            points += samples.Count;
        }), ct);
        meta.SaveDocument(MarkerKind, "history", $"{{\"from\":{from},\"to\":{to},\"machines\":{machines.Count},\"failures\":{truth.Count(e => e.FailureNs is not null)}}}");
        LogHistory(logger, options.DemoHistoryDays, machines.Count, points, truth.Count(e => e.FailureNs is not null), sw.Elapsed.TotalSeconds);

        _ = Task.Run(() =>
        {
            foreach (string type in Types)
            {
                if (rul.Status().Any(s => s.TypeId == type && s.Recipe is not null))
                {
                    continue;
                }

                try
                {
                    var status = rul.Train(type, from, to);
                    LogTrained(logger, type, status.TrainingRuns);
                }
                catch (Exception e) when (e is ZhizaoException or ArgumentException)
                {
                    LogTrainFailed(logger, type, e.Message);
                }
            }
        }, ct);
    }

    [LoggerMessage(EventId = 210, Level = LogLevel.Information, Message = "Virtual factory: wrote {Days} days of history of {Machines} pumps and compressors ({Points} points, {Failures} failures) in {Seconds:0.0} s (--demo-history-days 0 turns this off)")]
    private static partial void LogHistory(ILogger logger, double days, int machines, long points, int failures, double seconds);

    [LoggerMessage(EventId = 211, Level = LogLevel.Information, Message = "Virtual factory: trained the remaining-useful-life model of {Type} on the history ({Runs} runs to failure)")]
    private static partial void LogTrained(ILogger logger, string type, int runs);

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning, Message = "Virtual factory: could not train the remaining-useful-life model of {Type}: {Reason}")]
    private static partial void LogTrainFailed(ILogger logger, string type, string reason);
}
