using System.Buffers.Binary;
using System.Text;

namespace Zhizao.Modbus;

public enum ModbusTable : byte
{
    Coil,
    DiscreteInput,
    HoldingRegister,
    InputRegister,
}

public enum ModbusDataType : byte
{
    /// <summary>A coil or discrete input.</summary>
    Bool,
    /// <summary>One bit (<see cref="ModbusPoint.Bit"/>, 0 = least significant) of a register.</summary>
    Bit,
    Int16,
    UInt16,
    Int32,
    UInt32,
    Int64,
    UInt64,
    Float32,
    Float64,
    /// <summary><see cref="ModbusPoint.Length"/> bytes, two per register, NUL-padded.</summary>
    String,
}

/// <summary>
/// Order of the bytes of a multi-register value on the wire, naming the most significant byte A.
/// ABCD is the Modbus standard (big-endian words, high word first); CDAB swaps words; BADC swaps the bytes in each
/// word; DCBA is fully little-endian. For 64-bit values the pattern extends (CDAB = low word first).
/// </summary>
public enum ModbusByteOrder : byte
{
    ABCD,
    BADC,
    CDAB,
    DCBA,
}

public enum ModbusValueKind : byte
{
    Double,
    Long,
    Bool,
    String,
}

/// <summary>A decoded point value: integers without scaling are longs, anything scaled or floating is a double.</summary>
public readonly record struct ModbusValue
{
    private readonly double _double;
    private readonly long _long;
    private readonly string? _string;

    private ModbusValue(ModbusValueKind kind, double d, long l, string? s)
    {
        Kind = kind;
        _double = d;
        _long = l;
        _string = s;
    }

    public ModbusValueKind Kind { get; }

    public static ModbusValue FromDouble(double value) => new(ModbusValueKind.Double, value, 0, null);
    public static ModbusValue FromLong(long value) => new(ModbusValueKind.Long, 0, value, null);
    public static ModbusValue FromBool(bool value) => new(ModbusValueKind.Bool, 0, value ? 1 : 0, null);
    public static ModbusValue FromString(string value) => new(ModbusValueKind.String, 0, 0, value);

    public double AsDouble() => Kind switch
    {
        ModbusValueKind.Double => _double,
        ModbusValueKind.Long or ModbusValueKind.Bool => _long,
        _ => throw new InvalidOperationException("a string value has no number"),
    };

    public long AsLong() => Kind switch
    {
        ModbusValueKind.Long or ModbusValueKind.Bool => _long,
        ModbusValueKind.Double => (long)_double,
        _ => throw new InvalidOperationException("a string value has no number"),
    };

    public bool AsBool() => Kind == ModbusValueKind.String ? throw new InvalidOperationException("a string value is not a bool") : AsDouble() != 0;

    public string AsString() => Kind switch
    {
        ModbusValueKind.String => _string!,
        ModbusValueKind.Double => _double.ToString("R"),
        ModbusValueKind.Bool => _long != 0 ? "true" : "false",
        _ => _long.ToString(),
    };

    public override string ToString() => AsString();
}

/// <summary>
/// One value in a device's register map. Address is zero-based (the PDU address). Engineering value =
/// raw * <see cref="Scale"/> + <see cref="Offset"/>.
/// </summary>
public sealed record ModbusPoint
{
    public ModbusPoint(string name, ModbusTable table, ushort address, ModbusDataType type)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        Name = name;
        Table = table;
        Address = address;
        Type = type;
    }

    public string Name { get; }
    public ModbusTable Table { get; }
    public ushort Address { get; }
    public ModbusDataType Type { get; }
    public byte UnitId { get; init; } = 1;
    public ModbusByteOrder ByteOrder { get; init; } = ModbusByteOrder.ABCD;
    public double Scale { get; init; } = 1;
    public double Offset { get; init; }

    /// <summary>String length in bytes (1..250).</summary>
    public int Length { get; init; }

    /// <summary>Bit index 0..15 for <see cref="ModbusDataType.Bit"/>.</summary>
    public int Bit { get; init; }

    public bool IsBitTable => Table is ModbusTable.Coil or ModbusTable.DiscreteInput;
    public bool IsScaled => Scale != 1 || Offset != 0;

    /// <summary>Registers (or bits, for coil and discrete tables) the point occupies.</summary>
    public int Quantity => Type switch
    {
        ModbusDataType.Bool or ModbusDataType.Bit or ModbusDataType.Int16 or ModbusDataType.UInt16 => 1,
        ModbusDataType.Int32 or ModbusDataType.UInt32 or ModbusDataType.Float32 => 2,
        ModbusDataType.Int64 or ModbusDataType.UInt64 or ModbusDataType.Float64 => 4,
        ModbusDataType.String => (Length + 1) / 2,
        _ => 1,
    };

    /// <summary>Throws <see cref="ArgumentException"/> naming the point and the rule it breaks.</summary>
    public void Validate()
    {
        if (!Enum.IsDefined(Table) || !Enum.IsDefined(Type) || !Enum.IsDefined(ByteOrder))
            throw new ArgumentException($"point '{Name}': table, type or byte order is not a defined value");
        if (IsBitTable != (Type == ModbusDataType.Bool))
            throw new ArgumentException($"point '{Name}': type Bool belongs to coils and discrete inputs, and only it does (got {Type} in {Table})");
        if (Type == ModbusDataType.String && (Length < 1 || Length > 2 * ModbusLimits.MaxReadRegisters))
            throw new ArgumentException($"point '{Name}': string length {Length} outside 1..{2 * ModbusLimits.MaxReadRegisters} bytes");
        if (Type == ModbusDataType.Bit && (Bit < 0 || Bit > 15))
            throw new ArgumentException($"point '{Name}': bit {Bit} outside 0..15");
        if (Address + Quantity > ModbusLimits.AddressSpace)
            throw new ArgumentException($"point '{Name}': address {Address} + {Quantity} runs past the 65536-entry address space");
        if (!double.IsFinite(Scale) || Scale == 0 || !double.IsFinite(Offset))
            throw new ArgumentException($"point '{Name}': scale must be finite and non-zero, offset finite");
        if (IsScaled && Type is ModbusDataType.String or ModbusDataType.Bool or ModbusDataType.Bit)
            throw new ArgumentException($"point '{Name}': {Type} cannot be scaled");
    }
}

