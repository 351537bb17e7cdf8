using System.Buffers.Binary;
using System.Numerics;
using System.Text.Unicode;
using System.Runtime.CompilerServices;
using System.Text;
using Zhizao.Core;

namespace Zhizao.Ingest;

/// <summary>
/// Maps the UTF-8 bytes of a series key (<c>prefix + '/' + field</c>) to the storage's series id and kind, without
/// allocating on a hit. On a miss it builds the key string once, asks the resolver, and caches the answer.
/// </summary>
/// <remarks>
/// Thread-safety: any number of threads may look up concurrently (lock-free reads of an immutable-once-published
/// open-addressing table); misses take a lock. One cache per store, shared by all HTTP request threads, is the
/// intended use. A resolver exception that is an input error (<see cref="ConflictException"/>,
/// <see cref="InvalidInputException"/>) becomes a rejection reason and is not cached; any other exception
/// (e.g. <see cref="TransientException"/>) propagates to the caller, which should fail the whole request.
/// <para>
/// Value-kind rules applied on every point: an Int64 value written to a Float64 series is stored as a double; with
/// <c>allowFloatToInt</c> (JSON and CSV, whose numbers have no integer marker) an integral Float64 value written to
/// an Int64 series is stored as a long. Every other mismatch is rejected with a reason naming both kinds.
/// </para>
/// </remarks>
public sealed class SeriesKeyCache
{
    private readonly Func<string, ValueKind, (int Id, ValueKind Kind)> _resolver;
    private readonly Lock _writeLock = new();
    private readonly int _maxEntries;
    private Table _table;

    /// <summary>
    /// <paramref name="resolver"/> returns the id of the series with that key, creating it with the given kind if
    /// needed, and throws <see cref="ConflictException"/> when it exists with another kind (as
    /// <c>ITimeSeriesStore.GetOrCreateSeries</c> does). The cached kind is the requested one.
    /// </summary>
    public SeriesKeyCache(Func<string, ValueKind, int> resolver, int maxEntries = 4_000_000)
        : this(WrapResolver(resolver ?? throw new ArgumentNullException(nameof(resolver))), maxEntries)
    {
    }

    /// <summary>
    /// Kind-aware resolver: returns the series' id and its actual kind (which may differ from the requested kind for
    /// an existing series; the cache then applies the coercion rules instead of failing).
    /// </summary>
    public SeriesKeyCache(Func<string, ValueKind, (int Id, ValueKind Kind)> resolver, int maxEntries = 4_000_000)
    {
        _resolver = resolver ?? throw new ArgumentNullException(nameof(resolver));
        _maxEntries = maxEntries;
        _table = new Table(1024, 64 * 1024);
    }

    public int Count => Volatile.Read(ref _table).Count;

    /// <summary>Looks up or resolves the series of <c>key</c> (UTF-8, already in canonical form).</summary>
    public bool TryResolve(ReadOnlySpan<byte> key, ref ValueKind kind, ref long bits, out int seriesId, out string? error, bool allowFloatToInt = false)
        => TryResolve(key, ReadOnlySpan<byte>.Empty, ref kind, ref bits, out seriesId, out error, allowFloatToInt);

    /// <summary>
    /// Looks up or resolves the series <c>prefix + '/' + field</c> (or just <paramref name="prefix"/> when
    /// <paramref name="field"/> is empty) for a value of <paramref name="kind"/> with 8-byte payload
    /// <paramref name="bits"/>, which are coerced in place to the series' kind when the rules allow.
    /// Returns false with a reason on a kind conflict or a key the resolver refuses.
    /// </summary>
    public bool TryResolve(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, ref ValueKind kind, ref long bits,
        out int seriesId, out string? error, bool allowFloatToInt = false)
        => TryResolve(HashPrefix(prefix), prefix, field, ref kind, ref bits, out seriesId, out error, allowFloatToInt);

    /// <summary>As above, with the prefix hashed once per line by <see cref="HashPrefix"/>.</summary>
    internal bool TryResolve(ulong prefixHash, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, ref ValueKind kind, ref long bits,
        out int seriesId, out string? error, bool allowFloatToInt = false)
    {
        ulong hash = Hash(prefixHash, field);
        Table table = Volatile.Read(ref _table);
        if (!table.TryFind(hash, prefix, field, out seriesId, out ValueKind seriesKind))
        {
            if (!Miss(hash, prefix, field, kind, out seriesId, out seriesKind, out error))
            {
                return false;
            }
        }

        if (seriesKind == kind)
        {
            error = null;
            return true;
        }

        return TryCoerce(seriesKind, ref kind, ref bits, allowFloatToInt, prefix, field, out error);
    }

