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
        });
        var report = engine.Recovery;
        LogRecovered(logger, directory, report.ToString());
        return engine;
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Storage opened at {Directory}: {Report}")]
    private static partial void LogRecovered(ILogger logger, string directory, string report);
}

/// <summary>Drops data older than the retention period, once a minute.</summary>
internal sealed partial class RetentionService(ITimeSeriesStore store, PlatformOptions options, ILogger<RetentionService> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.Retention is not { } keep)
        {
            return;
        }

        using var timer = new PeriodicTimer(TimeSpan.FromMinutes(1));
        do
        {
            long cutoff = Core.Time.NowNs() - (keep.Ticks * 100);
            int removed = store.ApplyRetention(cutoff);
            if (removed > 0)
            {
                LogRetention(logger, removed, Core.Time.ToIso(cutoff));
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken));
    }

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "Retention removed {Blocks} blocks older than {Cutoff}")]
    private static partial void LogRetention(ILogger logger, int blocks, string cutoff);
}
