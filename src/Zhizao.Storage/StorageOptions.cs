namespace Zhizao.Storage;

/// <summary>When the write-ahead log is forced to stable storage. See README.md, "Durability".</summary>
public enum FsyncPolicy
{
    /// <summary>Every acknowledged write was fsynced: one fsync per group commit (the default).</summary>
    Always = 0,

    /// <summary>The WAL is written but never fsynced; a crash of the machine (not the process) may lose acknowledged
    /// points. For tests and throwaway benchmarks only.</summary>
    Never = 1,
}

/// <summary>Settings of <see cref="TimeSeriesEngine"/>. Every value is validated by <see cref="TimeSeriesEngine.Open"/>.</summary>
public sealed record StorageOptions
{
    /// <summary>A point older than the series' newest timestamp minus this window is rejected. Default 1 hour.</summary>
    public TimeSpan OutOfOrderWindow { get; init; } = TimeSpan.FromHours(1);

    /// <summary>The head is sealed into blocks once it holds this many points. Default 8 million.</summary>
    public long MaxHeadPoints { get; init; } = 8_000_000;

    /// <summary>The head is sealed once its oldest unsealed write is this old. Default 15 minutes.</summary>
    public TimeSpan MaxHeadAge { get; init; } = TimeSpan.FromMinutes(15);

    /// <summary>How often the background loop checks the head and retention. Default 1 second.</summary>
    public TimeSpan MaintenanceInterval { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>Background sealing and retention; off lets tests drive <see cref="TimeSeriesEngine.Flush"/> alone.</summary>
    public bool BackgroundMaintenance { get; init; } = true;

    public FsyncPolicy Fsync { get; init; } = FsyncPolicy.Always;

    /// <summary>Data older than now minus this is dropped by the background loop and refused by writes. Null keeps all.</summary>
    public TimeSpan? RetentionPeriod { get; init; }

    /// <summary>A WAL segment is closed and a new one started once it grows past this size. Default 64 MiB.</summary>
    public long WalSegmentBytes { get; init; } = 64L << 20;

    /// <summary>Width of a block partition: a block file holds points of one partition. Default 2 hours.</summary>
    public TimeSpan PartitionDuration { get; init; } = TimeSpan.FromHours(2);

    /// <summary>Most points in one compressed chunk of one series. Default 8192.</summary>
    public int MaxChunkPoints { get; init; } = 8192;

    internal void Validate()
    {
        if (OutOfOrderWindow < TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(OutOfOrderWindow), OutOfOrderWindow, "must not be negative");
        }

        if (MaxHeadPoints < 1)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxHeadPoints), MaxHeadPoints, "must be at least 1");
        }

        if (MaxHeadAge <= TimeSpan.Zero || MaintenanceInterval <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxHeadAge), "head age and maintenance interval must be positive");
        }

        if (RetentionPeriod is { } r && r <= TimeSpan.Zero)
        {
            throw new ArgumentOutOfRangeException(nameof(RetentionPeriod), r, "must be positive when set");
        }

        if (WalSegmentBytes < 4096)
        {
            throw new ArgumentOutOfRangeException(nameof(WalSegmentBytes), WalSegmentBytes, "must be at least 4096");
        }

        if (PartitionDuration < TimeSpan.FromSeconds(1))
        {
            throw new ArgumentOutOfRangeException(nameof(PartitionDuration), PartitionDuration, "must be at least 1 second");
        }

        if (MaxChunkPoints is < 16 or > 1 << 20)
        {
            throw new ArgumentOutOfRangeException(nameof(MaxChunkPoints), MaxChunkPoints, "must be within 16..1048576");
        }
    }
}
