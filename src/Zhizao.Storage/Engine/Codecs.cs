using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>
/// Integer streams: optional delta, then frame-of-reference bit-packing in groups of 128. Each group stores its bit width
/// (7 bits), its signed minimum (zigzag, length-prefixed) and then every value minus that minimum in the width. A regular
/// timestamp series (constant delta) costs width 0: a few bytes per 128 points — what delta-of-delta buys, without its
/// per-point branches. Arithmetic is unchecked so long.MinValue/MaxValue and any gap round-trip exactly.
/// </summary>
internal static class IntCodec
{
    private const int GroupSize = 128;

    public static void Encode(ReadOnlySpan<long> values, bool delta, ByteSink sink)
    {
        int n = values.Length;
        if (n == 0)
        {
            return;
        }

        int start = 0;
        long prev = 0;
        if (delta)
        {
            sink.WriteInt64(values[0]);
            prev = values[0];
            start = 1;
        }

        var w = new BitWriter(sink);
        Span<long> group = stackalloc long[GroupSize];
        int i = start;
        while (i < n)
        {
            int len = Math.Min(GroupSize, n - i);
            long min = long.MaxValue;
            for (int k = 0; k < len; k++)
            {
                long v = values[i + k];
                long d = delta ? unchecked(v - prev) : v;
                prev = v;
                group[k] = d;
                if (d < min)
                {
                    min = d;
                }
            }

            ulong maxDiff = 0;
            for (int k = 0; k < len; k++)
            {
                maxDiff |= unchecked((ulong)(group[k] - min));
            }

            int width = 64 - BitOperations.LeadingZeroCount(maxDiff);
            ulong zmin = Varint.ZigZag(min);
            int minBits = 64 - BitOperations.LeadingZeroCount(zmin);
            w.Write((ulong)width, 7);
            w.Write((ulong)minBits, 7);
            w.Write(zmin, minBits);
            if (width > 0)
            {
                for (int k = 0; k < len; k++)
                {
                    w.Write(unchecked((ulong)(group[k] - min)), width);
                }
            }

            i += len;
        }

        w.Finish();
    }

    /// <summary>Decodes <paramref name="dst"/>.Length values; returns the bytes consumed.</summary>
    public static int Decode(ReadOnlySpan<byte> src, bool delta, Span<long> dst)
    {
        int n = dst.Length;
        if (n == 0)
        {
            return 0;
        }

        int offset = 0;
        int start = 0;
        long prev = 0;
        if (delta)
        {
            if (src.Length < 8)
            {
                throw new InvalidDataException("integer stream shorter than its first value");
            }

            prev = BinaryPrimitives.ReadInt64LittleEndian(src);
            dst[0] = prev;
            offset = 8;
            start = 1;
        }

        var r = new BitReader(src.Slice(offset));
        int i = start;
        while (i < n)
        {
            int len = Math.Min(GroupSize, n - i);
            int width = (int)r.Read(7);
            int minBits = (int)r.Read(7);
            if (width > 64 || minBits > 64)
            {
                throw new InvalidDataException($"integer group width {width}/{minBits} exceeds 64 bits");
            }

            long min = Varint.UnZigZag(r.Read(minBits));
            Span<long> g = dst.Slice(i, len);
            if (width == 0)
            {
                if (delta)
                {
                    for (int k = 0; k < g.Length; k++)
                    {
                        prev = unchecked(prev + min);
                        g[k] = prev;
                    }
                }
                else
                {
                    g.Fill(min);
                }
            }
            else
            {
                r.ReadMany(width, g);
                if (delta)
                {
                    for (int k = 0; k < g.Length; k++)
                    {
                        prev = unchecked(prev + min + g[k]);
                        g[k] = prev;
                    }
                }
                else
                {
                    for (int k = 0; k < g.Length; k++)
                    {
                        g[k] = unchecked(min + g[k]);
                    }
                }
            }

            i += len;
        }

        return offset + r.BytePosition;
    }
}

/// <summary>
/// Float64 streams. First choice, ALP-style decimals: the smallest exponent e ≤ 12 such that every value equals
/// (double)round(v·10^e) / 10^e bit for bit; the scaled integers then go through <see cref="IntCodec"/> with delta.
/// Otherwise Gorilla XOR (Pelkonen et al., 2015). NaN, ±Inf and -0.0 force the XOR path and round-trip exactly.
/// </summary>
internal static class FloatCodec
{
    public const byte TagDecimal = 1;
    public const byte TagXor = 2;
    private const int MaxExponent = 12;
    private const double MaxExact = 9_007_199_254_740_992d; // 2^53

    private static readonly double[] Pow10 =
    [
        1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12,
    ];

