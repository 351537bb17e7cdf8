using System.Buffers;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>
/// One series' identity, its newest timestamp (for the out-of-order window) and its latest point. The latest point
/// is a seqlock: one writer at a time (the commit thread, or recovery) and lock-free readers.
/// </summary>
internal sealed class SeriesState
{
    private int _version;
    private long _latestTs;
    private long _latestBits;
    private string? _latestText;
    private bool _hasLatest;

    public SeriesState(int id, string key, ValueKind kind)
    {
        Id = id;
        Key = key;
        Kind = kind;
        MaxTs = long.MinValue;
    }

    public int Id { get; }
    public string Key { get; }
    public ValueKind Kind { get; }

    /// <summary>Newest timestamp applied; read without a lock by writers checking the window.</summary>
    public long MaxTs;

    public SeriesInfo Info => new(Id, Key, Kind);

    /// <summary>Sets the latest point when <paramref name="ts"/> is not older than it (equal: last write wins).</summary>
    /// <remarks>Single writer: the commit thread (one stripe per series), recovery, or retention under the commit lock.</remarks>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void OfferLatest(long ts, long bits, string? text)
    {
        if (ts > MaxTs)
        {
            Volatile.Write(ref MaxTs, ts);
        }

        if (_hasLatest && ts < _latestTs)
        {
            return;
        }

        // full fence after the odd version (no field store may move before it), release on the even one
        int v = _version;
        Interlocked.Exchange(ref _version, v + 1);

        _latestTs = ts;
        _latestBits = bits;
        _latestText = text;
        _hasLatest = true;
        Volatile.Write(ref _version, v + 2);
    }

    public void ClearLatestBefore(long cutoff)
    {
        if (_hasLatest && _latestTs < cutoff)
        {
            Interlocked.Increment(ref _version);
            _hasLatest = false;
            Interlocked.Increment(ref _version);
        }
    }

    public bool TryGetLatest(out DataPoint point)
    {
        var spin = default(SpinWait);
        while (true)
        {
            int v1 = Volatile.Read(ref _version);
            if ((v1 & 1) == 0)
            {
                bool has = _hasLatest;
                long ts = _latestTs;
                long bits = _latestBits;
                string? text = _latestText;
                Interlocked.MemoryBarrier();
                if (Volatile.Read(ref _version) == v1)
                {
                    if (!has)
                    {
                        point = default;
                        return false;
                    }

                    point = new DataPoint(ts, ValueOps.Make(Kind, bits, text));
                    return true;
                }
            }

            spin.SpinOnce();
        }
    }
}

internal static class ValueOps
{
    public static TagValue Make(ValueKind kind, long bits, string? text) => kind switch
    {
        ValueKind.Float64 => TagValue.FromDouble(BitConverter.Int64BitsToDouble(bits)),
        ValueKind.Int64 => TagValue.FromInt64(bits),
        ValueKind.Bool => TagValue.FromBool(bits != 0),
        _ => TagValue.FromString(text ?? string.Empty),
    };

    public static double AsDouble(ValueKind kind, long bits) =>
        kind == ValueKind.Float64 ? BitConverter.Int64BitsToDouble(bits) : bits;
}

