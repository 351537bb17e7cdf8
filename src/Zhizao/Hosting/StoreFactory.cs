using Zhizao.Storage;

namespace Zhizao.Hosting;

/// <summary>Opens the embedded engine with the node's settings and reports what recovery found.</summary>
internal static partial class StoreFactory
{
    public static ITimeSeriesStore Open(string directory, PlatformOptions options, ILogger logger)
    {
        var engine = TimeSeriesEngine.Open(directory, new StorageOptions
        {
            OutOfOrderWindow = options.OutOfOrderWindow,
            RetentionPeriod = options.Retention,
            MaxHeadPoints = options.HeadFlushPoints,
        });
        var report = engine.Recovery;
        LogRecovered(logger, directory, report.ToString());
        foreach (string problem in report.WalTailDrops.Select(d => $"WAL {d.File}: cut at byte {d.Offset} ({d.BytesDropped} bytes dropped): {d.Reason}")
            .Concat(report.Quarantined.Select(q => $"quarantined {q.File}: {q.Reason}")))
        {
            LogRecoveryProblem(logger, problem);
        }

        return engine;
    }

    [LoggerMessage(EventId = 102, Level = LogLevel.Warning, Message = "Storage recovery: {Problem}")]
    private static partial void LogRecoveryProblem(ILogger logger, string problem);

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Storage opened at {Directory}: {Report}")]
    private static partial void LogRecovered(ILogger logger, string directory, string report);
}
