using System.Buffers.Binary;

namespace Zhizao.Modbus;

/// <summary>Limits from the Modbus Application Protocol specification v1.1b3; every count on the wire is checked against them.</summary>
public static class ModbusLimits
{
    public const int MaxReadRegisters = 125;
    public const int MaxWriteRegisters = 123;
    public const int MaxReadBits = 2000;
    public const int MaxWriteBits = 1968;
    public const int MaxReadWriteReadRegisters = 125;
    public const int MaxReadWriteWriteRegisters = 121;
    public const int MaxPduLength = 253;
    public const int MbapHeaderLength = 7;
    public const int MaxAduLength = MbapHeaderLength - 1 + MaxPduLength;
    public const int AddressSpace = 65536;
}

/// <summary>The 7-byte MBAP header: transaction id, protocol id (0), length (unit id + PDU), unit id.</summary>
public readonly record struct MbapHeader(ushort TransactionId, ushort ProtocolId, ushort Length, byte UnitId)
{
    public int PduLength => Length - 1;
}

/// <summary>
/// Encodes Modbus TCP requests (ADU = MBAP header + PDU) and validates responses. Every quantity is checked against the
/// specification's limits before use and errors name the limit; hostile frames raise <see cref="ModbusProtocolException"/>.
/// </summary>
public static class ModbusCodec
{
    public static MbapHeader ReadHeader(ReadOnlySpan<byte> source)
    {
        if (source.Length < ModbusLimits.MbapHeaderLength)
            Throw.Protocol($"truncated MBAP header: {source.Length} of {ModbusLimits.MbapHeaderLength} bytes");
        var h = new MbapHeader(
            BinaryPrimitives.ReadUInt16BigEndian(source),
            BinaryPrimitives.ReadUInt16BigEndian(source[2..]),
            BinaryPrimitives.ReadUInt16BigEndian(source[4..]),
            source[6]);
        if (h.ProtocolId != 0)
            Throw.Protocol($"MBAP protocol id is {h.ProtocolId}, must be 0 (Modbus)");
        if (h.Length < 2 || h.Length > ModbusLimits.MaxPduLength + 1)
            Throw.Protocol($"MBAP length {h.Length} outside 2..{ModbusLimits.MaxPduLength + 1} (unit id + PDU of at most {ModbusLimits.MaxPduLength} bytes)");
        return h;
    }

    public static void WriteHeader(Span<byte> destination, ushort transactionId, byte unitId, int pduLength)
    {
        BinaryPrimitives.WriteUInt16BigEndian(destination, transactionId);
        BinaryPrimitives.WriteUInt16BigEndian(destination[2..], 0);
        BinaryPrimitives.WriteUInt16BigEndian(destination[4..], (ushort)(pduLength + 1));
        destination[6] = unitId;
    }

    /// <summary>FC 1, 2, 3 or 4. Returns the ADU length.</summary>
    public static int EncodeRead(Span<byte> destination, ushort transactionId, byte unitId, ModbusFunction function, ushort address, int count)
    {
        int max = function switch
        {
            ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs => ModbusLimits.MaxReadBits,
            ModbusFunction.ReadHoldingRegisters or ModbusFunction.ReadInputRegisters => ModbusLimits.MaxReadRegisters,
            _ => throw new ArgumentOutOfRangeException(nameof(function), $"{ModbusException.Name(function)} is not a read function"),
        };
        CheckRange(address, count, max, nameof(count));
        Span<byte> pdu = destination[ModbusLimits.MbapHeaderLength..];
        pdu[0] = (byte)function;
        BinaryPrimitives.WriteUInt16BigEndian(pdu[1..], address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[3..], (ushort)count);
        WriteHeader(destination, transactionId, unitId, 5);
        return ModbusLimits.MbapHeaderLength + 5;
    }

    public static int EncodeWriteSingleCoil(Span<byte> destination, ushort transactionId, byte unitId, ushort address, bool value)
        => EncodeSingle(destination, transactionId, unitId, ModbusFunction.WriteSingleCoil, address, value ? (ushort)0xFF00 : (ushort)0x0000);

