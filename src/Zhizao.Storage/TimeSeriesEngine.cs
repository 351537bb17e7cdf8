using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text;
using Zhizao.Core;
using Zhizao.Storage.Engine;

namespace Zhizao.Storage;

/// <summary>
/// The embedded time-series engine: WAL with group commit, in-memory head, compressed columnar block files, retention and
/// crash recovery. See README.md in this folder for the on-disk format and the durability policy.
/// </summary>
public sealed class TimeSeriesEngine : ITimeSeriesStore
{
    private readonly string _dir;
    private readonly StorageOptions _opt;
    private readonly long _windowNs;
    private readonly long _partitionNs;

    // series catalog: _series grows copy-on-write; entries below _seriesCount are immutable once published
    private readonly object _catalogLock = new();
    private readonly Dictionary<string, SeriesState> _byKey = new(StringComparer.Ordinal);
    private SeriesState[] _series = new SeriesState[64];
    private int _seriesCount;
    private int _catalogPersisted;

    // commit queue, drained by the WAL thread
    private readonly object _queueLock = new();
    private List<WalItem> _queue = [];
    private bool _stopping;
    private volatile bool _crashed;
    private volatile Exception? _fault;

    // lock order: _sealLock → _commitLock → _headLock; _catalogLock → _queueLock
    private readonly object _sealLock = new();
    private readonly object _commitLock = new();
    private readonly object _headLock = new();
    private Head _head = new();
    private Head[] _frozen = [];
    private BlockFile[] _blocks = [];
    private long _nextBlockSeq;

    private readonly WalWriter _wal;
    private readonly Thread _walThread;
    private readonly Thread? _maintThread;
    private readonly object _maintGate = new();
    private bool _maintStop;
    private bool _maintPending;
    private int _disposed;

    private TimeSeriesEngine(string dir, StorageOptions opt)
    {
        _dir = dir;
        _opt = opt;
        _windowNs = opt.OutOfOrderWindow.Ticks * 100;
        _partitionNs = opt.PartitionDuration.Ticks * 100;

        var quarantined = new List<QuarantinedFile>();
        var ignored = new List<string>();
        var drops = new List<WalTailDrop>();
        var walSegments = new List<(long Seq, string Path)>();
        var blockFiles = new List<(long Seq, string Path)>();
        long maxBlockSeq = 0;
        foreach (string path in Directory.EnumerateFiles(dir))
        {
            string name = Path.GetFileName(path);
            if (name.EndsWith(Durable.TempExtension, StringComparison.Ordinal))
            {
                File.Delete(path); // an interrupted atomic write; its content is still in the WAL
            }
            else if (WalWriter.TryParseSeq(name, out long ws))
            {
                walSegments.Add((ws, path));
            }
            else if (BlockFile.TryParseSeq(name, out long bs))
            {
                blockFiles.Add((bs, path));
                maxBlockSeq = Math.Max(maxBlockSeq, bs);
            }
            else if (name.EndsWith(".corrupt", StringComparison.Ordinal))
            {
                if (BlockFile.TryParseSeq(name[..^".corrupt".Length], out long cs))
                {
                    maxBlockSeq = Math.Max(maxBlockSeq, cs);
                }
            }
            else if (name != Catalog.FileName)
            {
                ignored.Add(name);
            }
        }

        // 1. catalog
        List<(int Id, ValueKind Kind, string Key)> cat = Catalog.Load(dir, out string? catProblem);
        if (catProblem is not null)
        {
            string catPath = Path.Combine(dir, Catalog.FileName);
            File.Copy(catPath, catPath + ".corrupt", overwrite: true);
            quarantined.Add(new QuarantinedFile(catPath, $"series catalog: {catProblem}; series before it kept"));
        }

        foreach ((int id, ValueKind kind, string key) in cat)
        {
            AddRecoveredSeries(id, kind, key);
        }

        _catalogPersisted = catProblem is null ? _seriesCount : -1;

        // 2. blocks
        blockFiles.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        var blocks = new List<BlockFile>();
        foreach ((long seq, string path) in blockFiles)
        {
            BlockFile? bf = LoadBlock(path, seq, quarantined);
            if (bf is not null)
            {
                blocks.Add(bf);
                foreach (ChunkEntry e in bf.Entries)
                {
                    if (e.SeriesId >= _seriesCount)
                    {
                        AddRecoveredSeries(e.SeriesId, e.Kind, null);
                    }
                }
            }
        }

        _blocks = [.. blocks];
        _nextBlockSeq = maxBlockSeq + 1;
        RecoverLatestFromBlocks(quarantined);

        // 3. WAL
        walSegments.Sort((a, b) => a.Seq.CompareTo(b.Seq));
        long records = 0;
        long points = 0;
        var existing = new List<(long, long)>();
        var scratch = new PointBatch(1024);
        foreach ((long seq, string path) in walSegments)
        {
            (long r, long p, long bytes) = ReplaySegment(path, scratch, drops);
            records += r;
            points += p;
            existing.Add((seq, bytes));
        }

        long firstSeq = walSegments.Count == 0 ? 1 : walSegments[^1].Seq + 1;
        _wal = new WalWriter(dir, firstSeq, existing, opt.Fsync == FsyncPolicy.Always, opt.WalSegmentBytes);
        Recovery = new RecoveryReport(records, points, _blocks.Length, drops, quarantined, ignored);

        _walThread = new Thread(WalLoop) { IsBackground = true, Name = "zhizao-wal" };
        _walThread.Start();
        if (opt.BackgroundMaintenance)
        {
            _maintThread = new Thread(MaintenanceLoop) { IsBackground = true, Name = "zhizao-maintenance" };
            _maintThread.Start();
        }
    }

