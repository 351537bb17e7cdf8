using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>Index entry of one chunk: where it is, what it covers and its pre-aggregates (numeric kinds).</summary>
[StructLayout(LayoutKind.Auto)]
internal struct ChunkEntry
{
    public const int Size = 4 + 1 + 4 + 8 + 8 + 8 + 4 + 4 + (6 * 8);

    public int SeriesId;
    public ValueKind Kind;
    public int Count;
    public long MinT;
    public long MaxT;
    public long Offset;
    public int Length;
    public uint Crc;
    public double Min;
    public double Max;
    public double Sum;
    public double M2;
    public double First;
    public double Last;

    public readonly void Write(ByteSink s)
    {
        s.WriteInt32(SeriesId);
        s.WriteByte((byte)Kind);
        s.WriteInt32(Count);
        s.WriteInt64(MinT);
        s.WriteInt64(MaxT);
        s.WriteInt64(Offset);
        s.WriteInt32(Length);
        s.WriteUInt32(Crc);
        s.WriteDouble(Min);
        s.WriteDouble(Max);
        s.WriteDouble(Sum);
        s.WriteDouble(M2);
        s.WriteDouble(First);
        s.WriteDouble(Last);
    }

    public static ChunkEntry Read(ReadOnlySpan<byte> b)
    {
        var e = new ChunkEntry
        {
            SeriesId = BinaryPrimitives.ReadInt32LittleEndian(b),
            Kind = (ValueKind)b[4],
            Count = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(5)),
            MinT = BinaryPrimitives.ReadInt64LittleEndian(b.Slice(9)),
            MaxT = BinaryPrimitives.ReadInt64LittleEndian(b.Slice(17)),
            Offset = BinaryPrimitives.ReadInt64LittleEndian(b.Slice(25)),
            Length = BinaryPrimitives.ReadInt32LittleEndian(b.Slice(33)),
            Crc = BinaryPrimitives.ReadUInt32LittleEndian(b.Slice(37)),
        };
        int p = 41;
        e.Min = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p));
        e.Max = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p + 8));
        e.Sum = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p + 16));
        e.M2 = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p + 24));
        e.First = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p + 32));
        e.Last = BinaryPrimitives.ReadDoubleLittleEndian(b.Slice(p + 40));
        return e;
    }
}

/// <summary>
/// An immutable block file: "ZBLK" v1 header, chunk payloads, an index of <see cref="ChunkEntry"/> sorted by
/// (series, MinT), and a 24-byte trailer (index offset, index length, index CRC32C, "ZBLKEND1").
/// Every chunk carries its own CRC32C in the index; all are verified on open and again on every read.
/// </summary>
internal sealed class BlockFile : IDisposable
{
    public const string Prefix = "blk-";
    public const string Extension = ".zblk";
    private const uint Magic = 0x4B4C425A; // "ZBLK"
    private const uint Version = 1;
    private const int HeaderSize = 8;
    private const int TrailerSize = 24;
    private const ulong TrailerMagic = 0x31444E454B4C425A; // "ZBLKEND1"
    internal const int MaxChunkBytes = 1 << 28;

    private readonly SafeFileHandle _handle;
    private int _disposed;

    private BlockFile(string path, long seq, SafeFileHandle handle, ChunkEntry[] entries, long bytes)
    {
        Path = path;
        Seq = seq;
        _handle = handle;
        Entries = entries;
        Bytes = bytes;
        MinT = long.MaxValue;
        MaxT = long.MinValue;
        foreach (ChunkEntry e in entries)
        {
            MinT = Math.Min(MinT, e.MinT);
            MaxT = Math.Max(MaxT, e.MaxT);
            Points += e.Count;
        }
    }

    public string Path { get; }
    public long Seq { get; }
    public ChunkEntry[] Entries { get; }
    public long Bytes { get; }
    public long MinT { get; }
    public long MaxT { get; }
    public long Points { get; }

    public static string FileName(long seq) => $"{Prefix}{seq:D12}{Extension}";

    public static bool TryParseSeq(string fileName, out long seq)
    {
        seq = 0;
        return fileName.StartsWith(Prefix, StringComparison.Ordinal) && fileName.EndsWith(Extension, StringComparison.Ordinal)
            && long.TryParse(fileName.AsSpan(Prefix.Length, fileName.Length - Prefix.Length - Extension.Length), out seq);
    }

    /// <summary>Range of <see cref="Entries"/> for a series (entries are sorted by series then MinT).</summary>
    public (int Start, int End) RangeOf(int seriesId)
    {
        ChunkEntry[] e = Entries;
        int lo = 0;
        int hi = e.Length;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (e[mid].SeriesId < seriesId)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        int end = lo;
        while (end < e.Length && e[end].SeriesId == seriesId)
        {
            end++;
        }

        return (lo, end);
    }

