namespace Zhizao.Storage;

/// <summary>A WAL segment whose tail was cut at <see cref="Offset"/>: the bytes from there on were not a valid record.</summary>
public readonly record struct WalTailDrop(string File, long Offset, long BytesDropped, string Reason);

/// <summary>A file set aside (renamed to *.corrupt) or a part of one left out, with the reason.</summary>
public readonly record struct QuarantinedFile(string File, string Reason);

/// <summary>What <see cref="TimeSeriesEngine.Open"/> found and did. Empty lists mean a clean start.</summary>
public sealed class RecoveryReport
{
    internal RecoveryReport(
        long walRecordsReplayed, long walPointsReplayed, int blockFilesLoaded,
        IReadOnlyList<WalTailDrop> walTailDrops, IReadOnlyList<QuarantinedFile> quarantined, IReadOnlyList<string> ignoredFiles)
    {
        WalRecordsReplayed = walRecordsReplayed;
        WalPointsReplayed = walPointsReplayed;
        BlockFilesLoaded = blockFilesLoaded;
        WalTailDrops = walTailDrops;
        Quarantined = quarantined;
        IgnoredFiles = ignoredFiles;
    }

    public long WalRecordsReplayed { get; }
    public long WalPointsReplayed { get; }
    public int BlockFilesLoaded { get; }

    /// <summary>Truncated or corrupt WAL tails that were cut off (the dropped bytes are kept beside as *.corrupt).</summary>
    public IReadOnlyList<WalTailDrop> WalTailDrops { get; }

    /// <summary>Block files or chunks found corrupt; whole files are renamed to *.corrupt, intact chunks are kept.</summary>
    public IReadOnlyList<QuarantinedFile> Quarantined { get; }

    /// <summary>Files in the data directory that are not the engine's; left untouched.</summary>
    public IReadOnlyList<string> IgnoredFiles { get; }

    public bool IsClean => WalTailDrops.Count == 0 && Quarantined.Count == 0;

    public override string ToString() =>
        $"replayed {WalRecordsReplayed} WAL records ({WalPointsReplayed} points), {BlockFilesLoaded} block files, "
        + $"{WalTailDrops.Count} WAL tails cut, {Quarantined.Count} quarantined, {IgnoredFiles.Count} ignored";
}
