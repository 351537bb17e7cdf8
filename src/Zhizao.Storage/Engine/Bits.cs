using System.Buffers;
using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Zhizao.Storage.Engine;

/// <summary>CRC32C over a span, using the hardware instruction through <see cref="BitOperations.Crc32C(uint, ulong)"/>.</summary>
internal static class Crc32C
{
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        int i = 0;
        while (i + 8 <= data.Length)
        {
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data.Slice(i)));
            i += 8;
        }

        while (i < data.Length)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
            i++;
        }

        return ~crc;
    }
}

/// <summary>Growable byte buffer backed by <see cref="ArrayPool{T}"/>; little-endian and varint writers.</summary>
internal sealed class ByteSink : IDisposable
{
    private byte[] _buf;

    public ByteSink(int capacity = 4096) => _buf = ArrayPool<byte>.Shared.Rent(Math.Max(capacity, 64));

    public int Length { get; set; }

    public byte[] Buffer => _buf;

    public ReadOnlySpan<byte> Written => _buf.AsSpan(0, Length);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Span<byte> GetSpan(int size)
    {
        if (Length + size > _buf.Length)
        {
            Grow(size);
        }

        return _buf.AsSpan(Length);
    }

    private void Grow(int size)
    {
        int n = Math.Max(_buf.Length * 2, Length + size);
        byte[] next = ArrayPool<byte>.Shared.Rent(n);
        _buf.AsSpan(0, Length).CopyTo(next);
        ArrayPool<byte>.Shared.Return(_buf);
        _buf = next;
    }

    public void WriteByte(byte b)
    {
        GetSpan(1)[0] = b;
        Length++;
    }

    public void WriteInt32(int v)
    {
        BinaryPrimitives.WriteInt32LittleEndian(GetSpan(4), v);
        Length += 4;
    }

    public void WriteUInt32(uint v)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(GetSpan(4), v);
        Length += 4;
    }

    public void WriteInt64(long v)
    {
        BinaryPrimitives.WriteInt64LittleEndian(GetSpan(8), v);
        Length += 8;
    }

    public void WriteDouble(double v) => WriteInt64(BitConverter.DoubleToInt64Bits(v));

    public void WriteVarUInt(ulong v)
    {
        Length += Varint.Write(GetSpan(10), v);
    }

    public void WriteBytes(ReadOnlySpan<byte> data)
    {
        data.CopyTo(GetSpan(data.Length));
        Length += data.Length;
    }

    public void Dispose()
    {
        byte[] b = _buf;
        _buf = [];
        if (b.Length > 0)
        {
            ArrayPool<byte>.Shared.Return(b);
        }
    }
}

internal static class Varint
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ZigZag(long v) => (ulong)((v << 1) ^ (v >> 63));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static long UnZigZag(ulong v) => (long)(v >> 1) ^ -(long)(v & 1);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Write(Span<byte> dst, ulong v)
    {
        int i = 0;
        while (v >= 0x80)
        {
            dst[i++] = (byte)(v | 0x80);
            v >>= 7;
        }

        dst[i++] = (byte)v;
        return i;
    }

    /// <summary>Reads a varint; throws <see cref="InvalidDataException"/> on overrun or more than 10 bytes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(ReadOnlySpan<byte> src, ref int pos)
    {
        ulong result = 0;
        int shift = 0;
        while (true)
        {
            if ((uint)pos >= (uint)src.Length || shift > 63)
            {
                ThrowBad();
            }

            byte b = src[pos++];
            result |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80)
            {
                return result;
            }

            shift += 7;
        }
    }

    private static void ThrowBad() => throw new InvalidDataException("varint overruns its buffer or exceeds 10 bytes");
}

/// <summary>Writes bits most-significant first into a <see cref="ByteSink"/>.</summary>
internal struct BitWriter
{
    private readonly ByteSink _sink;
    private ulong _acc;
    private int _bits;

    public BitWriter(ByteSink sink)
    {
        _sink = sink;
        _acc = 0;
        _bits = 0;
    }

    /// <summary>Writes the low <paramref name="count"/> bits of <paramref name="value"/> (0 ≤ count ≤ 64).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(ulong value, int count)
    {
        if (count == 0)
        {
            return;
        }

        if (count < 64)
        {
            value &= (1UL << count) - 1;
        }

        int free = 64 - _bits;
        if (count <= free)
        {
            _acc = count == 64 ? value : (_acc << count) | value;
            _bits += count;
            if (_bits == 64)
            {
                FlushWord();
            }

            return;
        }

        // split: high part fills the accumulator
        int hi = count - free;
        _acc = (_acc << free) | (value >> hi);
        _bits = 64;
        FlushWord();
        _acc = value & ((1UL << hi) - 1);
        _bits = hi;
    }

