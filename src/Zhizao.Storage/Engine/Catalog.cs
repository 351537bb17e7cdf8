using System.Buffers.Binary;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Storage.Engine;

/// <summary>
/// The series catalog file "series.cat": "ZCAT" v1, then series records framed like WAL records. Rewritten atomically
/// (temp, fsync, rename, fsync directory) at each checkpoint before WAL segments are deleted; between checkpoints new
/// series live in the WAL as series records.
/// </summary>
internal static class Catalog
{
    public const string FileName = "series.cat";
    private const uint Magic = 0x5441435A; // "ZCAT"
    private const uint Version = 1;

    public static void Write(string dir, IReadOnlyList<SeriesState> series, int count)
    {
        using var sink = new ByteSink(64 + (count * 48));
        sink.WriteUInt32(Magic);
        sink.WriteUInt32(Version);
        for (int i = 0; i < count; i++)
        {
            SeriesState s = series[i];
            int len = WalFormat.EncodeSeries(s.Id, s.Kind, s.Key, out byte[] buf);
            sink.WriteBytes(buf.AsSpan(0, len));
            System.Buffers.ArrayPool<byte>.Shared.Return(buf);
        }

        Durable.WriteFileAtomic(Path.Combine(dir, FileName), sink.Written);
    }

    /// <summary>Loads the catalog. A bad tail is reported through <paramref name="problem"/>; records before it are kept.</summary>
    public static List<(int Id, ValueKind Kind, string Key)> Load(string dir, out string? problem)
    {
        problem = null;
        var result = new List<(int, ValueKind, string)>();
        string path = Path.Combine(dir, FileName);
        if (!File.Exists(path))
        {
            return result;
        }

        byte[] all = File.ReadAllBytes(path);
        if (all.Length < 8 || BinaryPrimitives.ReadUInt32LittleEndian(all) != Magic || BinaryPrimitives.ReadUInt32LittleEndian(all.AsSpan(4)) != Version)
        {
            problem = "bad magic or version";
            return result;
        }

        using var ms = new MemoryStream(all, 8, all.Length - 8, writable: false);
        string? bad = null;
        foreach ((long offset, byte[] payload, int length) in WalFormat.ReadFrames(ms, (o, why) => bad = $"offset {o + 8}: {why}"))
        {
            if (!TryDecodeSeries(payload.AsSpan(0, length), out int id, out ValueKind kind, out string? key))
            {
                bad = $"offset {offset + 8}: undecodable series record";
                break;
            }

            result.Add((id, kind, key!));
        }

        problem = bad;
        return result;
    }

    public static bool TryDecodeSeries(ReadOnlySpan<byte> p, out int id, out ValueKind kind, out string? key)
    {
        id = 0;
        kind = 0;
        key = null;
        try
        {
            if (p.Length < 3 || p[0] != WalFormat.TypeSeries)
            {
                return false;
            }

            int pos = 1;
            ulong v = Varint.Read(p, ref pos);
            if (v > int.MaxValue || pos >= p.Length)
            {
                return false;
            }

            id = (int)v;
            kind = (ValueKind)p[pos++];
            if (kind is < ValueKind.Float64 or > ValueKind.String || p.Length - pos > WalFormat.MaxKeyBytes)
            {
                return false;
            }

            key = Encoding.UTF8.GetString(p.Slice(pos));
            return key.Length > 0;
        }
        catch (InvalidDataException)
        {
            return false;
        }
    }
}