    public static int EncodeWriteSingleRegister(Span<byte> destination, ushort transactionId, byte unitId, ushort address, ushort value)
        => EncodeSingle(destination, transactionId, unitId, ModbusFunction.WriteSingleRegister, address, value);

    private static int EncodeSingle(Span<byte> destination, ushort transactionId, byte unitId, ModbusFunction function, ushort address, ushort value)
    {
        Span<byte> pdu = destination[ModbusLimits.MbapHeaderLength..];
        pdu[0] = (byte)function;
        BinaryPrimitives.WriteUInt16BigEndian(pdu[1..], address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[3..], value);
        WriteHeader(destination, transactionId, unitId, 5);
        return ModbusLimits.MbapHeaderLength + 5;
    }

    public static int EncodeWriteMultipleCoils(Span<byte> destination, ushort transactionId, byte unitId, ushort address, ReadOnlySpan<bool> values)
    {
        CheckRange(address, values.Length, ModbusLimits.MaxWriteBits, nameof(values));
        int byteCount = (values.Length + 7) / 8;
        Span<byte> pdu = destination[ModbusLimits.MbapHeaderLength..];
        pdu[0] = (byte)ModbusFunction.WriteMultipleCoils;
        BinaryPrimitives.WriteUInt16BigEndian(pdu[1..], address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[3..], (ushort)values.Length);
        pdu[5] = (byte)byteCount;
        PackBits(values, pdu.Slice(6, byteCount));
        WriteHeader(destination, transactionId, unitId, 6 + byteCount);
        return ModbusLimits.MbapHeaderLength + 6 + byteCount;
    }