    /// <summary>Reads and CRC-checks a chunk's payload into <paramref name="buffer"/> (at least entry.Length bytes).</summary>
    public ReadOnlySpan<byte> ReadChunk(in ChunkEntry e, byte[] buffer)
    {
        Span<byte> dst = buffer.AsSpan(0, e.Length);
        int n = RandomAccess.Read(_handle, dst, e.Offset);
        if (n != e.Length || Crc32C.Compute(dst) != e.Crc)
        {
            throw new InvalidDataException($"{Path}: chunk of series {e.SeriesId} at offset {e.Offset} fails its CRC");
        }

        return dst;
    }

    /// <summary>Decodes a chunk into a pooled <see cref="PointRun"/>.</summary>
    public PointRun Decode(in ChunkEntry e)
    {
        byte[] buf = ArrayPool<byte>.Shared.Rent(Math.Max(e.Length, 1));
        var run = PointRun.Rent(e.Count, e.Kind == ValueKind.String);
        try
        {
            ReadOnlySpan<byte> payload = ReadChunk(e, buf);
            ChunkCodec.Decode(e.Kind, payload, run.Ts.AsSpan(0, e.Count), run.Vals.AsSpan(0, e.Count),
                run.Texts is null ? [] : run.Texts.AsSpan(0, e.Count));
            run.Count = e.Count;
            return run;
        }
        catch
        {
            run.Return();
            throw;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _handle.Dispose();
        }
    }

