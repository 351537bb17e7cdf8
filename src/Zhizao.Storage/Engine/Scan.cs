using System.Runtime.InteropServices;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>Receives points of one series in ascending timestamp order, run by run.</summary>
internal interface IPointVisitor
{
    /// <summary>Offered a whole chunk inside [from, to); return true to consume its pre-aggregates instead of its points.</summary>
    bool TryWhole(in ChunkEntry entry);

    /// <summary>Ascending, deduplicated points; return false to stop the scan.</summary>
    bool OnRun(ReadOnlySpan<long> ts, ReadOnlySpan<long> vals, ReadOnlySpan<string?> texts);
}

/// <summary>One place points of a series may come from: a block chunk, or a sorted copy of head points.</summary>
[StructLayout(LayoutKind.Auto)]
internal struct Source
{
    public BlockFile? File;
    public int Entry;
    public PointRun Run;
    public long MinT;
    public long MaxT;
    public int Rank;
}

/// <summary>
/// Merges the sources of one series. When no two sources overlap in time they are visited one after the other (chunks
/// wholly inside the range may be answered from pre-aggregates); otherwise all are decoded, concatenated oldest first and
/// sorted with last-write-wins on equal timestamps (newer file, then frozen head, then live head).
/// </summary>
internal static class Scan
{
    public static void Run<TV>(List<Source> sources, long from, long to, ValueKind kind, ref TV visitor)
        where TV : struct, IPointVisitor
    {
        if (sources.Count == 0)
        {
            return;
        }

        Span<Source> src = CollectionsMarshal.AsSpan(sources);
        src.Sort(static (a, b) => a.MinT != b.MinT ? a.MinT.CompareTo(b.MinT) : a.Rank.CompareTo(b.Rank));
        bool overlap = false;
        long maxSeen = long.MinValue;
        for (int i = 0; i < src.Length; i++)
        {
            if (i > 0 && src[i].MinT <= maxSeen)
            {
                overlap = true;
                break;
            }

            maxSeen = Math.Max(maxSeen, src[i].MaxT);
        }

        if (!overlap)
        {
            for (int i = 0; i < src.Length; i++)
            {
                ref Source s = ref src[i];
                if (s.File is not null)
                {
                    ref ChunkEntry e = ref s.File.Entries[s.Entry];
                    if (e.MinT >= from && e.MaxT < to && visitor.TryWhole(e))
                    {
                        continue;
                    }

                    PointRun r;
                    try
                    {
                        r = s.File.Decode(e);
                    }
                    catch (ObjectDisposedException)
                    {
                        continue; // dropped by retention while we read
                    }

                    try
                    {
                        if (!VisitSlice(r, from, to, ref visitor))
                        {
                            return;
                        }
                    }
                    finally
                    {
                        r.Return();
                    }
                }
                else if (!VisitSlice(s.Run, from, to, ref visitor))
                {
                    return;
                }
            }

            return;
        }

        // overlapping: materialise in rank order (oldest first) and let the sort pick the newest per timestamp
        src.Sort(static (a, b) => a.Rank.CompareTo(b.Rank));
        long total = 0;
        foreach (ref Source s in src)
        {
            total += s.File is not null ? s.File.Entries[s.Entry].Count : s.Run.Count;
        }

        var all = PointRun.Rent((int)Math.Min(total, int.MaxValue), kind == ValueKind.String);
        try
        {
            foreach (ref Source s in src)
            {
                if (s.File is not null)
                {
                    PointRun r;
                    try
                    {
                        r = s.File.Decode(s.File.Entries[s.Entry]);
                    }
                    catch (ObjectDisposedException)
                    {
                        continue;
                    }

                    Append(ref all, r, from, to);
                    r.Return();
                }
                else
                {
                    Append(ref all, s.Run, from, to);
                }
            }

            all.SortDedupe();
            VisitSlice(all, from, to, ref visitor);
        }
        finally
        {
            all.Return();
        }
    }

    private static void Append(ref PointRun dst, in PointRun r, long from, long to)
    {
        for (int i = 0; i < r.Count; i++)
        {
            long t = r.Ts[i];
            if (t >= from && t < to)
            {
                dst.Ts[dst.Count] = t;
                dst.Vals[dst.Count] = r.Vals[i];
                if (dst.Texts is not null && r.Texts is not null)
                {
                    dst.Texts[dst.Count] = r.Texts[i];
                }

                dst.Count++;
            }
        }
    }

    private static bool VisitSlice<TV>(in PointRun r, long from, long to, ref TV visitor)
        where TV : struct, IPointVisitor
    {
        if (r.IsEmpty)
        {
            return true;
        }

        ReadOnlySpan<long> ts = r.Ts.AsSpan(0, r.Count);
        int lo = LowerBound(ts, from);
        int hi = LowerBound(ts, to);
        if (hi <= lo)
        {
            return true;
        }

        ReadOnlySpan<string?> texts = r.Texts is null ? [] : r.Texts.AsSpan(lo, hi - lo);
        return visitor.OnRun(ts.Slice(lo, hi - lo), r.Vals.AsSpan(lo, hi - lo), texts);
    }