    public static int EncodeWriteMultipleRegisters(Span<byte> destination, ushort transactionId, byte unitId, ushort address, ReadOnlySpan<ushort> values)
    {
        CheckRange(address, values.Length, ModbusLimits.MaxWriteRegisters, nameof(values));
        Span<byte> pdu = destination[ModbusLimits.MbapHeaderLength..];
        pdu[0] = (byte)ModbusFunction.WriteMultipleRegisters;
        BinaryPrimitives.WriteUInt16BigEndian(pdu[1..], address);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[3..], (ushort)values.Length);
        pdu[5] = (byte)(values.Length * 2);
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(pdu[(6 + (2 * i))..], values[i]);
        WriteHeader(destination, transactionId, unitId, 6 + (values.Length * 2));
        return ModbusLimits.MbapHeaderLength + 6 + (values.Length * 2);
    }

    public static int EncodeReadWriteMultipleRegisters(Span<byte> destination, ushort transactionId, byte unitId,
        ushort readAddress, int readCount, ushort writeAddress, ReadOnlySpan<ushort> values)
    {
        CheckRange(readAddress, readCount, ModbusLimits.MaxReadWriteReadRegisters, nameof(readCount));
        CheckRange(writeAddress, values.Length, ModbusLimits.MaxReadWriteWriteRegisters, nameof(values));
        Span<byte> pdu = destination[ModbusLimits.MbapHeaderLength..];
        pdu[0] = (byte)ModbusFunction.ReadWriteMultipleRegisters;
        BinaryPrimitives.WriteUInt16BigEndian(pdu[1..], readAddress);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[3..], (ushort)readCount);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[5..], writeAddress);
        BinaryPrimitives.WriteUInt16BigEndian(pdu[7..], (ushort)values.Length);
        pdu[9] = (byte)(values.Length * 2);
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteUInt16BigEndian(pdu[(10 + (2 * i))..], values[i]);
        WriteHeader(destination, transactionId, unitId, 10 + (values.Length * 2));
        return ModbusLimits.MbapHeaderLength + 10 + (values.Length * 2);
    }

    /// <summary>Throws <see cref="ModbusException"/> for an exception response and <see cref="ModbusProtocolException"/> for a wrong function.</summary>
    public static void CheckFunction(ReadOnlySpan<byte> pdu, byte unitId, ModbusFunction expected)
    {
        if (pdu.Length == 0)
            Throw.Protocol($"empty PDU in the response to {ModbusException.Name(expected)}");
        if (pdu[0] == ((byte)expected | 0x80))
        {
            if (pdu.Length != 2)
                Throw.Protocol($"exception response to {ModbusException.Name(expected)} is {pdu.Length} bytes, must be 2");
            throw new ModbusException(unitId, expected, (ModbusExceptionCode)pdu[1]);
        }
        if (pdu[0] != (byte)expected)
            Throw.Protocol($"response function {pdu[0]} does not match the request's {ModbusException.Name(expected)}");
    }

    /// <summary>Decodes an FC 3/4/23 response carrying exactly <paramref name="destination"/>.Length registers.</summary>
    public static void DecodeRegisters(ReadOnlySpan<byte> pdu, byte unitId, ModbusFunction function, Span<ushort> destination)
    {
        CheckFunction(pdu, unitId, function);
        if (pdu.Length < 2)
            Throw.Protocol($"truncated {ModbusException.Name(function)} response: no byte count");
        int byteCount = pdu[1];
        if (byteCount != destination.Length * 2)
            Throw.Protocol($"{ModbusException.Name(function)} response byte count {byteCount} does not match {destination.Length} registers requested ({destination.Length * 2} bytes)");
        if (pdu.Length != 2 + byteCount)
            Throw.Protocol($"{ModbusException.Name(function)} response is {pdu.Length} bytes, byte count says {2 + byteCount}");
        for (int i = 0; i < destination.Length; i++)
            destination[i] = BinaryPrimitives.ReadUInt16BigEndian(pdu[(2 + (2 * i))..]);
    }

    /// <summary>Decodes an FC 1/2 response carrying exactly <paramref name="destination"/>.Length bits.</summary>
    public static void DecodeBits(ReadOnlySpan<byte> pdu, byte unitId, ModbusFunction function, Span<bool> destination)
    {
        CheckFunction(pdu, unitId, function);
        if (pdu.Length < 2)
            Throw.Protocol($"truncated {ModbusException.Name(function)} response: no byte count");
        int byteCount = pdu[1];
        int expected = (destination.Length + 7) / 8;
        if (byteCount != expected)
            Throw.Protocol($"{ModbusException.Name(function)} response byte count {byteCount} does not match {destination.Length} bits requested ({expected} bytes)");
        if (pdu.Length != 2 + byteCount)
            Throw.Protocol($"{ModbusException.Name(function)} response is {pdu.Length} bytes, byte count says {2 + byteCount}");
        for (int i = 0; i < destination.Length; i++)
            destination[i] = (pdu[2 + (i >> 3)] & (1 << (i & 7))) != 0;
    }

    /// <summary>FC 5, 6, 15 and 16 answer with an echo of address and value/quantity; checks it.</summary>
    public static void CheckWriteEcho(ReadOnlySpan<byte> pdu, byte unitId, ModbusFunction function, ushort address, ushort valueOrQuantity)
    {
        CheckFunction(pdu, unitId, function);
        if (pdu.Length != 5)
            Throw.Protocol($"{ModbusException.Name(function)} response is {pdu.Length} bytes, must be 5");
        ushort a = BinaryPrimitives.ReadUInt16BigEndian(pdu[1..]);
        ushort v = BinaryPrimitives.ReadUInt16BigEndian(pdu[3..]);
        if (a != address || v != valueOrQuantity)
            Throw.Protocol($"{ModbusException.Name(function)} echo ({a}, {v}) does not match the request ({address}, {valueOrQuantity})");
    }

    internal static void PackBits(ReadOnlySpan<bool> values, Span<byte> destination)
    {
        destination.Clear();
        for (int i = 0; i < values.Length; i++)
        {
            if (values[i])
                destination[i >> 3] |= (byte)(1 << (i & 7));
        }
    }

    private static void CheckRange(ushort address, int count, int max, string paramName)
    {
        if (count < 1 || count > max)
            Throw.Argument(paramName, $"quantity {count} outside 1..{max} (Modbus limit for this function)");
        if (address + count > ModbusLimits.AddressSpace)
            Throw.Argument(paramName, $"address {address} + quantity {count} runs past the 65536-entry address space");
    }
}