    /// <summary>
    /// Opens and fully verifies a block file. Throws <see cref="InvalidDataException"/> when the file as a whole is unusable;
    /// chunks that fail their CRC are left out and described in <paramref name="badChunks"/>.
    /// </summary>
    public static BlockFile Open(string path, long seq, List<string> badChunks)
    {
        SafeFileHandle h = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read | FileShare.Delete);
        try
        {
            long len = RandomAccess.GetLength(h);
            if (len < HeaderSize + TrailerSize)
            {
                throw new InvalidDataException($"file of {len} bytes is shorter than header and trailer");
            }

            Span<byte> head = stackalloc byte[HeaderSize];
            RandomAccess.Read(h, head, 0);
            if (BinaryPrimitives.ReadUInt32LittleEndian(head) != Magic || BinaryPrimitives.ReadUInt32LittleEndian(head.Slice(4)) != Version)
            {
                throw new InvalidDataException("bad magic or version in header");
            }

            Span<byte> trailer = stackalloc byte[TrailerSize];
            RandomAccess.Read(h, trailer, len - TrailerSize);
            long indexOffset = BinaryPrimitives.ReadInt64LittleEndian(trailer);
            int indexLength = BinaryPrimitives.ReadInt32LittleEndian(trailer.Slice(8));
            uint indexCrc = BinaryPrimitives.ReadUInt32LittleEndian(trailer.Slice(12));
            if (BinaryPrimitives.ReadUInt64LittleEndian(trailer.Slice(16)) != TrailerMagic)
            {
                throw new InvalidDataException("bad trailer magic (file truncated or overwritten)");
            }

            if (indexOffset < HeaderSize || indexLength < 4 || indexOffset + indexLength != len - TrailerSize)
            {
                throw new InvalidDataException($"index at {indexOffset} length {indexLength} does not fit the file of {len} bytes");
            }

            byte[] index = new byte[indexLength];
            RandomAccess.Read(h, index, indexOffset);
            if (Crc32C.Compute(index) != indexCrc)
            {
                throw new InvalidDataException("index fails its CRC");
            }

            int count = BinaryPrimitives.ReadInt32LittleEndian(index);
            if (count < 0 || (long)count * ChunkEntry.Size != indexLength - 4)
            {
                throw new InvalidDataException($"index declares {count} chunks but holds {indexLength - 4} bytes");
            }

            var entries = new List<ChunkEntry>(count);
            byte[] buf = ArrayPool<byte>.Shared.Rent(4096);
            try
            {
                for (int i = 0; i < count; i++)
                {
                    ChunkEntry e = ChunkEntry.Read(index.AsSpan(4 + (i * ChunkEntry.Size)));
                    if (e.Count < 1 || e.Length < 1 || e.Length > MaxChunkBytes || e.Offset < HeaderSize
                        || e.Offset + e.Length > indexOffset || e.MinT > e.MaxT || e.SeriesId < 0
                        || e.Kind is < ValueKind.Float64 or > ValueKind.String)
                    {
                        throw new InvalidDataException($"index entry {i} is inconsistent (offset {e.Offset}, length {e.Length}, count {e.Count})");
                    }

                    if (buf.Length < e.Length)
                    {
                        ArrayPool<byte>.Shared.Return(buf);
                        buf = ArrayPool<byte>.Shared.Rent(e.Length);
                    }

                    Span<byte> data = buf.AsSpan(0, e.Length);
                    int n = RandomAccess.Read(h, data, e.Offset);
                    if (n != e.Length || Crc32C.Compute(data) != e.Crc)
                    {
                        badChunks.Add($"chunk {i} (series {e.SeriesId}, {e.Count} points, offset {e.Offset}) fails its CRC");
                        continue;
                    }

                    entries.Add(e);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buf);
            }

            ChunkEntry[] arr = [.. entries];
            Array.Sort(arr, static (a, b) => a.SeriesId != b.SeriesId ? a.SeriesId.CompareTo(b.SeriesId) : a.MinT.CompareTo(b.MinT));
            return new BlockFile(path, seq, h, arr, len);
        }
        catch
        {
            h.Dispose();
            throw;
        }
    }

    /// <summary>Copies the intact chunks of <paramref name="source"/> into a new file at <paramref name="path"/>.</summary>
    public static void Rewrite(BlockFile source, string path)
    {
        using var w = new BlockWriter();
        byte[] buf = ArrayPool<byte>.Shared.Rent(4096);
        try
        {
            foreach (ChunkEntry e in source.Entries)
            {
                if (buf.Length < e.Length)
                {
                    ArrayPool<byte>.Shared.Return(buf);
                    buf = ArrayPool<byte>.Shared.Rent(e.Length);
                }

                w.AddRaw(e, source.ReadChunk(e, buf));
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buf);
        }

        w.WriteTo(path);
    }

    /// <summary>Builds a block file in memory, then writes it to a temp name, fsyncs and renames it into place.</summary>
    internal sealed class BlockWriter : IDisposable
    {
        private readonly ByteSink _data = new(1 << 16);
        private readonly ByteSink _scratch = new(1 << 12);
        private readonly List<ChunkEntry> _entries = [];

        public BlockWriter()
        {
            _data.WriteUInt32(Magic);
            _data.WriteUInt32(Version);
        }

        public int ChunkCount => _entries.Count;

        public void AddChunk(int seriesId, ValueKind kind, ReadOnlySpan<long> ts, ReadOnlySpan<long> vals, ReadOnlySpan<string?> texts)
        {
            _scratch.Length = 0;
            ChunkCodec.Encode(kind, ts, vals, texts, _scratch);
            var e = new ChunkEntry
            {
                SeriesId = seriesId,
                Kind = kind,
                Count = ts.Length,
                MinT = ts[0],
                MaxT = ts[^1],
            };
            if (kind != ValueKind.String)
            {
                double min = double.PositiveInfinity;
                double max = double.NegativeInfinity;
                double sum = 0;
                bool isFloat = kind == ValueKind.Float64;
                for (int i = 0; i < vals.Length; i++)
                {
                    double x = isFloat ? BitConverter.Int64BitsToDouble(vals[i]) : vals[i];
                    min = Math.Min(min, x);
                    max = Math.Max(max, x);
                    sum += x;
                }

                // second pass for the sum of squared deviations: exact enough and free of per-point divisions
                double mean = sum / vals.Length;
                double m2 = 0;
                for (int i = 0; i < vals.Length; i++)
                {
                    double d = (isFloat ? BitConverter.Int64BitsToDouble(vals[i]) : vals[i]) - mean;
                    m2 += d * d;
                }

                e.Min = min;
                e.Max = max;
                e.Sum = sum;
                e.M2 = m2;
                e.First = ValueOps.AsDouble(kind, vals[0]);
                e.Last = ValueOps.AsDouble(kind, vals[^1]);
            }

            AddRaw(e, _scratch.Written);
        }

        public void AddRaw(ChunkEntry e, ReadOnlySpan<byte> payload)
        {
            e.Offset = _data.Length;
            e.Length = payload.Length;
            e.Crc = Crc32C.Compute(payload);
            _data.WriteBytes(payload);
            _entries.Add(e);
        }

        public long WriteTo(string path)
        {
            long indexOffset = _data.Length;
            int start = _data.Length;
            _data.WriteInt32(_entries.Count);
            _entries.Sort(static (a, b) => a.SeriesId != b.SeriesId ? a.SeriesId.CompareTo(b.SeriesId) : a.MinT.CompareTo(b.MinT));
            foreach (ChunkEntry e in _entries)
            {
                e.Write(_data);
            }

            int indexLength = _data.Length - start;
            uint crc = Crc32C.Compute(_data.Buffer.AsSpan(start, indexLength));
            _data.WriteInt64(indexOffset);
            _data.WriteInt32(indexLength);
            _data.WriteUInt32(crc);
            _data.WriteInt64(unchecked((long)TrailerMagic));
            Durable.WriteFileAtomic(path, _data.Written);
            return _data.Length;
        }

        public void Dispose()
        {
            _data.Dispose();
            _scratch.Dispose();
        }
    }
}