    private static int LowerBound(ReadOnlySpan<long> ts, long value)
    {
        int lo = 0;
        int hi = ts.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ts[mid] < value)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }
}

internal struct ReadVisitor : IPointVisitor
{
    public List<DataPoint> Out;
    public int Limit;
    public ValueKind Kind;

    public readonly bool TryWhole(in ChunkEntry entry) => false;

    public bool OnRun(ReadOnlySpan<long> ts, ReadOnlySpan<long> vals, ReadOnlySpan<string?> texts)
    {
        Out.EnsureCapacity((int)Math.Min(Limit, (long)Out.Count + ts.Length));
        for (int i = 0; i < ts.Length; i++)
        {
            if (Out.Count >= Limit)
            {
                return false;
            }

            Out.Add(new DataPoint(ts[i], ValueOps.Make(Kind, vals[i], texts.Length > i ? texts[i] : null)));
        }

        return Out.Count < Limit;
    }
}

/// <summary>
/// Bucket aggregation. Within a run of one bucket it sums shifted values (x − first) and their squares, then merges the
/// run into the bucket with Chan's parallel formula, which is also how chunk pre-aggregates (sum, M2) are merged.
/// StdDev is the population standard deviation.
/// </summary>
internal struct AggregateVisitor : IPointVisitor
{
    public List<AggregateBucket> Out;
    public long BucketNs;
    public ValueKind Kind;

    private bool _has;
    private long _start;
    private long _count;
    private double _min;
    private double _max;
    private double _sum;
    private double _mean;
    private double _m2;
    private double _first;
    private double _last;

    private readonly long BucketOf(long t)
    {
        long r = t % BucketNs;
        if (r < 0)
        {
            r += BucketNs;
        }

        return t - r;
    }

    private void Begin(long start, double first)
    {
        Finish();
        _has = true;
        _start = start;
        _count = 0;
        _min = double.PositiveInfinity;
        _max = double.NegativeInfinity;
        _sum = 0;
        _mean = 0;
        _m2 = 0;
        _first = first;
    }

    private void Merge(long n, double min, double max, double sum, double m2, double last)
    {
        double meanB = sum / n;
        long total = _count + n;
        double delta = meanB - _mean;
        _mean += delta * n / total;
        _m2 += m2 + (delta * delta * _count * n / total);
        _count = total;
        _sum += sum;
        _min = Math.Min(_min, min);
        _max = Math.Max(_max, max);
        _last = last;
    }

    public void Finish()
    {
        if (_has)
        {
            Out.Add(new AggregateBucket(_start, _count, _min, _max, _sum, _sum / _count, _first, _last, Math.Sqrt(Math.Max(0, _m2 / _count))));
            _has = false;
        }
    }

    public bool TryWhole(in ChunkEntry entry)
    {
        long b = BucketOf(entry.MinT);
        if (b != BucketOf(entry.MaxT))
        {
            return false;
        }

        if (!_has || b != _start)
        {
            Begin(b, entry.First);
        }

        Merge(entry.Count, entry.Min, entry.Max, entry.Sum, entry.M2, entry.Last);
        return true;
    }

    public bool OnRun(ReadOnlySpan<long> ts, ReadOnlySpan<long> vals, ReadOnlySpan<string?> texts)
    {
        bool isFloat = Kind == ValueKind.Float64;
        int i = 0;
        while (i < ts.Length)
        {
            long b = BucketOf(ts[i]);
            ulong width = (ulong)BucketNs;
            double k = isFloat ? BitConverter.Int64BitsToDouble(vals[i]) : vals[i];
            if (!_has || b != _start)
            {
                Begin(b, k);
            }

            double s1 = 0;
            double s2 = 0;
            double sum = 0;
            double min = double.PositiveInfinity;
            double max = double.NegativeInfinity;
            double x = k;
            int j = i;
            // unsigned distance from the bucket start: exact even where b + BucketNs would overflow
            for (; j < ts.Length && (ulong)unchecked(ts[j] - b) < width; j++)
            {
                x = isFloat ? BitConverter.Int64BitsToDouble(vals[j]) : vals[j];
                double d = x - k;
                s1 += d;
                s2 += d * d;
                sum += x;
                min = Math.Min(min, x);
                max = Math.Max(max, x);
            }

            int n = j - i;
            double m2 = s2 - (s1 * s1 / n);
            Merge(n, min, max, sum, Math.Max(0, m2), x);
            i = j;
        }

        return true;
    }
}
