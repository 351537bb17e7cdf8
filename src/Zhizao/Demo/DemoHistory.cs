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
/// maintenance KPIs with failures in them and remaining-useful-life estimates at once. The history begins with a day
/// without started faults, its first hours sampled every second like the live feed; each machine's health model is
/// trained on its fault-free start (as a user would train it
/// on a period in which the machine ran normally) and the RUL models of the two types on the whole week
/// (<see cref="HealthService.Train"/>, <see cref="RulService.Train"/>), unless they exist.
/// </summary>
internal sealed partial class DemoHistory(MetadataStore meta, ITimeSeriesStore store, RulService rul, HealthService health, PlatformOptions options, ILogger<DemoHistory> logger)
{
    public const string MarkerKind = "demo-history";
    public static readonly string[] Types = ["pump", "air-compressor"];

    /// <summary>Hours of 1-second history (after a first hour of warm-up) each health model learns from: the same
    /// time of day as the live plant's next hours, sampled like the live feed.</summary>
    public const int HealthTrainingHours = 6;

    /// <summary>The live simulator's machines start cold (temperatures, network pressure): health scoring starts after this.</summary>
    public static readonly long WarmUpNs = 5 * 60 * Time.NanosPerSecond;

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
        var history = new FleetHistory { Seed = options.DemoSeed, MachineIds = machines, FromNs = from, ToNs = to, StepNs = 30 * Time.NanosPerSecond, HealthyHours = 24, FineHours = HealthTrainingHours + 1 };
        var truth = await Task.Run(() => history.Generate(samples =>
        {
            ct.ThrowIfCancellationRequested();
            batch.Clear();
            foreach (var s in samples)
            {
                batch.Add(store.GetOrCreateSeries(s.SeriesKey, s.Value.Kind).Id, s.TimestampNs, s.Value);
            }

            store.WriteAsync(batch, ct).AsTask().GetAwaiter().GetResult();
            points += samples.Count;
        }), ct);
        meta.SaveDocument(MarkerKind, "history", $"{{\"from\":{from},\"to\":{to},\"machines\":{machines.Count},\"failures\":{truth.Count(e => e.FailureNs is not null)}}}");
        LogHistory(logger, options.DemoHistoryDays, machines.Count, points, truth.Count(e => e.FailureNs is not null), sw.Elapsed.TotalSeconds);

        _ = Task.Run(() =>
        {
            foreach (string machine in machines)
            {
                // the machine's fault-free start: up to the first fault or breakdown of the plant's own, at most a day
                long firstEvent = truth.Where(e => e.MachineId == machine).Select(e => e.OnsetNs).DefaultIfEmpty(to).Min();
                long trainFrom = from + (3600 * Time.NanosPerSecond), trainTo = Math.Min(firstEvent, trainFrom + (HealthTrainingHours * 3600 * Time.NanosPerSecond));
                if (trainTo - trainFrom < 2 * 3600 * Time.NanosPerSecond || health.Status().Any(h => h.EquipmentId == machine && h.Model is not null))
                {
                    continue;
                }

                try
                {
                    health.Train(machine, trainFrom, trainTo, scoreFromNs: live.StartNs + WarmUpNs); // the simulator's machines start cold
                }
                catch (Exception e) when (e is ZhizaoException or ArgumentException)
                {
                    LogTrainFailed(logger, machine, e.Message);
                }
            }

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

    [LoggerMessage(EventId = 212, Level = LogLevel.Warning, Message = "Virtual factory: could not train the model of {Type}: {Reason}")]
    private static partial void LogTrainFailed(ILogger logger, string type, string reason);
}