/// <summary>Converts between registers and point values, honouring byte/word order, scale and offset.</summary>
public static class ModbusDataCodec
{
    /// <summary>Decodes a register point from exactly <see cref="ModbusPoint.Quantity"/> registers.</summary>
    public static ModbusValue Decode(ModbusPoint point, ReadOnlySpan<ushort> registers)
    {
        int span = point.Quantity;
        if (registers.Length < span)
            throw new ArgumentException($"point '{point.Name}' needs {span} registers, got {registers.Length}", nameof(registers));
        Span<byte> bytes = stackalloc byte[2 * span];
        if (point.Type == ModbusDataType.String)
        {
            for (int i = 0; i < span; i++)
                BinaryPrimitives.WriteUInt16BigEndian(bytes[(2 * i)..], registers[i]);
            if (point.ByteOrder is ModbusByteOrder.BADC or ModbusByteOrder.DCBA)
                SwapBytesInWords(bytes);
            ReadOnlySpan<byte> text = bytes[..point.Length];
            int nul = text.IndexOf((byte)0);
            if (nul >= 0)
                text = text[..nul];
            return ModbusValue.FromString(Encoding.UTF8.GetString(text).TrimEnd(' '));
        }
        ToBigEndian(registers[..span], point.ByteOrder, bytes);
        switch (point.Type)
        {
            case ModbusDataType.Bit:
                return ModbusValue.FromBool((registers[0] & (1 << point.Bit)) != 0);
            case ModbusDataType.Float32:
                return ModbusValue.FromDouble(Scale(point, BinaryPrimitives.ReadSingleBigEndian(bytes)));
            case ModbusDataType.Float64:
                return ModbusValue.FromDouble(Scale(point, BinaryPrimitives.ReadDoubleBigEndian(bytes)));
            case ModbusDataType.UInt64:
                ulong u = BinaryPrimitives.ReadUInt64BigEndian(bytes);
                return point.IsScaled || u > long.MaxValue ? ModbusValue.FromDouble(Scale(point, u)) : ModbusValue.FromLong((long)u);
        }
        long raw = point.Type switch
        {
            ModbusDataType.Int16 => BinaryPrimitives.ReadInt16BigEndian(bytes),
            ModbusDataType.UInt16 => BinaryPrimitives.ReadUInt16BigEndian(bytes),
            ModbusDataType.Int32 => BinaryPrimitives.ReadInt32BigEndian(bytes),
            ModbusDataType.UInt32 => BinaryPrimitives.ReadUInt32BigEndian(bytes),
            ModbusDataType.Int64 => BinaryPrimitives.ReadInt64BigEndian(bytes),
            _ => throw new ArgumentException($"point '{point.Name}': {point.Type} is not a register type"),
        };
        return point.IsScaled ? ModbusValue.FromDouble(Scale(point, raw)) : ModbusValue.FromLong(raw);
    }

