using System.Buffers.Binary;

namespace Zhizao.Modbus.Server;

/// <summary>
/// The server side of the PDU: decodes a request, checks it against the specification's limits and the unit's table
/// sizes, and answers with the response or an exception response (Modbus Application Protocol v1.1b3, sections 6 and 7):
/// unknown function → 01 IllegalFunction; quantity outside the function's limit, a byte count that does not match the
/// quantity, a PDU whose length does not match its function's layout, or a single-coil value other than 0x0000/0xFF00
/// → 03 IllegalDataValue; address + quantity past the table → 02 IllegalDataAddress.
/// </summary>
public static class ModbusServerCodec
{
    /// <summary>Writes an exception response PDU (function | 0x80, code) and returns its length, 2.</summary>
    public static int WriteException(Span<byte> response, byte function, ModbusExceptionCode code)
    {
        response[0] = (byte)(function | 0x80);
        response[1] = (byte)code;
        return 2;
    }

    internal static int Execute(ReadOnlySpan<byte> pdu, Span<byte> response, bool[] coils, bool[] discrete, ushort[] holding, ushort[] input,
        out (ModbusTable Table, ushort Address, int Count) written)
    {
        written = default;
        byte function = pdu[0];
        switch ((ModbusFunction)function)
        {
            case ModbusFunction.ReadCoils:
                return ReadBits(pdu, response, coils);
            case ModbusFunction.ReadDiscreteInputs:
                return ReadBits(pdu, response, discrete);
            case ModbusFunction.ReadHoldingRegisters:
                return ReadRegisters(pdu, response, holding);
            case ModbusFunction.ReadInputRegisters:
                return ReadRegisters(pdu, response, input);
            case ModbusFunction.WriteSingleCoil:
                {
                    if (pdu.Length != 5)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    ushort address = Read16(pdu, 1);
                    ushort value = Read16(pdu, 3);
                    if (value is not (0x0000 or 0xFF00))
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    if (address >= coils.Length)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
                    coils[address] = value == 0xFF00;
                    written = (ModbusTable.Coil, address, 1);
                    pdu[..5].CopyTo(response);
                    return 5;
                }
            case ModbusFunction.WriteSingleRegister:
                {
                    if (pdu.Length != 5)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    ushort address = Read16(pdu, 1);
                    if (address >= holding.Length)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
                    holding[address] = Read16(pdu, 3);
                    written = (ModbusTable.HoldingRegister, address, 1);
                    pdu[..5].CopyTo(response);
                    return 5;
                }
            case ModbusFunction.WriteMultipleCoils:
                {
                    if (pdu.Length < 6)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    ushort address = Read16(pdu, 1);
                    int count = Read16(pdu, 3);
                    int byteCount = pdu[5];
                    if (count < 1 || count > ModbusLimits.MaxWriteBits || byteCount != (count + 7) / 8 || pdu.Length != 6 + byteCount)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    if (address + count > coils.Length)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
                    for (int i = 0; i < count; i++)
                        coils[address + i] = (pdu[6 + (i >> 3)] & (1 << (i & 7))) != 0;
                    written = (ModbusTable.Coil, address, count);
                    pdu[..5].CopyTo(response);
                    return 5;
                }
            case ModbusFunction.WriteMultipleRegisters:
                {
                    if (pdu.Length < 6)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    ushort address = Read16(pdu, 1);
                    int count = Read16(pdu, 3);
                    int byteCount = pdu[5];
                    if (count < 1 || count > ModbusLimits.MaxWriteRegisters || byteCount != count * 2 || pdu.Length != 6 + byteCount)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    if (address + count > holding.Length)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
                    for (int i = 0; i < count; i++)
                        holding[address + i] = Read16(pdu, 6 + (2 * i));
                    written = (ModbusTable.HoldingRegister, address, count);
                    pdu[..5].CopyTo(response);
                    return 5;
                }
            case ModbusFunction.ReadWriteMultipleRegisters:
                {
                    if (pdu.Length < 10)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    ushort readAddress = Read16(pdu, 1);
                    int readCount = Read16(pdu, 3);
                    ushort writeAddress = Read16(pdu, 5);
                    int writeCount = Read16(pdu, 7);
                    int byteCount = pdu[9];
                    if (readCount < 1 || readCount > ModbusLimits.MaxReadWriteReadRegisters
                        || writeCount < 1 || writeCount > ModbusLimits.MaxReadWriteWriteRegisters
                        || byteCount != writeCount * 2 || pdu.Length != 10 + byteCount)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
                    if (readAddress + readCount > holding.Length || writeAddress + writeCount > holding.Length)
                        return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
                    // the write is performed before the read (section 6.17)
                    for (int i = 0; i < writeCount; i++)
                        holding[writeAddress + i] = Read16(pdu, 10 + (2 * i));
                    written = (ModbusTable.HoldingRegister, writeAddress, writeCount);
                    response[0] = function;
                    response[1] = (byte)(readCount * 2);
                    for (int i = 0; i < readCount; i++)
                        BinaryPrimitives.WriteUInt16BigEndian(response[(2 + (2 * i))..], holding[readAddress + i]);
                    return 2 + (readCount * 2);
                }
            default:
                return WriteException(response, function, ModbusExceptionCode.IllegalFunction);
        }
    }

    private static int ReadBits(ReadOnlySpan<byte> pdu, Span<byte> response, bool[] table)
    {
        byte function = pdu[0];
        if (pdu.Length != 5)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
        ushort address = Read16(pdu, 1);
        int count = Read16(pdu, 3);
        if (count < 1 || count > ModbusLimits.MaxReadBits)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
        if (address + count > table.Length)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
        int byteCount = (count + 7) / 8;
        response[0] = function;
        response[1] = (byte)byteCount;
        ModbusCodec.PackBits(table.AsSpan(address, count), response.Slice(2, byteCount));
        return 2 + byteCount;
    }

    private static int ReadRegisters(ReadOnlySpan<byte> pdu, Span<byte> response, ushort[] table)
    {
        byte function = pdu[0];
        if (pdu.Length != 5)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
        ushort address = Read16(pdu, 1);
        int count = Read16(pdu, 3);
        if (count < 1 || count > ModbusLimits.MaxReadRegisters)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataValue);
        if (address + count > table.Length)
            return WriteException(response, function, ModbusExceptionCode.IllegalDataAddress);
        response[0] = function;
        response[1] = (byte)(count * 2);
        for (int i = 0; i < count; i++)
            BinaryPrimitives.WriteUInt16BigEndian(response[(2 + (2 * i))..], table[address + i]);
        return 2 + (count * 2);
    }

    private static ushort Read16(ReadOnlySpan<byte> pdu, int at) => BinaryPrimitives.ReadUInt16BigEndian(pdu[at..]);
}