    private static bool TryCoerce(ValueKind seriesKind, ref ValueKind kind, ref long bits, bool allowFloatToInt,
        ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, out string? error)
    {
        if (seriesKind == ValueKind.Float64 && kind == ValueKind.Int64)
        {
            bits = BitConverter.DoubleToInt64Bits(bits);
            kind = ValueKind.Float64;
            error = null;
            return true;
        }

        if (allowFloatToInt && seriesKind == ValueKind.Int64 && kind == ValueKind.Float64)
        {
            double d = BitConverter.Int64BitsToDouble(bits);
            if (Math.Floor(d) == d && d >= -9.2233720368547758E18 && d < 9.2233720368547758E18)
            {
                bits = (long)d;
                kind = ValueKind.Int64;
                error = null;
                return true;
            }
        }

        error = $"type conflict: series '{KeyString(prefix, field)}' holds {seriesKind}, got {kind}";
        return false;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private bool Miss(ulong hash, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, ValueKind kind,
        out int seriesId, out ValueKind seriesKind, out string? error)
    {
        lock (_writeLock)
        {
            Table table = _table;
            if (table.TryFind(hash, prefix, field, out seriesId, out seriesKind))
            {
                error = null;
                return true;
            }

            int keyLength = prefix.Length + (field.IsEmpty ? 0 : field.Length + 1);
            if (keyLength > SeriesKey.MaxLength)
            {
                error = $"series key is {keyLength} bytes, longer than the limit of {SeriesKey.MaxLength}";
                return false;
            }

            if (!Utf8.IsValid(prefix) || !Utf8.IsValid(field))
            {
                error = "series key is not valid UTF-8";
                return false;
            }

            string key = KeyString(prefix, field);
            try
            {
                (seriesId, seriesKind) = _resolver(key, kind);
            }
            catch (ConflictException e)
            {
                error = e.Message;
                return false;
            }
            catch (InvalidInputException e)
            {
                error = e.Message;
                return false;
            }

            if (table.Count >= _maxEntries)
            {
                // Bounded memory: beyond the limit the cache still answers, it just stops remembering.
                error = null;
                return true;
            }

            if (!table.HasRoomFor(keyLength))
            {
                table = table.Grow(keyLength);
                table.Add(hash, prefix, field, seriesId, seriesKind);
                Volatile.Write(ref _table, table);
            }
            else
            {
                table.Add(hash, prefix, field, seriesId, seriesKind);
            }

            error = null;
            return true;
        }
    }

    private static Func<string, ValueKind, (int, ValueKind)> WrapResolver(Func<string, ValueKind, int> resolver)
        => (key, kind) => (resolver(key, kind), kind);

    internal static string KeyString(ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field)
    {
        if (field.IsEmpty)
        {
            return Encoding.UTF8.GetString(prefix);
        }

        int length = prefix.Length + 1 + field.Length;
        Span<byte> buffer = length <= 1024 ? stackalloc byte[length] : new byte[length];
        prefix.CopyTo(buffer);
        buffer[prefix.Length] = (byte)'/';
        field.CopyTo(buffer[(prefix.Length + 1)..]);
        return Encoding.UTF8.GetString(buffer[..length]);
    }

    /// <summary>First half of a key's hash; <see cref="Hash"/> mixes in the '/' separator and the field.</summary>
    internal static ulong HashPrefix(ReadOnlySpan<byte> prefix) => HashBytes(prefix, 0x9E3779B97F4A7C15UL);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Hash(ulong prefixHash, ReadOnlySpan<byte> field)
    {
        ulong h = prefixHash;
        if (!field.IsEmpty)
        {
            h = HashBytes(field, h ^ 0x2F);
        }

        return Mix(h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong HashBytes(ReadOnlySpan<byte> data, ulong seed)
    {
        const ulong P1 = 0xA0761D6478BD642FUL;
        const ulong P2 = 0xE7037ED1A0B428DBUL;
        ulong h = seed ^ ((ulong)data.Length * P1);
        while (data.Length >= 16)
        {
            ulong a = BinaryPrimitives.ReadUInt64LittleEndian(data);
            ulong b = BinaryPrimitives.ReadUInt64LittleEndian(data[8..]);
            h = MulFold(a ^ P1 ^ h, b ^ P2);
            data = data[16..];
        }

        if (data.Length >= 8)
        {
            h = MulFold(BinaryPrimitives.ReadUInt64LittleEndian(data) ^ P1, h ^ P2);
            data = data[8..];
        }

        ulong tail = 0;
        for (int i = 0; i < data.Length; i++)
        {
            tail |= (ulong)data[i] << (8 * i);
        }

        return MulFold(tail ^ P2, h ^ P1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong MulFold(ulong a, ulong b)
    {
        ulong high = Math.BigMul(a, b, out ulong low);
        return high ^ low;
    }

    private static ulong Mix(ulong h)
    {
        h ^= h >> 33;
        h *= 0xFF51AFD7ED558CCDUL;
        h ^= h >> 33;
        return h;
    }

    /// <summary>
    /// Open-addressing table. Writers (under the cache's lock) fill an entry and its key bytes, then publish the slot
    /// with a volatile write; readers see either an empty slot or a complete entry. Growth builds a new table.
    /// </summary>
    private sealed class Table
    {
        private readonly int[] _slots; // entry index + 1; 0 = empty
        private readonly Entry[] _entries;
        private readonly byte[] _arena;
        private int _arenaUsed;
        private int _count;

        public Table(int capacity, int arenaBytes)
        {
            capacity = (int)BitOperations.RoundUpToPowerOf2((uint)Math.Max(capacity, 16));
            _slots = new int[capacity * 2];
            _entries = new Entry[capacity];
            _arena = new byte[arenaBytes];
        }

        public int Count => Volatile.Read(ref _count);

        public bool HasRoomFor(int keyLength) => _count < _entries.Length && _arenaUsed + keyLength <= _arena.Length;

        public bool TryFind(ulong hash, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, out int id, out ValueKind kind)
        {
            int[] slots = _slots;
            int mask = slots.Length - 1;
            int i = (int)hash & mask;
            while (true)
            {
                int slot = Volatile.Read(ref slots[i]);
                if (slot == 0)
                {
                    id = 0;
                    kind = default;
                    return false;
                }

                ref Entry e = ref _entries[slot - 1];
                if (e.Hash == hash && Matches(e, prefix, field))
                {
                    id = e.Id;
                    kind = e.Kind;
                    return true;
                }

                i = (i + 1) & mask;
            }
        }

        private bool Matches(in Entry e, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field)
        {
            ReadOnlySpan<byte> stored = _arena.AsSpan(e.Offset, e.Length);
            if (field.IsEmpty)
            {
                return stored.SequenceEqual(prefix);
            }

            return stored.Length == prefix.Length + 1 + field.Length
                && stored[prefix.Length] == (byte)'/'
                && stored[..prefix.Length].SequenceEqual(prefix)
                && stored[(prefix.Length + 1)..].SequenceEqual(field);
        }

        public void Add(ulong hash, ReadOnlySpan<byte> prefix, ReadOnlySpan<byte> field, int id, ValueKind kind)
        {
            int offset = _arenaUsed;
            prefix.CopyTo(_arena.AsSpan(offset));
            int length = prefix.Length;
            if (!field.IsEmpty)
            {
                _arena[offset + length] = (byte)'/';
                field.CopyTo(_arena.AsSpan(offset + length + 1));
                length += field.Length + 1;
            }

            _arenaUsed += length;
            int index = _count;
            _entries[index] = new Entry { Hash = hash, Offset = offset, Length = length, Id = id, Kind = kind };
            int mask = _slots.Length - 1;
            int i = (int)hash & mask;
            while (_slots[i] != 0)
            {
                i = (i + 1) & mask;
            }

            Volatile.Write(ref _count, index + 1);
            Volatile.Write(ref _slots[i], index + 1);
        }

        public Table Grow(int extraKeyBytes)
        {
            int capacity = _count >= _entries.Length ? _entries.Length * 2 : _entries.Length;
            int arena = Math.Max(_arena.Length, 1024);
            while (arena < _arenaUsed + extraKeyBytes + 1)
            {
                arena *= 2;
            }

            if (arena == _arena.Length && capacity == _entries.Length)
            {
                arena *= 2;
            }

            var grown = new Table(capacity, arena);
            for (int i = 0; i < _count; i++)
            {
                ref Entry e = ref _entries[i];
                grown.Add(e.Hash, _arena.AsSpan(e.Offset, e.Length), ReadOnlySpan<byte>.Empty, e.Id, e.Kind);
            }

            return grown;
        }

        private struct Entry
        {
            public ulong Hash;
            public int Offset;
            public int Length;
            public int Id;
            public ValueKind Kind;
        }
    }
}