    /// <summary>
    /// Registers to write for an engineering value (scale and offset undone, integers rounded and range-checked).
    /// Bit points cannot be written this way (a read-modify-write is the caller's decision).
    /// </summary>
    public static ushort[] Encode(ModbusPoint point, ModbusValue value)
    {
        int span = point.Quantity;
        var registers = new ushort[span];
        Span<byte> bytes = stackalloc byte[2 * span];
        switch (point.Type)
        {
            case ModbusDataType.String:
                string s = value.AsString();
                int n = Encoding.UTF8.GetByteCount(s);
                if (n > point.Length)
                    throw new ArgumentException($"point '{point.Name}': string of {n} bytes exceeds length {point.Length}");
                bytes.Clear();
                Encoding.UTF8.GetBytes(s, bytes);
                if (point.ByteOrder is ModbusByteOrder.BADC or ModbusByteOrder.DCBA)
                    SwapBytesInWords(bytes);
                for (int i = 0; i < span; i++)
                    registers[i] = BinaryPrimitives.ReadUInt16BigEndian(bytes[(2 * i)..]);
                return registers;
            case ModbusDataType.Float32:
                BinaryPrimitives.WriteSingleBigEndian(bytes, (float)Unscale(point, value.AsDouble()));
                break;
            case ModbusDataType.Float64:
                BinaryPrimitives.WriteDoubleBigEndian(bytes, Unscale(point, value.AsDouble()));
                break;
            case ModbusDataType.UInt64:
                double du = value.Kind == ModbusValueKind.Long && !point.IsScaled ? value.AsLong() : Math.Round(Unscale(point, value.AsDouble()));
                if (du < 0 || du > ulong.MaxValue)
                    throw new ArgumentOutOfRangeException(nameof(value), $"point '{point.Name}': {value} is outside UInt64");
                BinaryPrimitives.WriteUInt64BigEndian(bytes, (ulong)du);
                break;
            case ModbusDataType.Int16 or ModbusDataType.UInt16 or ModbusDataType.Int32 or ModbusDataType.UInt32 or ModbusDataType.Int64:
                long raw = value.Kind == ModbusValueKind.Long && !point.IsScaled ? value.AsLong() : ToLong(point, Math.Round(Unscale(point, value.AsDouble())));
                (long min, long max) = point.Type switch
                {
                    ModbusDataType.Int16 => (short.MinValue, short.MaxValue),
                    ModbusDataType.UInt16 => (0, ushort.MaxValue),
                    ModbusDataType.Int32 => (int.MinValue, int.MaxValue),
                    ModbusDataType.UInt32 => (0, uint.MaxValue),
                    _ => (long.MinValue, long.MaxValue),
                };
                if (raw < min || raw > max)
                    throw new ArgumentOutOfRangeException(nameof(value), $"point '{point.Name}': raw value {raw} is outside {point.Type} ({min}..{max})");
                if (span == 1)
                    BinaryPrimitives.WriteInt16BigEndian(bytes, unchecked((short)raw));
                else if (span == 2)
                    BinaryPrimitives.WriteInt32BigEndian(bytes, unchecked((int)raw));
                else
                    BinaryPrimitives.WriteInt64BigEndian(bytes, raw);
                break;
            default:
                throw new ArgumentException($"point '{point.Name}': {point.Type} in {point.Table} is not written as registers");
        }
        FromBigEndian(bytes, point.ByteOrder, registers);
        return registers;
    }

    private static long ToLong(ModbusPoint point, double d) =>
        d is >= -9.2233720368547758E18 and < 9.2233720368547758E18 ? (long)d
            : throw new ArgumentOutOfRangeException(nameof(point), $"point '{point.Name}': {d} does not fit {point.Type}");

    private static double Scale(ModbusPoint point, double raw) => point.IsScaled ? (raw * point.Scale) + point.Offset : raw;

    private static double Unscale(ModbusPoint point, double value) => point.IsScaled ? (value - point.Offset) / point.Scale : value;

    /// <summary>Registers in wire order → value bytes, most significant first.</summary>
    private static void ToBigEndian(ReadOnlySpan<ushort> registers, ModbusByteOrder order, Span<byte> bytes)
    {
        bool wordSwap = order is ModbusByteOrder.CDAB or ModbusByteOrder.DCBA;
        int n = registers.Length;
        for (int i = 0; i < n; i++)
            BinaryPrimitives.WriteUInt16BigEndian(bytes[(2 * i)..], registers[wordSwap ? n - 1 - i : i]);
        if (order is ModbusByteOrder.BADC or ModbusByteOrder.DCBA)
            SwapBytesInWords(bytes);
    }

    private static void FromBigEndian(Span<byte> bytes, ModbusByteOrder order, Span<ushort> registers)
    {
        if (order is ModbusByteOrder.BADC or ModbusByteOrder.DCBA)
            SwapBytesInWords(bytes);
        bool wordSwap = order is ModbusByteOrder.CDAB or ModbusByteOrder.DCBA;
        int n = registers.Length;
        for (int i = 0; i < n; i++)
            registers[wordSwap ? n - 1 - i : i] = BinaryPrimitives.ReadUInt16BigEndian(bytes[(2 * i)..]);
    }

    private static void SwapBytesInWords(Span<byte> bytes)
    {
        for (int i = 0; i + 1 < bytes.Length; i += 2)
            (bytes[i], bytes[i + 1]) = (bytes[i + 1], bytes[i]);
    }
}
