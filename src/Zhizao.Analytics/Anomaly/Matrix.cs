using System.Diagnostics.CodeAnalysis;

namespace Zhizao.Analytics.Anomaly;

internal static class Matrix
{
    public static void CheckRows(IReadOnlyList<double[]> rows, int minRows)
    {
        ArgumentNullException.ThrowIfNull(rows);
        if (rows.Count < minRows)
            throw new ArgumentException($"need at least {minRows} training rows, got {rows.Count}", nameof(rows));
        var d = rows[0].Length;
        if (d == 0) throw new ArgumentException("rows have no features", nameof(rows));
        for (var i = 0; i < rows.Count; i++)
        {
            if (rows[i].Length != d)
                throw new ArgumentException($"row {i} has {rows[i].Length} features, row 0 has {d}", nameof(rows));
            foreach (var v in rows[i])
                if (!double.IsFinite(v)) throw new ArgumentException($"row {i} has a non-finite value", nameof(rows));
        }
    }

    [DoesNotReturn]
    public static void ThrowWidth(int got, int expected) =>
        throw new ArgumentException($"vector has {got} features, the model was fitted on {expected}");

    /// <summary>Linear-interpolated quantile (type 7, as numpy's default) of a copy of the values.</summary>
    public static double Quantile(IEnumerable<double> values, double q)
    {
        var a = values.ToArray();
        if (a.Length == 0) throw new ArgumentException("no values");
        Array.Sort(a);
        var h = (a.Length - 1) * Math.Clamp(q, 0, 1);
        var lo = (int)Math.Floor(h);
        var hi = Math.Min(lo + 1, a.Length - 1);
        return a[lo] + (h - lo) * (a[hi] - a[lo]);
    }

    /// <summary>Σ a[i]·b[i], SIMD-wide where the hardware allows.</summary>
    public static double Dot(ReadOnlySpan<double> a, ReadOnlySpan<double> b)
    {
        var i = 0;
        var sum = 0.0;
        if (System.Numerics.Vector.IsHardwareAccelerated && a.Length >= System.Numerics.Vector<double>.Count)
        {
            var w = System.Numerics.Vector<double>.Count;
            var acc = System.Numerics.Vector<double>.Zero;
            for (; i <= a.Length - w; i += w)
                acc += new System.Numerics.Vector<double>(a[i..]) * new System.Numerics.Vector<double>(b[i..]);
            sum = System.Numerics.Vector.Sum(acc);
        }
        for (; i < a.Length; i++) sum += a[i] * b[i];
        return sum;
    }

    public static void Normalise(Span<double> c)
    {
        var sum = 0.0;
        foreach (var v in c) sum += v;
        if (sum <= 0 || !double.IsFinite(sum)) return;
        for (var i = 0; i < c.Length; i++) c[i] /= sum;
    }
}
