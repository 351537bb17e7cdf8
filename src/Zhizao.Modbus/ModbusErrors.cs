using System.Diagnostics.CodeAnalysis;

namespace Zhizao.Modbus;

/// <summary>Modbus function codes this library speaks (Modbus Application Protocol v1.1b3, section 6).</summary>
public enum ModbusFunction : byte
{
    ReadCoils = 1,
    ReadDiscreteInputs = 2,
    ReadHoldingRegisters = 3,
    ReadInputRegisters = 4,
    WriteSingleCoil = 5,
    WriteSingleRegister = 6,
    WriteMultipleCoils = 15,
    WriteMultipleRegisters = 16,
    ReadWriteMultipleRegisters = 23,
}

/// <summary>Exception codes a server answers with (section 7).</summary>
public enum ModbusExceptionCode : byte
{
    IllegalFunction = 1,
    IllegalDataAddress = 2,
    IllegalDataValue = 3,
    ServerDeviceFailure = 4,
    Acknowledge = 5,
    ServerDeviceBusy = 6,
    MemoryParityError = 8,
    GatewayPathUnavailable = 10,
    GatewayTargetFailedToRespond = 11,
}

/// <summary>The server answered with an exception response.</summary>
public sealed class ModbusException : Exception
{
    public ModbusException(byte unitId, ModbusFunction function, ModbusExceptionCode code)
        : base($"Modbus server (unit {unitId}) answered {Name(function)} with exception {(byte)code} {Name(code)}")
    {
        UnitId = unitId;
        Function = function;
        Code = code;
    }

    public byte UnitId { get; }
    public ModbusFunction Function { get; }
    public ModbusExceptionCode Code { get; }

    /// <summary>
    /// True when asking again later may succeed (the device is busy, acknowledged a long operation, or a gateway
    /// could not reach it); false when the request itself is wrong for this device (function, address, value).
    /// </summary>
    public bool IsTransient => Code is ModbusExceptionCode.Acknowledge or ModbusExceptionCode.ServerDeviceBusy
        or ModbusExceptionCode.GatewayPathUnavailable or ModbusExceptionCode.GatewayTargetFailedToRespond;

    internal static string Name(ModbusFunction f) =>
        Enum.IsDefined(f) ? $"{f} (FC {(byte)f})" : $"function {(byte)f}";

    internal static string Name(ModbusExceptionCode c) => Enum.IsDefined(c) ? c.ToString() : "Unknown";
}

/// <summary>A frame from the peer broke the protocol (bad length, byte count, echo, function); the connection is dropped.</summary>
public sealed class ModbusProtocolException : Exception
{
    public ModbusProtocolException(string message) : base(message) { }

    /// <summary>Always true: a fresh connection and a retry may succeed.</summary>
#pragma warning disable CA1822 // part of the taxonomy: every Modbus error answers IsTransient
    public bool IsTransient => true;
#pragma warning restore CA1822
}

/// <summary>The request could not be completed: timeouts or connection loss after every retry.</summary>
public sealed class ModbusTransportException : Exception
{
    public ModbusTransportException(string message, Exception? inner) : base(message, inner) { }

#pragma warning disable CA1822
    public bool IsTransient => true;
#pragma warning restore CA1822
}

internal static class Throw
{
    [DoesNotReturn]
    public static void Protocol(string message) => throw new ModbusProtocolException(message);

    [DoesNotReturn]
    public static void Argument(string paramName, string message) => throw new ArgumentOutOfRangeException(paramName, message);
}
