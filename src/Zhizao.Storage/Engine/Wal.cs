using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>
/// WAL and catalog record framing: [u32 payload length][u32 CRC32C of payload][payload]. Payload byte 0 is the type.
/// Series: id (varint), kind (byte), key (UTF-8, rest of payload).
/// Points: count (u32 LE), then per point: series id (varint), timestamp as zigzag varint delta from the previous point
/// of the record (the first from 0), value: Float64 8 bytes LE, Int64 zigzag varint, Bool 1 byte, String varint
/// length + UTF-8.
/// </summary>
internal static class WalFormat
{
    public const int FrameHeader = 8;
    public const byte TypeSeries = 1;
    public const byte TypePoints = 2;
    public const int MaxRecordBytes = 1 << 28;
    public const int MaxKeyBytes = 4096;

    /// <summary>Encodes a series record, framed, into a pooled buffer; returns its length.</summary>
    public static int EncodeSeries(int id, ValueKind kind, string key, out byte[] buffer)
    {
        int keyBytes = Encoding.UTF8.GetByteCount(key);
        buffer = ArrayPool<byte>.Shared.Rent(FrameHeader + 1 + 5 + 1 + keyBytes);
        Span<byte> p = buffer.AsSpan(FrameHeader);
        int n = 0;
        p[n++] = TypeSeries;
        n += Varint.Write(p.Slice(n), (ulong)id);
        p[n++] = (byte)kind;
        n += Encoding.UTF8.GetBytes(key, p.Slice(n));
        Frame(buffer, n);
        return FrameHeader + n;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int WriteVarint(ref byte dst, ulong v)
    {
        int i = 0;
        while (v >= 0x80)
        {
            Unsafe.Add(ref dst, i++) = (byte)(v | 0x80);
            v >>= 7;
        }

        Unsafe.Add(ref dst, i++) = (byte)v;
        return i;
    }

    public static void Frame(byte[] buffer, int payloadLength)
    {
        BinaryPrimitives.WriteInt32LittleEndian(buffer, payloadLength);
        BinaryPrimitives.WriteUInt32LittleEndian(buffer.AsSpan(4), Crc32C.Compute(buffer.AsSpan(FrameHeader, payloadLength)));
    }

    /// <summary>Reads framed records from a stream until the end or the first bad one.</summary>
    public static IEnumerable<(long Offset, byte[] Payload, int Length)> ReadFrames(Stream s, Action<long, string> onBad)
    {
        long offset = 0;
        long length = s.Length;
        byte[] header = new byte[FrameHeader];
        byte[] payload = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            while (offset < length)
            {
                if (length - offset < FrameHeader)
                {
                    onBad(offset, $"truncated record header ({length - offset} bytes)");
                    yield break;
                }

                s.Position = offset;
                s.ReadExactly(header);
                int len = BinaryPrimitives.ReadInt32LittleEndian(header);
                uint crc = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(4));
                if (len < 1 || len > MaxRecordBytes)
                {
                    onBad(offset, $"record length {len} outside 1..{MaxRecordBytes}");
                    yield break;
                }

                if (len > length - offset - FrameHeader)
                {
                    onBad(offset, $"truncated record: length {len} exceeds the {length - offset - FrameHeader} bytes left");
                    yield break;
                }

                if (payload.Length < len)
                {
                    ArrayPool<byte>.Shared.Return(payload);
                    payload = ArrayPool<byte>.Shared.Rent(len);
                }

                s.ReadExactly(payload, 0, len);
                if (Crc32C.Compute(payload.AsSpan(0, len)) != crc)
                {
                    onBad(offset, "record fails its CRC");
                    yield break;
                }

                yield return (offset, payload, len);
                offset += FrameHeader + len;
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(payload);
        }
    }
}

/// <summary>The current WAL segment plus the bookkeeping of older ones. Used by the commit thread only (and seal, under the commit lock).</summary>
internal sealed class WalWriter : IDisposable
{
    public const string Prefix = "wal-";
    public const string Extension = ".log";

    private readonly string _dir;
    private readonly bool _fsync;
    private readonly long _segmentBytes;
    private readonly SortedDictionary<long, long> _closed = []; // seq → bytes
    private SafeFileHandle _handle;
    private readonly List<ReadOnlyMemory<byte>> _gather = [];

    public WalWriter(string dir, long firstSeq, IEnumerable<(long Seq, long Bytes)> existing, bool fsync, long segmentBytes)
    {
        _dir = dir;
        _fsync = fsync;
        _segmentBytes = segmentBytes;
        foreach ((long seq, long bytes) in existing)
        {
            _closed[seq] = bytes;
        }

        CurrentSeq = firstSeq;
        _handle = Create(firstSeq);
    }

    public long CurrentSeq { get; private set; }
    public long CurrentBytes { get; private set; }
    public long TotalBytes => CurrentBytes + SumClosed();
    public bool HasClosedSegments => _closed.Count > 0;

    private long SumClosed()
    {
        lock (_closed)
        {
            long s = 0;
            foreach (long b in _closed.Values)
            {
                s += b;
            }

            return s;
        }
    }

    public static string FileName(long seq) => $"{Prefix}{seq:D12}{Extension}";

    public static bool TryParseSeq(string fileName, out long seq)
    {
        seq = 0;
        return fileName.StartsWith(Prefix, StringComparison.Ordinal) && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && long.TryParse(fileName.AsSpan(Prefix.Length, fileName.Length - Prefix.Length - Extension.Length), out seq);
    }

    private SafeFileHandle Create(long seq)
    {
        SafeFileHandle h = File.OpenHandle(Path.Combine(_dir, FileName(seq)), FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        CurrentBytes = 0;
        if (_fsync)
        {
            Durable.SyncDirectory(_dir);
        }

        return h;
    }

    /// <summary>Appends the buffers with one gathered write and (per policy) one fsync.</summary>
    public void Append(List<(byte[] Buffer, int Length)> records)
    {
        _gather.Clear();
        long total = 0;
        foreach ((byte[] b, int len) in records)
        {
            _gather.Add(b.AsMemory(0, len));
            total += len;
        }

        if (total == 0)
        {
            return;
        }

        RandomAccess.Write(_handle, _gather, CurrentBytes);
        CurrentBytes += total;
        if (_fsync)
        {
            RandomAccess.FlushToDisk(_handle);
        }

        _gather.Clear();
    }

    public bool ShouldRotate => CurrentBytes >= _segmentBytes;

    /// <summary>Closes the current segment and starts the next; returns the sequence of the closed one.</summary>
    public long Rotate()
    {
        long closed = CurrentSeq;
        if (_fsync)
        {
            RandomAccess.FlushToDisk(_handle);
        }

        _handle.Dispose();
        lock (_closed)
        {
            _closed[closed] = CurrentBytes;
        }

        CurrentSeq++;
        _handle = Create(CurrentSeq);
        return closed;
    }

    /// <summary>Deletes closed segments with sequence ≤ <paramref name="seq"/> (their content is sealed in blocks).</summary>
    public void DeleteUpTo(long seq)
    {
        List<long> doomed = [];
        lock (_closed)
        {
            foreach (long s in _closed.Keys)
            {
                if (s <= seq)
                {
                    doomed.Add(s);
                }
            }

            foreach (long s in doomed)
            {
                _closed.Remove(s);
            }
        }

        foreach (long s in doomed)
        {
            File.Delete(Path.Combine(_dir, FileName(s)));
        }

        if (doomed.Count > 0)
        {
            Durable.SyncDirectory(_dir);
        }
    }

    public void Dispose() => _handle.Dispose();
}