    public static void Encode(ReadOnlySpan<long> bits, ByteSink sink)
    {
        int e = FindExponent(bits);
        if (e >= 0)
        {
            long[] scaled = ArrayPool<long>.Shared.Rent(bits.Length);
            try
            {
                double p = Pow10[e];
                for (int i = 0; i < bits.Length; i++)
                {
                    scaled[i] = (long)Math.Round(BitConverter.Int64BitsToDouble(bits[i]) * p);
                }

                sink.WriteByte(TagDecimal);
                sink.WriteByte((byte)e);
                IntCodec.Encode(scaled.AsSpan(0, bits.Length), delta: true, sink);
            }
            finally
            {
                ArrayPool<long>.Shared.Return(scaled);
            }

            return;
        }

        sink.WriteByte(TagXor);
        EncodeXor(bits, sink);
    }

    public static int Decode(ReadOnlySpan<byte> src, Span<long> dst)
    {
        if (dst.Length == 0)
        {
            return 0;
        }

        if (src.Length < 1)
        {
            throw new InvalidDataException("float stream is empty");
        }

        byte tag = src[0];
        if (tag == TagDecimal)
        {
            if (src.Length < 2 || src[1] > MaxExponent)
            {
                throw new InvalidDataException("decimal float stream has no valid exponent");
            }

            double p = Pow10[src[1]];
            int used = IntCodec.Decode(src.Slice(2), delta: true, dst);
            for (int i = 0; i < dst.Length; i++)
            {
                dst[i] = BitConverter.DoubleToInt64Bits(dst[i] / p);
            }

            return 2 + used;
        }

        if (tag == TagXor)
        {
            return 1 + DecodeXor(src.Slice(1), dst);
        }

        throw new InvalidDataException($"unknown float encoding tag {tag}");
    }

    /// <summary>The exponent that makes every value an exact decimal, or -1.</summary>
    internal static int FindExponent(ReadOnlySpan<long> bits)
    {
        int e = 0;
        for (int i = 0; i < bits.Length; i++)
        {
            while (!Fits(bits[i], e))
            {
                if (++e > MaxExponent)
                {
                    return -1;
                }
            }
        }

        // a value that fitted at a smaller exponent is not guaranteed to fit at the final one: verify
        for (int i = 0; i < bits.Length; i++)
        {
            if (!Fits(bits[i], e))
            {
                return -1;
            }
        }

        return e;
    }

    private static bool Fits(long bits, int e)
    {
        double v = BitConverter.Int64BitsToDouble(bits);
        double p = Pow10[e];
        double s = v * p;
        if (!(Math.Abs(s) < MaxExact))
        {
            return false; // NaN, Inf, too large
        }

        long x = (long)Math.Round(s);
        return BitConverter.DoubleToInt64Bits(x / p) == bits;
    }

    private static void EncodeXor(ReadOnlySpan<long> values, ByteSink sink)
    {
        var w = new BitWriter(sink);
        ulong prev = (ulong)values[0];
        w.Write(prev, 64);
        int prevLz = -1;
        int prevTz = 0;
        for (int i = 1; i < values.Length; i++)
        {
            ulong v = (ulong)values[i];
            ulong x = v ^ prev;
            prev = v;
            if (x == 0)
            {
                w.Write(0, 1);
                continue;
            }

            int lz = Math.Min(BitOperations.LeadingZeroCount(x), 31);
            int tz = BitOperations.TrailingZeroCount(x);
            if (prevLz >= 0 && lz >= prevLz && tz >= prevTz)
            {
                w.Write(0b10, 2);
                w.Write(x >> prevTz, 64 - prevLz - prevTz);
            }
            else
            {
                int sig = 64 - lz - tz;
                w.Write(0b11, 2);
                w.Write((ulong)lz, 5);
                w.Write((ulong)(sig & 63), 6); // 64 is stored as 0
                w.Write(x >> tz, sig);
                prevLz = lz;
                prevTz = tz;
            }
        }

        w.Finish();
    }

    private static int DecodeXor(ReadOnlySpan<byte> src, Span<long> dst)
    {
        var r = new BitReader(src);
        ulong prev = r.Read(64);
        dst[0] = (long)prev;
        int lz = 0;
        int tz = 0;
        bool haveWindow = false;
        for (int i = 1; i < dst.Length; i++)
        {
            if (!r.ReadBit())
            {
                dst[i] = (long)prev;
                continue;
            }

            if (r.ReadBit())
            {
                lz = (int)r.Read(5);
                int sig = (int)r.Read(6);
                if (sig == 0)
                {
                    sig = 64;
                }

                if (lz + sig > 64)
                {
                    throw new InvalidDataException("XOR window exceeds 64 bits");
                }

                tz = 64 - lz - sig;
                haveWindow = true;
            }
            else if (!haveWindow)
            {
                throw new InvalidDataException("XOR stream reuses a window it never defined");
            }

            int bits = 64 - lz - tz;
            prev ^= r.Read(bits) << tz;
            dst[i] = (long)prev;
        }

        return r.BytePosition;
    }
}