    private void FlushWord()
    {
        BinaryPrimitives.WriteUInt64BigEndian(_sink.GetSpan(8), _acc);
        _sink.Length += 8;
        _acc = 0;
        _bits = 0;
    }

    /// <summary>Pads to a byte boundary and writes the remaining bytes.</summary>
    public void Finish()
    {
        if (_bits == 0)
        {
            return;
        }

        int bytes = (_bits + 7) >> 3;
        ulong v = _acc << ((bytes * 8) - _bits);
        Span<byte> dst = _sink.GetSpan(bytes);
        for (int i = bytes - 1; i >= 0; i--)
        {
            dst[i] = (byte)v;
            v >>= 8;
        }

        _sink.Length += bytes;
        _acc = 0;
        _bits = 0;
    }
}

/// <summary>Reads bits written by <see cref="BitWriter"/>; throws <see cref="InvalidDataException"/> past the end.</summary>
internal ref struct BitReader
{
    private readonly ReadOnlySpan<byte> _src;
    private long _bitPos;

    public BitReader(ReadOnlySpan<byte> src)
    {
        _src = src;
        _bitPos = 0;
    }

    public readonly int BytePosition => (int)((_bitPos + 7) >> 3);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ulong Read(int count)
    {
        if (count == 0)
        {
            return 0;
        }

        if (_bitPos + count > (long)_src.Length * 8)
        {
            ThrowEnd();
        }

        int byteIndex = (int)(_bitPos >> 3);
        int bitOffset = (int)(_bitPos & 7);
        _bitPos += count;
        if (byteIndex + 8 <= _src.Length)
        {
            ulong word = BinaryPrimitives.ReadUInt64BigEndian(_src.Slice(byteIndex));
            int avail = 64 - bitOffset;
            if (count <= avail)
            {
                word <<= bitOffset;
                return word >> (64 - count);
            }

            // need bits from a 9th byte
            ulong hiPart = (word << bitOffset) >> bitOffset; // avail bits
            int rest = count - avail;
            ulong next = _src[byteIndex + 8];
            return (hiPart << rest) | (next >> (8 - rest));
        }

        return ReadSlow(byteIndex, bitOffset, count);
    }

    private readonly ulong ReadSlow(int byteIndex, int bitOffset, int count)
    {
        ulong result = 0;
        int remaining = count;
        while (remaining > 0)
        {
            int avail = 8 - bitOffset;
            int take = Math.Min(avail, remaining);
            int b = _src[byteIndex];
            int v = (b >> (avail - take)) & ((1 << take) - 1);
            result = (result << take) | (uint)v;
            remaining -= take;
            bitOffset = 0;
            byteIndex++;
        }

        return result;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool ReadBit() => Read(1) != 0;

    /// <summary>Reads <paramref name="dst"/>.Length values of <paramref name="width"/> bits (1..64) each.</summary>
    public void ReadMany(int width, Span<long> dst)
    {
        if (_bitPos + ((long)width * dst.Length) > (long)_src.Length * 8)
        {
            ThrowEnd();
        }

        int k = 0;
        if (width <= 57)
        {
            // one unaligned 8-byte load per value: bounds were checked once above
            ref byte b0 = ref MemoryMarshal.GetReference(_src);
            long pos = _bitPos;
            int shift = 64 - width;
            int lastSafe = _src.Length - 8;
            for (; k < dst.Length; k++)
            {
                int byteIndex = (int)(pos >> 3);
                if (byteIndex > lastSafe)
                {
                    break;
                }

                ulong word = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b0, byteIndex));
                if (BitConverter.IsLittleEndian)
                {
                    word = BinaryPrimitives.ReverseEndianness(word);
                }

                dst[k] = (long)((word << (int)(pos & 7)) >> shift);
                pos += width;
            }

            _bitPos = pos;
        }

        for (; k < dst.Length; k++)
        {
            dst[k] = (long)Read(width);
        }
    }

    private static void ThrowEnd() => throw new InvalidDataException("bit stream ends before its declared content");
}