/// <summary>Append buffer of one series in the head. Points are kept in arrival order; sorting happens on read/seal.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct SeriesHead
{
    public long[] Ts;
    public long[] Vals;
    public string?[]? Texts;
    public int Count;
    public int Hint;
    public long MinTs;
    public long MaxTs;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Append(long ts, long bits, string? text)
    {
        if (Ts is null || Count == Ts.Length)
        {
            Grow();
        }

        Ts![Count] = ts;
        Vals[Count] = bits;
        if (text is not null)
        {
            Texts ??= new string?[Ts.Length];
            Texts[Count] = text;
        }

        if (Count++ == 0)
        {
            MinTs = ts;
            MaxTs = ts;
        }
        else if (ts > MaxTs)
        {
            MaxTs = ts;
        }
        else if (ts < MinTs)
        {
            MinTs = ts;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void Grow()
    {
        int n;
        if (Ts is null)
        {
            // the previous head's size for this series avoids regrowing buffers after every seal
            n = Math.Max(16, Hint > 0 ? (int)Math.Min(BitOperations.RoundUpToPowerOf2((uint)Hint + 1), 1u << 24) : 16);
        }
        else
        {
            n = Ts.Length * 2;
        }

        // head buffers live until the next seal: the pinned object heap keeps the GC from copying them generation
        // by generation (measured: most of the ingest GC time before this)
        long[] ts = GC.AllocateUninitializedArray<long>(n, pinned: true);
        long[] vals = GC.AllocateUninitializedArray<long>(n, pinned: true);
        if (Count > 0)
        {
            Ts.AsSpan(0, Count).CopyTo(ts);
            Vals.AsSpan(0, Count).CopyTo(vals);
        }

        Ts = ts;
        Vals = vals;
        if (Texts is not null)
        {
            Array.Resize(ref Texts, n);
        }
    }

    /// <summary>Removes points older than <paramref name="cutoff"/>; returns how many were removed.</summary>
    public int DropBefore(long cutoff)
    {
        if (Count == 0 || MinTs >= cutoff)
        {
            return 0;
        }

        int w = 0;
        long min = long.MaxValue;
        for (int i = 0; i < Count; i++)
        {
            if (Ts[i] >= cutoff)
            {
                Ts[w] = Ts[i];
                Vals[w] = Vals[i];
                if (Texts is not null)
                {
                    Texts[w] = Texts[i];
                }

                min = Math.Min(min, Ts[i]);
                w++;
            }
        }

        int removed = Count - w;
        if (Texts is not null)
        {
            Array.Clear(Texts, w, Count - w);
        }

        Count = w;
        MinTs = min;
        return removed;
    }
}

/// <summary>The in-memory head: a <see cref="SeriesHead"/> slot per series id. Guarded by the engine's head lock.</summary>
internal sealed class Head
{
    private SeriesHead[] _series;

    public Head(Head? previous = null, int slots = 64)
    {
        _series = new SeriesHead[Math.Max(slots, previous?._series.Length ?? 0)];
        if (previous is not null)
        {
            for (int i = 0; i < previous._series.Length; i++)
            {
                _series[i].Hint = previous._series[i].Count;
            }
        }
    }

    public long PointCount { get; private set; }

    /// <summary><see cref="Environment.TickCount64"/> of the first append, 0 while empty.</summary>
    public long FirstWriteTicks { get; private set; }

    public int SeriesSlots => _series.Length;

    /// <summary>The slot of a series; <paramref name="id"/> must be below <see cref="SeriesSlots"/>.</summary>
    public ref SeriesHead Slot(int id) => ref _series[id];

    public int CountOf(int id) => (uint)id < (uint)_series.Length ? _series[id].Count : 0;

    public void EnsureSlots(int count)
    {
        if (count > _series.Length)
        {
            Array.Resize(ref _series, Math.Max(count, _series.Length * 2));
        }
    }

    public void Append(int id, long ts, long bits, string? text)
    {
        EnsureSlots(id + 1);
        _series[id].Append(ts, bits, text);
        AddPoints(1);
    }

    /// <summary>Accounts for points appended straight into slots (the parallel apply path).</summary>
    public void AddPoints(long n)
    {
        if (n > 0 && PointCount == 0)
        {
            FirstWriteTicks = Environment.TickCount64;
        }

        PointCount += n;
    }

    public long DropBefore(long cutoff)
    {
        long removed = 0;
        for (int i = 0; i < _series.Length; i++)
        {
            removed += _series[i].DropBefore(cutoff);
        }

        PointCount -= removed;
        return removed;
    }

    /// <summary>Copies the series' points in [from, to) in arrival order into pooled arrays (caller returns them).</summary>
    public PointRun CopyRange(int id, long from, long to)
    {
        if ((uint)id >= (uint)_series.Length)
        {
            return default;
        }

        ref SeriesHead h = ref _series[id];
        if (h.Count == 0 || h.MaxTs < from || h.MinTs >= to)
        {
            return default;
        }

        var run = PointRun.Rent(h.Count, h.Texts is not null);
        int n = 0;
        bool all = h.MinTs >= from && h.MaxTs < to;
        if (all)
        {
            h.Ts.AsSpan(0, h.Count).CopyTo(run.Ts);
            h.Vals.AsSpan(0, h.Count).CopyTo(run.Vals);
            h.Texts?.AsSpan(0, h.Count).CopyTo(run.Texts);
            n = h.Count;
        }
        else
        {
            for (int i = 0; i < h.Count; i++)
            {
                long t = h.Ts[i];
                if (t >= from && t < to)
                {
                    run.Ts[n] = t;
                    run.Vals[n] = h.Vals[i];
                    if (h.Texts is not null)
                    {
                        run.Texts![n] = h.Texts[i];
                    }

                    n++;
                }
            }
        }

        run.Count = n;
        return run;
    }
}

/// <summary>A run of points in pooled arrays. <see cref="Return"/> gives the arrays back.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct PointRun
{
    public long[] Ts;
    public long[] Vals;
    public string?[]? Texts;
    public int Count;

    public readonly bool IsEmpty => Ts is null || Count == 0;

    public static PointRun Rent(int capacity, bool texts)
    {
        capacity = Math.Max(capacity, 1);
        return new PointRun
        {
            Ts = ArrayPool<long>.Shared.Rent(capacity),
            Vals = ArrayPool<long>.Shared.Rent(capacity),
            Texts = texts ? ArrayPool<string?>.Shared.Rent(capacity) : null,
            Count = 0,
        };
    }

    public void Return()
    {
        if (Ts is not null)
        {
            ArrayPool<long>.Shared.Return(Ts);
            ArrayPool<long>.Shared.Return(Vals);
            if (Texts is not null)
            {
                ArrayPool<string?>.Shared.Return(Texts, clearArray: true);
            }
        }

        this = default;
    }

    /// <summary>
    /// Sorts by timestamp and keeps, per timestamp, the point that came last in the run (last write wins).
    /// </summary>
    public void SortDedupe()
    {
        int n = Count;
        bool sorted = true;
        for (int i = 1; i < n; i++)
        {
            if (Ts[i] <= Ts[i - 1])
            {
                sorted = false;
                break;
            }
        }

        if (sorted)
        {
            return;
        }

        long[] keys = ArrayPool<long>.Shared.Rent(n);
        int[] idx = ArrayPool<int>.Shared.Rent(n);
        long[] vals = ArrayPool<long>.Shared.Rent(n);
        string?[]? texts = Texts is null ? null : ArrayPool<string?>.Shared.Rent(n);
        try
        {
            Ts.AsSpan(0, n).CopyTo(keys);
            for (int i = 0; i < n; i++)
            {
                idx[i] = i;
            }

            // unstable sort, then keep the greatest original index within each run of equal keys
            Array.Sort(keys, idx, 0, n);
            Vals.AsSpan(0, n).CopyTo(vals);
            Texts?.AsSpan(0, n).CopyTo(texts);
            int w = 0;
            int i2 = 0;
            while (i2 < n)
            {
                long k = keys[i2];
                int best = idx[i2];
                int j = i2 + 1;
                while (j < n && keys[j] == k)
                {
                    if (idx[j] > best)
                    {
                        best = idx[j];
                    }

                    j++;
                }

                Ts[w] = k;
                Vals[w] = vals[best];
                if (Texts is not null)
                {
                    Texts[w] = texts![best];
                }

                w++;
                i2 = j;
            }

            if (Texts is not null)
            {
                Array.Clear(Texts, w, n - w);
            }

            Count = w;
        }
        finally
        {
            ArrayPool<long>.Shared.Return(keys);
            ArrayPool<int>.Shared.Return(idx);
            ArrayPool<long>.Shared.Return(vals);
            if (texts is not null)
            {
                ArrayPool<string?>.Shared.Return(texts, clearArray: true);
            }
        }
    }
}