    /// <summary>Opens (creating if needed) the store in <paramref name="directory"/> and recovers it.</summary>
    public static TimeSeriesEngine Open(string directory, StorageOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new StorageOptions();
        options.Validate();
        Directory.CreateDirectory(directory);
        return new TimeSeriesEngine(Path.GetFullPath(directory), options);
    }

    /// <summary>What was found and repaired on open.</summary>
    public RecoveryReport Recovery { get; }

    /// <summary>The last exception of the background loop, if any (sealing or retention failed; data stays in the WAL).</summary>
    public Exception? LastMaintenanceError { get; private set; }

    // ---------------------------------------------------------------- series

    public SeriesInfo GetOrCreateSeries(string key, ValueKind kind)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        if (kind is < ValueKind.Float64 or > ValueKind.String)
        {
            throw new InvalidInputException($"unknown value kind {(int)kind}", nameof(kind));
        }

        if (Encoding.UTF8.GetByteCount(key) > WalFormat.MaxKeyBytes)
        {
            throw new InvalidInputException($"series key longer than {WalFormat.MaxKeyBytes} UTF-8 bytes", nameof(key));
        }

        ThrowIfUnusable();
        lock (_catalogLock)
        {
            if (_byKey.TryGetValue(key, out SeriesState? s))
            {
                return s.Kind == kind ? s.Info : throw new ConflictException($"series '{key}' exists as {s.Kind}, not {kind}");
            }

            s = Publish(_seriesCount, kind, key);
            int len = WalFormat.EncodeSeries(s.Id, kind, key, out byte[] buf);
            Enqueue(new WalItem { Buffer = buf, Length = len });
            return s.Info;
        }
    }

    public bool TryGetSeries(string key, out SeriesInfo info)
    {
        lock (_catalogLock)
        {
            if (key is not null && _byKey.TryGetValue(key, out SeriesState? s))
            {
                info = s.Info;
                return true;
            }
        }

        info = default;
        return false;
    }

    public SeriesInfo GetSeries(int id) => State(id).Info;

    public IReadOnlyList<SeriesInfo> ListSeries(string? prefix = null)
    {
        var list = new List<SeriesInfo>();
        int n = Volatile.Read(ref _seriesCount);
        SeriesState[] arr = Volatile.Read(ref _series);
        for (int i = 0; i < n; i++)
        {
            if (prefix is null || arr[i].Key.StartsWith(prefix, StringComparison.Ordinal))
            {
                list.Add(arr[i].Info);
            }
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        return list;
    }

    private SeriesState State(int id)
    {
        int n = Volatile.Read(ref _seriesCount);
        if ((uint)id >= (uint)n)
        {
            throw new NotFoundException($"series id {id} does not exist");
        }

        return Volatile.Read(ref _series)[id];
    }

    private SeriesState Publish(int id, ValueKind kind, string key)
    {
        var s = new SeriesState(id, key, kind);
        SeriesState[] arr = _series;
        if (id >= arr.Length)
        {
            var next = new SeriesState[Math.Max(id + 1, arr.Length * 2)];
            Array.Copy(arr, next, _seriesCount);
            next[id] = s;
            Volatile.Write(ref _series, next);
        }
        else
        {
            arr[id] = s;
        }

        _byKey[key] = s;
        Volatile.Write(ref _seriesCount, id + 1);
        return s;
    }

    private void AddRecoveredSeries(int id, ValueKind kind, string? key)
    {
        for (int gap = _seriesCount; gap < id; gap++)
        {
            Publish(gap, ValueKind.Float64, $"__lost/{gap}");
        }

        if (id < _seriesCount)
        {
            return;
        }

        key ??= $"__lost/{id}";
        if (_byKey.ContainsKey(key))
        {
            key = $"__lost/{id}";
        }

        Publish(id, kind, key);
    }

    // ---------------------------------------------------------------- writes

    private sealed class WalItem
    {
        public byte[] Buffer = [];
        public int Length;
        public PointBatch? Batch;
        public bool[]? Accepted;
        public int AcceptedCount;
        public TaskCompletionSource? Done;
    }

    public ValueTask<WriteResult> WriteAsync(PointBatch batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(batch);
        cancellationToken.ThrowIfCancellationRequested();
        ThrowIfUnusable();
        int n = batch.Count;
        if (n == 0)
        {
            return ValueTask.FromResult(new WriteResult(0, 0, null));
        }

        byte[] buf = EncodeBatch(batch, out int len, out bool[]? mask, out int rejected, out string? reason);
        int accepted = n - rejected;
        if (accepted == 0)
        {
            ArrayPool<byte>.Shared.Return(buf);
            ReturnMask(mask);
            return ValueTask.FromResult(new WriteResult(0, rejected, reason));
        }

        var item = new WalItem
        {
            Buffer = buf,
            Length = len,
            Batch = batch,
            Accepted = mask,
            AcceptedCount = accepted,
            Done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously),
        };
        Enqueue(item);
        return AwaitCommit(item, new WriteResult(accepted, rejected, reason));
    }

    /// <summary>
    /// One pass over the batch: validates every point, applies the out-of-order window and retention, and encodes the
    /// accepted points as a framed WAL points record (see <see cref="WalFormat"/>) into a pooled buffer.
    /// </summary>
    private byte[] EncodeBatch(PointBatch batch, out int length, out bool[]? mask, out int rejected, out string? reason)
    {
        int n = batch.Count;
        int count = Volatile.Read(ref _seriesCount);
        SeriesState[] series = Volatile.Read(ref _series);
        long retentionCutoff = _opt.RetentionPeriod is { } rp ? Time.NowNs() - (rp.Ticks * 100) : long.MinValue;
        ReadOnlySpan<int> ids = batch.SeriesIds;
        ReadOnlySpan<long> ts = batch.Timestamps;
        ReadOnlySpan<long> vals = batch.Values;
        bool hasText = batch.HasText;
        long bound = WalFormat.FrameHeader + 5 + ((long)n * 25);
        if (hasText)
        {
            for (int i = 0; i < n; i++)
            {
                bound += (long)(batch.TextAt(i)?.Length ?? 0) * 3;
            }
        }

        if (bound > WalFormat.MaxRecordBytes)
        {
            throw new InvalidInputException($"batch encodes to more than {WalFormat.MaxRecordBytes} bytes; split it", nameof(batch));
        }

        byte[] buf = ArrayPool<byte>.Shared.Rent((int)bound);
        mask = null;
        rejected = 0;
        reason = null;
        try
        {
            ref byte p = ref MemoryMarshal.GetArrayDataReference(buf);
            int pos = WalFormat.FrameHeader;
            buf[pos] = WalFormat.TypePoints;
            pos += 5; // type, then the point count (fixed 4 bytes, written at the end)
            long prevTs = 0;
            long window = _windowNs;
            for (int i = 0; i < n; i++)
            {
                int id = ids[i];
                if ((uint)id >= (uint)count)
                {
                    throw new InvalidInputException($"unknown series id {id}", $"batch point {i}");
                }

                SeriesState s = series[id];
                ValueKind kind = s.Kind;
                if (hasText || kind == ValueKind.String)
                {
                    CheckText(batch, i, s);
                }

                long t = ts[i];
                long max = Volatile.Read(ref s.MaxTs);
                if ((t < max && max > long.MinValue + window && t < max - window) || t < retentionCutoff)
                {
                    if (mask is null)
                    {
                        mask = ArrayPool<bool>.Shared.Rent(n);
                        mask.AsSpan(0, i).Fill(true);
                    }

                    mask[i] = false;
                    rejected++;
                    reason ??= $"series {id} at {t}: " + (t < retentionCutoff ? "older than the retention period" : "older than the out-of-order window");
                    continue;
                }

                if (mask is not null)
                {
                    mask[i] = true;
                }

                pos += WalFormat.WriteVarint(ref Unsafe.Add(ref p, pos), (uint)id);
                pos += WalFormat.WriteVarint(ref Unsafe.Add(ref p, pos), Varint.ZigZag(unchecked(t - prevTs)));
                prevTs = t;
                switch (kind)
                {
                    case ValueKind.Float64:
                        Unsafe.WriteUnaligned(ref Unsafe.Add(ref p, pos), BitConverter.IsLittleEndian ? vals[i] : BinaryPrimitives.ReverseEndianness(vals[i]));
                        pos += 8;
                        break;
                    case ValueKind.Int64:
                        pos += WalFormat.WriteVarint(ref Unsafe.Add(ref p, pos), Varint.ZigZag(vals[i]));
                        break;
                    case ValueKind.Bool:
                        Unsafe.Add(ref p, pos++) = vals[i] != 0 ? (byte)1 : (byte)0;
                        break;
                    default:
                        string text = batch.TextAt(i)!;
                        int tlen = Encoding.UTF8.GetByteCount(text);
                        pos += WalFormat.WriteVarint(ref Unsafe.Add(ref p, pos), (uint)tlen);
                        pos += Encoding.UTF8.GetBytes(text, buf.AsSpan(pos));
                        break;
                }
            }

            BinaryPrimitives.WriteInt32LittleEndian(buf.AsSpan(WalFormat.FrameHeader + 1), n - rejected);
            WalFormat.Frame(buf, pos - WalFormat.FrameHeader);
            length = pos;
            return buf;
        }
        catch
        {
            ArrayPool<byte>.Shared.Return(buf);
            ReturnMask(mask);
            throw;
        }
    }

    private static async ValueTask<WriteResult> AwaitCommit(WalItem item, WriteResult result)
    {
        try
        {
            await item.Done!.Task.ConfigureAwait(false);
            return result;
        }
        finally
        {
            ReturnMask(item.Accepted);
        }
    }

    private static void CheckText(PointBatch batch, int i, SeriesState s)
    {
        string? text = batch.TextAt(i);
        if (s.Kind == ValueKind.String && text is null)
        {
            throw new InvalidInputException($"series {s.Id} ('{s.Key}') holds strings; the point has no text", $"batch point {i}");
        }

        if (s.Kind != ValueKind.String && text is not null)
        {
            throw new InvalidInputException($"series {s.Id} ('{s.Key}') holds {s.Kind}; the point is a string", $"batch point {i}");
        }
    }

    private static void ReturnMask(bool[]? mask)
    {
        if (mask is not null)
        {
            ArrayPool<bool>.Shared.Return(mask);
        }
    }

    private void Enqueue(WalItem item)
    {
        lock (_queueLock)
        {
            if (_stopping)
            {
                ArrayPool<byte>.Shared.Return(item.Buffer);
                throw new ObjectDisposedException(nameof(TimeSeriesEngine));
            }

            _queue.Add(item);
            if (_queue.Count == 1)
            {
                Monitor.Pulse(_queueLock);
            }
        }
    }

    /// <summary>
    /// The group-commit loop: take everything queued, one gathered write, one fsync; then apply the group to the head on
    /// another thread while the next group is written and fsynced, and acknowledge a group once it is applied. Groups
    /// are applied strictly in WAL order (apply N+1 starts after apply N ends), and a seal waits for the pending apply
    /// under the commit lock, so a sealed head always holds exactly the records of the segments it covers.
    /// </summary>
    private void WalLoop()
    {
        var records = new List<(byte[], int)>();
        while (true)
        {
            List<WalItem>? group = null;
            lock (_queueLock)
            {
                if (_queue.Count == 0 && _pendingGroup is null)
                {
                    while (_queue.Count == 0 && !_stopping)
                    {
                        Monitor.Wait(_queueLock);
                    }

                    if (_queue.Count == 0)
                    {
                        return;
                    }
                }

                if (_queue.Count > 0)
                {
                    group = _queue;
                    _queue = [];
                }
            }

            List<WalItem>? finished = null;
            Exception? finishedError = null;
            Exception? error = _crashed ? new TransientException("store crashed (test hook); write not durable") : _fault;
            lock (_commitLock)
            {
                if (group is not null && error is null)
                {
                    records.Clear();
                    foreach (WalItem it in group)
                    {
                        records.Add((it.Buffer, it.Length));
                    }

                    try
                    {
                        _wal.Append(records);
                    }
                    catch (Exception ex)
                    {
                        error = new TransientException("WAL write failed; the store no longer accepts writes", ex);
                        _fault = error;
                    }
                }

                // the previous group was being applied during this write and fsync
                WaitPendingApply();
                finished = _pendingGroup;
                finishedError = _pendingGroupError;
                _pendingGroup = null;
                _pendingGroupError = null;
                if (group is not null && error is null)
                {
                    List<WalItem> g = group;
                    _pendingGroup = g;
                    _pendingApply = Task.Run(() => ApplyCommitted(g));
                    group = null;
                    if (_wal.ShouldRotate)
                    {
                        try
                        {
                            _wal.Rotate();
                        }
                        catch (Exception ex)
                        {
                            _fault = new TransientException("WAL segment rotation failed", ex);
                        }
                    }
                }
            }

            if (finished is not null)
            {
                Complete(finished, finishedError);
            }

            if (group is not null)
            {
                Complete(group, error);
            }

            if (_head.PointCount >= _opt.MaxHeadPoints)
            {
                SignalMaintenance();
            }
        }
    }

    private List<WalItem>? _pendingGroup; // written and fsynced, being applied; guarded by _commitLock
    private Task<TransientException?>? _pendingApply;

    private TransientException? ApplyCommitted(List<WalItem> group)
    {
        try
        {
            lock (_headLock)
            {
                ApplyGroup(_head, group);
            }

            return null;
        }
        catch (Exception ex)
        {
            var error = new TransientException("applying committed points to the head failed; reopen the store", ex);
            _fault = error;
            return error;
        }
    }

    /// <summary>Waits for the apply in flight, if any, keeping its outcome for the writer thread. Caller holds
    /// <see cref="_commitLock"/>.</summary>
    private void WaitPendingApply()
    {
        Task<TransientException?>? t = _pendingApply;
        _pendingApply = null;
        if (t is not null)
        {
            _pendingGroupError = t.GetAwaiter().GetResult();
        }
    }

    private TransientException? _pendingGroupError;

    private static void Complete(List<WalItem> group, Exception? error)
    {
        foreach (WalItem it in group)
        {
            ArrayPool<byte>.Shared.Return(it.Buffer);
            if (error is null)
            {
                it.Done?.TrySetResult();
            }
            else
            {
                it.Done?.TrySetException(error);
            }
        }
    }

    /// <summary>
    /// Applies a committed group to the head in WAL order. Large groups are applied by one task per stripe of series
    /// ids, so each series still sees its points in WAL order and each latest-value seqlock keeps a single writer.
    /// </summary>
    private void ApplyGroup(Head head, List<WalItem> group)
    {
        head.EnsureSlots(Volatile.Read(ref _seriesCount));
        long total = 0;
        foreach (WalItem it in group)
        {
            total += it.Batch is null ? 0 : it.AcceptedCount;
        }

        if (total >= ParallelApplyPoints && ApplyStripes > 1)
        {
            Parallel.For(0, ApplyStripes, stripe => ApplyStripe(head, group, stripe, ApplyStripes - 1));
        }
        else
        {
            ApplyStripe(head, group, 0, 0);
        }

        head.AddPoints(total);
    }

    private const int ParallelApplyPoints = 16_384;
    private static readonly int ApplyStripes = Environment.ProcessorCount >= 4 ? 4 : Environment.ProcessorCount >= 2 ? 2 : 1;

    private void ApplyStripe(Head head, List<WalItem> group, int stripe, int stripeMask)
    {
        SeriesState[] series = Volatile.Read(ref _series);
        foreach (WalItem it in group)
        {
            if (it.Batch is not null)
            {
                ApplyBatch(head, series, it.Batch, it.Accepted, stripe, stripeMask);
            }
        }
    }

    private static void ApplyBatch(Head head, SeriesState[] series, PointBatch batch, bool[]? mask, int stripe, int stripeMask)
    {
        ReadOnlySpan<int> ids = batch.SeriesIds;
        ReadOnlySpan<long> ts = batch.Timestamps;
        ReadOnlySpan<long> vals = batch.Values;
        bool texts = batch.HasText;
        for (int i = 0; i < ids.Length; i++)
        {
            int id = ids[i];
            if ((id & stripeMask) != stripe || (mask is not null && !mask[i]))
            {
                continue;
            }

            string? text = texts ? batch.TextAt(i) : null;
            head.Slot(id).Append(ts[i], vals[i], text);
            series[id].OfferLatest(ts[i], vals[i], text);
        }
    }

    // ---------------------------------------------------------------- reads

    public IReadOnlyList<DataPoint> ReadRange(int seriesId, long fromNs, long toNs, int limit = int.MaxValue)
    {
        SeriesState s = State(seriesId);
        var result = new List<DataPoint>();
        if (fromNs >= toNs || limit <= 0)
        {
            return result;
        }

        var v = new ReadVisitor { Out = result, Limit = limit, Kind = s.Kind };
        RunScan(s, fromNs, toNs, ref v);
        return result;
    }

    /// <summary>
    /// Buckets aligned to multiples of <paramref name="bucketNs"/> since the epoch. Bool counts as 0/1; String series
    /// throw <see cref="InvalidInputException"/> (read them with <see cref="ReadRange"/>).
    /// </summary>
    public IReadOnlyList<AggregateBucket> Aggregate(int seriesId, long fromNs, long toNs, long bucketNs)
    {
        SeriesState s = State(seriesId);
        if (bucketNs <= 0)
        {
            throw new InvalidInputException("bucket width must be positive", nameof(bucketNs));
        }

        if (s.Kind == ValueKind.String)
        {
            throw new InvalidInputException($"series {seriesId} ('{s.Key}') holds strings, which cannot be aggregated", nameof(seriesId));
        }

        var result = new List<AggregateBucket>();
        if (fromNs >= toNs)
        {
            return result;
        }

        var v = new AggregateVisitor { Out = result, BucketNs = bucketNs, Kind = s.Kind };
        RunScan(s, fromNs, toNs, ref v);
        v.Finish();
        return result;
    }

    private void RunScan<TV>(SeriesState s, long from, long to, ref TV visitor)
        where TV : struct, IPointVisitor
    {
        BlockFile[] blocks;
        Head[] frozen;
        var sources = new List<Source>();
        var runs = new List<PointRun>(2);
        lock (_headLock)
        {
            blocks = _blocks;
            frozen = _frozen;
            foreach (Head f in frozen)
            {
                runs.Add(f.CopyRange(s.Id, from, to));
            }

            runs.Add(_head.CopyRange(s.Id, from, to));
        }

        try
        {
            int rank = 0;
            foreach (BlockFile bf in blocks)
            {
                if (bf.MaxT < from || bf.MinT >= to)
                {
                    rank++;
                    continue;
                }

                (int start, int end) = bf.RangeOf(s.Id);
                for (int i = start; i < end; i++)
                {
                    ref ChunkEntry e = ref bf.Entries[i];
                    if (e.MaxT >= from && e.MinT < to)
                    {
                        sources.Add(new Source { File = bf, Entry = i, MinT = e.MinT, MaxT = e.MaxT, Rank = rank });
                    }
                }

                rank++;
            }

            for (int i = 0; i < runs.Count; i++)
            {
                PointRun r = runs[i];
                if (r.IsEmpty)
                {
                    continue;
                }

                r.SortDedupe();
                runs[i] = r;
                sources.Add(new Source { Run = r, MinT = r.Ts[0], MaxT = r.Ts[r.Count - 1], Rank = rank + i });
            }

            Scan.Run(sources, from, to, s.Kind, ref visitor);
        }
        finally
        {
            foreach (PointRun r in runs)
            {
                r.Return();
            }
        }
    }

    public bool TryGetLatest(int seriesId, out DataPoint point)
    {
        int n = Volatile.Read(ref _seriesCount);
        if ((uint)seriesId >= (uint)n)
        {
            point = default;
            return false;
        }

        return Volatile.Read(ref _series)[seriesId].TryGetLatest(out point);
    }

    // ---------------------------------------------------------------- sealing, retention

    public void Flush()
    {
        ThrowIfUnusable();
        Seal();
    }

    private void Seal()
    {
        lock (_sealLock)
        {
            Head[] frozen;
            long covered;
            int seriesCount;
            lock (_commitLock)
            {
                WaitPendingApply();
                if (_fault is not null)
                {
                    throw _fault;
                }

                if (_head.PointCount == 0 && _frozen.Length == 0 && !_wal.HasClosedSegments && _wal.CurrentBytes == 0
                    && _catalogPersisted == _seriesCount)
                {
                    return;
                }

                covered = _wal.Rotate();
                lock (_headLock)
                {
                    frozen = [.. _frozen, _head];
                    _frozen = frozen;
                    _head = new Head(frozen[^1], Volatile.Read(ref _seriesCount));
                }

                seriesCount = Volatile.Read(ref _seriesCount);
            }

            if (seriesCount != _catalogPersisted)
            {
                Catalog.Write(_dir, Volatile.Read(ref _series), seriesCount);
                _catalogPersisted = seriesCount;
            }

            List<BlockFile> files = WriteBlocks(frozen);
            lock (_headLock)
            {
                _blocks = [.. _blocks, .. files];
                _frozen = [];
            }

            _wal.DeleteUpTo(covered);
        }
    }

    private List<BlockFile> WriteBlocks(Head[] frozen)
    {
        Head source = frozen[0];
        if (frozen.Length > 1)
        {
            // an earlier seal failed: merge oldest first so that later writes win on equal timestamps
            source = new Head();
            foreach (Head f in frozen)
            {
                for (int id = 0; id < f.SeriesSlots; id++)
                {
                    ref SeriesHead h = ref f.Slot(id);
                    for (int i = 0; i < h.Count; i++)
                    {
                        source.Append(id, h.Ts[i], h.Vals[i], h.Texts?[i]);
                    }
                }
            }
        }

        var writers = new SortedDictionary<long, BlockFile.BlockWriter>();
        var files = new List<BlockFile>();
        SeriesState[] series = Volatile.Read(ref _series);
        try
        {
            for (int id = 0; id < source.SeriesSlots; id++)
            {
                ref SeriesHead h = ref source.Slot(id);
                if (h.Count == 0)
                {
                    continue;
                }

                // sorted on a copy: readers may still be copying from the frozen head until the blocks are registered
                var run = PointRun.Rent(h.Count, h.Texts is not null);
                h.Ts.AsSpan(0, h.Count).CopyTo(run.Ts);
                h.Vals.AsSpan(0, h.Count).CopyTo(run.Vals);
                h.Texts?.AsSpan(0, h.Count).CopyTo(run.Texts);
                run.Count = h.Count;
                run.SortDedupe();
                ValueKind kind = series[id].Kind;
                int i = 0;
                while (i < run.Count)
                {
                    long part = FloorDiv(run.Ts[i], _partitionNs);
                    long partEnd = part >= (long.MaxValue / _partitionNs) - 1 ? long.MaxValue : (part + 1) * _partitionNs;
                    int limit = (int)Math.Min(run.Count, (long)i + _opt.MaxChunkPoints);
                    int j = i + 1;
                    while (j < limit && run.Ts[j] < partEnd)
                    {
                        j++;
                    }

                    if (!writers.TryGetValue(part, out BlockFile.BlockWriter? w))
                    {
                        w = new BlockFile.BlockWriter();
                        writers.Add(part, w);
                    }

                    w.AddChunk(id, kind, run.Ts.AsSpan(i, j - i), run.Vals.AsSpan(i, j - i),
                        run.Texts is null ? [] : run.Texts.AsSpan(i, j - i));
                    i = j;
                }

                run.Return();
            }

            foreach (BlockFile.BlockWriter w in writers.Values)
            {
                long seq = _nextBlockSeq++;
                string path = Path.Combine(_dir, BlockFile.FileName(seq));
                w.WriteTo(path);
                var bad = new List<string>();
                files.Add(BlockFile.Open(path, seq, bad));
                if (bad.Count > 0)
                {
                    throw new IOException($"{path} failed verification right after it was written: {bad[0]}");
                }
            }

            return files;
        }
        catch
        {
            foreach (BlockFile f in files)
            {
                f.Dispose();
            }

            throw;
        }
        finally
        {
            foreach (BlockFile.BlockWriter w in writers.Values)
            {
                w.Dispose();
            }
        }
    }

    private static long FloorDiv(long a, long b)
    {
        long q = a / b;
        return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
    }

    public int ApplyRetention(long cutoffNs)
    {
        ThrowIfUnusable();
        lock (_sealLock)
        {
            var doomed = new List<BlockFile>();
            lock (_headLock)
            {
                var kept = new List<BlockFile>(_blocks.Length);
                foreach (BlockFile b in _blocks)
                {
                    (b.MaxT < cutoffNs ? doomed : kept).Add(b);
                }

                _blocks = [.. kept];
            }

            foreach (BlockFile b in doomed)
            {
                b.Dispose();
                File.Delete(b.Path);
            }

            if (doomed.Count > 0)
            {
                Durable.SyncDirectory(_dir);
            }

            lock (_commitLock)
            {
                // no apply may run while latest values are cleared: each latest entry has a single writer
                WaitPendingApply();
                lock (_headLock)
                {
                    _head.DropBefore(cutoffNs);
                    foreach (Head f in _frozen)
                    {
                        f.DropBefore(cutoffNs);
                    }
                }

                int n = Volatile.Read(ref _seriesCount);
                SeriesState[] arr = Volatile.Read(ref _series);
                for (int i = 0; i < n; i++)
                {
                    arr[i].ClearLatestBefore(cutoffNs);
                }
            }

            return doomed.Count;
        }
    }

    public StoreStats GetStats()
    {
        long head = 0;
        BlockFile[] blocks;
        lock (_headLock)
        {
            head = _head.PointCount;
            foreach (Head f in _frozen)
            {
                head += f.PointCount;
            }

            blocks = _blocks;
        }

        long points = 0;
        long bytes = 0;
        foreach (BlockFile b in blocks)
        {
            points += b.Points;
            bytes += b.Bytes;
        }

        long wal;
        lock (_commitLock)
        {
            wal = _wal.TotalBytes;
        }

        return new StoreStats(Volatile.Read(ref _seriesCount), head, points, bytes, wal, blocks.Length);
    }

    private void SignalMaintenance()
    {
        lock (_maintGate)
        {
            if (!_maintPending)
            {
                _maintPending = true;
                Monitor.Pulse(_maintGate);
            }
        }
    }

    private void MaintenanceLoop()
    {
        while (true)
        {
            lock (_maintGate)
            {
                if (!_maintStop && !_maintPending)
                {
                    Monitor.Wait(_maintGate, _opt.MaintenanceInterval);
                }

                if (_maintStop)
                {
                    return;
                }

                _maintPending = false;
            }

            try
            {
                bool seal;
                lock (_headLock)
                {
                    seal = _head.PointCount >= _opt.MaxHeadPoints
                        || (_head.PointCount > 0 && Environment.TickCount64 - _head.FirstWriteTicks >= (long)_opt.MaxHeadAge.TotalMilliseconds);
                }

                if (seal && _fault is null && !_crashed)
                {
                    Seal();
                }

                if (_opt.RetentionPeriod is { } rp && _fault is null && !_crashed)
                {
                    ApplyRetention(Time.NowNs() - (rp.Ticks * 100));
                }
            }
            catch (Exception ex)
            {
                LastMaintenanceError = ex;
            }
        }
    }

    // ---------------------------------------------------------------- recovery

    private BlockFile? LoadBlock(string path, long seq, List<QuarantinedFile> quarantined)
    {
        var bad = new List<string>();
        BlockFile? bf = null;
        try
        {
            bf = BlockFile.Open(path, seq, bad);
            if (bad.Count == 0)
            {
                return bf;
            }

            // keep the intact chunks: copy the original aside, rewrite the file without the bad chunks
            foreach (string b in bad)
            {
                quarantined.Add(new QuarantinedFile(path, $"{b}; original kept as {Path.GetFileName(path)}.corrupt, intact chunks kept"));
            }

            File.Copy(path, path + ".corrupt", overwrite: true);
            string tmp = path + ".rewrite";
            BlockFile.Rewrite(bf, tmp);
            bf.Dispose();
            bf = null;
            File.Move(tmp, path, overwrite: true);
            Durable.SyncDirectory(_dir);
            var again = new List<string>();
            bf = BlockFile.Open(path, seq, again);
            return bf;
        }
        catch (Exception ex) when (ex is InvalidDataException or IOException or UnauthorizedAccessException)
        {
            bf?.Dispose();
            string target = path + ".corrupt";
            File.Move(path, target, overwrite: true);
            quarantined.Add(new QuarantinedFile(path, $"{ex.Message}; renamed to {Path.GetFileName(target)}"));
            return null;
        }
    }

    private void RecoverLatestFromBlocks(List<QuarantinedFile> quarantined)
    {
        var best = new Dictionary<int, (BlockFile File, int Entry)>();
        foreach (BlockFile bf in _blocks)
        {
            for (int i = 0; i < bf.Entries.Length; i++)
            {
                ref ChunkEntry e = ref bf.Entries[i];
                if (!best.TryGetValue(e.SeriesId, out var cur) || e.MaxT >= cur.File.Entries[cur.Entry].MaxT)
                {
                    best[e.SeriesId] = (bf, i);
                }
            }
        }

        foreach ((int id, (BlockFile file, int entry)) in best)
        {
            PointRun r;
            try
            {
                r = file.Decode(file.Entries[entry]);
            }
            catch (InvalidDataException ex)
            {
                quarantined.Add(new QuarantinedFile(file.Path, $"latest value of series {id} unreadable: {ex.Message}"));
                continue;
            }

            try
            {
                int last = r.Count - 1;
                _series[id].OfferLatest(r.Ts[last], r.Vals[last], r.Texts?[last]);
            }
            finally
            {
                r.Return();
            }
        }
    }

    private (long Records, long Points, long Bytes) ReplaySegment(string path, PointBatch scratch, List<WalTailDrop> drops)
    {
        long records = 0;
        long points = 0;
        long badOffset = -1;
        string? badReason = null;
        long length;
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16))
        {
            length = fs.Length;
            foreach ((long offset, byte[] payload, int len) in WalFormat.ReadFrames(fs, (o, why) => { badOffset = o; badReason = why; }))
            {
                string? error = ReplayRecord(payload.AsSpan(0, len), scratch, ref points);
                if (error is not null)
                {
                    badOffset = offset;
                    badReason = error;
                    break;
                }

                records++;
            }
        }

        if (badOffset < 0)
        {
            return (records, points, length);
        }

        // keep the dropped bytes beside the segment, then cut the segment at the last good record
        string aside = $"{path}.at-{badOffset}.corrupt";
        using (var fs = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None))
        {
            byte[] tail = new byte[length - badOffset];
            fs.Position = badOffset;
            fs.ReadExactly(tail);
            File.WriteAllBytes(aside, tail);
            fs.SetLength(badOffset);
            fs.Flush(flushToDisk: true);
        }

        drops.Add(new WalTailDrop(path, badOffset, length - badOffset, badReason!));
        return (records, points, badOffset);
    }

    /// <summary>Applies one WAL record; returns why it is invalid instead (then nothing of it was applied).</summary>
    private string? ReplayRecord(ReadOnlySpan<byte> p, PointBatch scratch, ref long points)
    {
        if (p[0] == WalFormat.TypeSeries)
        {
            if (!Catalog.TryDecodeSeries(p, out int id, out ValueKind kind, out string? key))
            {
                return "undecodable series record";
            }

            if (id < _seriesCount)
            {
                return null; // already in the catalog
            }

            AddRecoveredSeries(id, kind, key);
            return null;
        }

        if (p[0] != WalFormat.TypePoints)
        {
            return $"unknown record type {p[0]}";
        }

        scratch.Clear();
        try
        {
            if (p.Length < 5)
            {
                return "points record shorter than its header";
            }

            int pos = 5;
            ulong count = BinaryPrimitives.ReadUInt32LittleEndian(p.Slice(1));
            if (count > (ulong)p.Length)
            {
                return $"points record declares {count} points in {p.Length} bytes";
            }

            long prevTs = 0;
            for (ulong k = 0; k < count; k++)
            {
                ulong id = Varint.Read(p, ref pos);
                if (id >= (ulong)_seriesCount)
                {
                    return $"points record refers to unknown series {id}";
                }

                long t = unchecked(prevTs + Varint.UnZigZag(Varint.Read(p, ref pos)));
                prevTs = t;
                SeriesState s = _series[(int)id];
                switch (s.Kind)
                {
                    case ValueKind.Float64:
                        if (pos + 8 > p.Length)
                        {
                            return "points record ends inside a value";
                        }

                        scratch.Add((int)id, t, BinaryPrimitives.ReadInt64LittleEndian(p.Slice(pos)));
                        pos += 8;
                        break;
                    case ValueKind.Int64:
                        scratch.Add((int)id, t, Varint.UnZigZag(Varint.Read(p, ref pos)));
                        break;
                    case ValueKind.Bool:
                        if (pos >= p.Length)
                        {
                            return "points record ends inside a value";
                        }

                        scratch.Add((int)id, t, p[pos++] != 0);
                        break;
                    default:
                        ulong len = Varint.Read(p, ref pos);
                        if (len > (ulong)(p.Length - pos))
                        {
                            return "string overruns the points record";
                        }

                        scratch.Add((int)id, t, Encoding.UTF8.GetString(p.Slice(pos, (int)len)));
                        pos += (int)len;
                        break;
                }
            }

            if (pos != p.Length)
            {
                return $"points record has {p.Length - pos} trailing bytes";
            }
        }
        catch (InvalidDataException ex)
        {
            return ex.Message;
        }

        _head.EnsureSlots(_seriesCount);
        ApplyBatch(_head, _series, scratch, null, 0, 0);
        _head.AddPoints(scratch.Count);
        points += scratch.Count;
        return null;
    }

    // ---------------------------------------------------------------- lifetime

    private void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_fault is { } f)
        {
            throw f;
        }
    }

    /// <summary>Writes what is queued to the WAL, stops the background threads and closes files. Does not seal the head:
    /// the next <see cref="Open"/> replays the WAL.</summary>
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        Stop();
    }

    private void Stop()
    {
        lock (_maintGate)
        {
            _maintStop = true;
            Monitor.PulseAll(_maintGate);
        }

        _maintThread?.Join();
        lock (_queueLock)
        {
            _stopping = true;
            Monitor.PulseAll(_queueLock);
        }

        _walThread.Join();
        lock (_commitLock)
        {
            _wal.Dispose();
        }

        lock (_headLock)
        {
            foreach (BlockFile b in _blocks)
            {
                b.Dispose();
            }
        }
    }

    /// <summary>Test hook: behaves like the process dying now. Queued (unacknowledged) writes are never written;
    /// nothing is flushed or sealed. The instance is unusable afterwards.</summary>
    internal void SimulateCrash()
    {
        _crashed = true;
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            Stop();
        }
    }
}