/// <summary>One series' points of one chunk: timestamps then values, encoded per <see cref="ValueKind"/>.</summary>
internal static class ChunkCodec
{
    private const byte TagInt = 3;
    private const byte TagBool = 4;
    private const byte TagString = 5;
    private const int MaxStringBytes = 1 << 24;

    public static void Encode(ValueKind kind, ReadOnlySpan<long> ts, ReadOnlySpan<long> values, ReadOnlySpan<string?> texts, ByteSink sink)
    {
        IntCodec.Encode(ts, delta: true, sink);
        switch (kind)
        {
            case ValueKind.Float64:
                FloatCodec.Encode(values, sink);
                break;
            case ValueKind.Int64:
                sink.WriteByte(TagInt);
                IntCodec.Encode(values, delta: true, sink);
                break;
            case ValueKind.Bool:
                sink.WriteByte(TagBool);
                IntCodec.Encode(values, delta: false, sink);
                break;
            default:
                EncodeStrings(texts, sink);
                break;
        }
    }

    private static void EncodeStrings(ReadOnlySpan<string?> texts, ByteSink sink)
    {
        sink.WriteByte(TagString);
        var dict = new Dictionary<string, int>(StringComparer.Ordinal);
        var order = new List<string>();
        long[] idx = ArrayPool<long>.Shared.Rent(Math.Max(1, texts.Length));
        try
        {
            for (int i = 0; i < texts.Length; i++)
            {
                string s = texts[i] ?? string.Empty;
                if (!dict.TryGetValue(s, out int id))
                {
                    id = order.Count;
                    dict.Add(s, id);
                    order.Add(s);
                }

                idx[i] = id;
            }

            sink.WriteVarUInt((ulong)order.Count);
            foreach (string s in order)
            {
                int len = Encoding.UTF8.GetByteCount(s);
                sink.WriteVarUInt((ulong)len);
                Span<byte> dst = sink.GetSpan(len);
                sink.Length += Encoding.UTF8.GetBytes(s, dst);
            }

            IntCodec.Encode(idx.AsSpan(0, texts.Length), delta: false, sink);
        }
        finally
        {
            ArrayPool<long>.Shared.Return(idx);
        }
    }

    /// <summary>Decodes a chunk of <paramref name="ts"/>.Length points. <paramref name="texts"/> only for String.</summary>
    public static void Decode(ValueKind kind, ReadOnlySpan<byte> src, Span<long> ts, Span<long> values, Span<string?> texts)
    {
        int pos = IntCodec.Decode(src, delta: true, ts);
        ReadOnlySpan<byte> rest = src.Slice(pos);
        if (ts.Length == 0)
        {
            return;
        }

        switch (kind)
        {
            case ValueKind.Float64:
                FloatCodec.Decode(rest, values);
                break;
            case ValueKind.Int64:
                Expect(rest, TagInt);
                IntCodec.Decode(rest.Slice(1), delta: true, values);
                break;
            case ValueKind.Bool:
                Expect(rest, TagBool);
                IntCodec.Decode(rest.Slice(1), delta: false, values);
                break;
            case ValueKind.String:
                DecodeStrings(rest, values, texts);
                break;
            default:
                throw new InvalidDataException($"unknown value kind {(int)kind}");
        }
    }

    private static void DecodeStrings(ReadOnlySpan<byte> src, Span<long> values, Span<string?> texts)
    {
        Expect(src, TagString);
        int pos = 1;
        ulong count = Varint.Read(src, ref pos);
        if (count > (ulong)values.Length)
        {
            throw new InvalidDataException($"string dictionary of {count} entries exceeds the chunk's {values.Length} points");
        }

        var dict = new string[(int)count];
        for (int i = 0; i < dict.Length; i++)
        {
            ulong len = Varint.Read(src, ref pos);
            if (len > MaxStringBytes || (ulong)pos + len > (ulong)src.Length)
            {
                throw new InvalidDataException($"string of {len} bytes overruns the chunk");
            }

            dict[i] = Encoding.UTF8.GetString(src.Slice(pos, (int)len));
            pos += (int)len;
        }

        IntCodec.Decode(src.Slice(pos), delta: false, values);
        for (int i = 0; i < values.Length; i++)
        {
            long id = values[i];
            if ((ulong)id >= (ulong)dict.Length)
            {
                throw new InvalidDataException($"string index {id} outside dictionary of {dict.Length}");
            }

            if (texts.Length > i)
            {
                texts[i] = dict[id];
            }

            values[i] = 0;
        }
    }

    private static void Expect(ReadOnlySpan<byte> src, byte tag)
    {
        if (src.Length < 1 || src[0] != tag)
        {
            throw new InvalidDataException($"expected value encoding tag {tag}");
        }
    }
}
