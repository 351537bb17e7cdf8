using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

public class CodecTests
{
    private readonly byte[] _buffer = new byte[ModbusLimits.MaxAduLength];

    [Theory]
    [InlineData(ModbusFunction.ReadHoldingRegisters, 126, "125")]
    [InlineData(ModbusFunction.ReadInputRegisters, 0, "125")]
    [InlineData(ModbusFunction.ReadCoils, 2001, "2000")]
    [InlineData(ModbusFunction.ReadDiscreteInputs, 2001, "2000")]
    public void Read_quantity_over_the_limit_is_rejected_naming_the_limit(ModbusFunction function, int count, string limit)
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusCodec.EncodeRead(_buffer, 1, 1, function, 0, count));
        Assert.Contains(limit, ex.Message);
    }

    [Fact]
    public void Write_quantities_over_the_limits_are_rejected()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusCodec.EncodeWriteMultipleRegisters(_buffer, 1, 1, 0, new ushort[124]));
        Assert.Contains("123", ex.Message);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusCodec.EncodeWriteMultipleCoils(_buffer, 1, 1, 0, new bool[1969]));
        Assert.Contains("1968", ex.Message);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusCodec.EncodeReadWriteMultipleRegisters(_buffer, 1, 1, 0, 10, 0, new ushort[122]));
        Assert.Contains("121", ex.Message);
        ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusCodec.EncodeRead(_buffer, 1, 1, ModbusFunction.ReadHoldingRegisters, 65530, 10));
        Assert.Contains("65536", ex.Message);
    }

    [Fact]
    public void Read_request_is_encoded_as_the_spec_example()
    {
        // spec 6.3: read holding registers 108-110 (address 107, quantity 3)
        int n = ModbusCodec.EncodeRead(_buffer, 0x1234, 17, ModbusFunction.ReadHoldingRegisters, 107, 3);
        Assert.Equal(new byte[] { 0x12, 0x34, 0, 0, 0, 6, 17, 0x03, 0x00, 0x6B, 0x00, 0x03 }, _buffer[..n]);
    }

    [Fact]
    public void Write_multiple_coils_packs_bits_lsb_first()
    {
        // spec 6.11: 10 coils from 20: CD 01
        bool[] bits = [true, false, true, true, false, false, true, true, true, false];
        int n = ModbusCodec.EncodeWriteMultipleCoils(_buffer, 1, 1, 19, bits);
        Assert.Equal(new byte[] { 0x0F, 0x00, 0x13, 0x00, 0x0A, 0x02, 0xCD, 0x01 }, _buffer[7..n]);
    }

    [Theory]
    [InlineData(new byte[] { 0, 1, 0, 1, 0, 6, 1 }, "protocol id")]
    [InlineData(new byte[] { 0, 1, 0, 0, 0, 1, 1 }, "MBAP length 1")]
    [InlineData(new byte[] { 0, 1, 0, 0, 1, 0, 1 }, "MBAP length 256")]
    [InlineData(new byte[] { 0, 1, 0, 0 }, "truncated MBAP header")]
    public void Bad_headers_are_protocol_errors(byte[] header, string expected)
    {
        var ex = Assert.Throws<ModbusProtocolException>(() => ModbusCodec.ReadHeader(header));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Byte_count_inconsistent_with_the_request_is_a_protocol_error()
    {
        var ex = Assert.Throws<ModbusProtocolException>(() => ModbusCodec.DecodeRegisters([3, 4, 0, 1, 0, 2], 1, ModbusFunction.ReadHoldingRegisters, new ushort[3]));
        Assert.Contains("byte count 4", ex.Message);
        ex = Assert.Throws<ModbusProtocolException>(() => ModbusCodec.DecodeRegisters([3, 6, 0, 1, 0, 2], 1, ModbusFunction.ReadHoldingRegisters, new ushort[3]));
        Assert.Contains("byte count says 8", ex.Message);
        ex = Assert.Throws<ModbusProtocolException>(() => ModbusCodec.DecodeBits([1, 1, 0xFF], 1, ModbusFunction.ReadCoils, new bool[9]));
        Assert.Contains("9 bits", ex.Message);
        ex = Assert.Throws<ModbusProtocolException>(() => ModbusCodec.DecodeRegisters([4, 2, 0, 1], 1, ModbusFunction.ReadHoldingRegisters, new ushort[1]));
        Assert.Contains("does not match", ex.Message);
    }

    [Theory]
    [InlineData(ModbusExceptionCode.IllegalFunction, false)]
    [InlineData(ModbusExceptionCode.IllegalDataAddress, false)]
    [InlineData(ModbusExceptionCode.IllegalDataValue, false)]
    [InlineData(ModbusExceptionCode.ServerDeviceFailure, false)]
    [InlineData(ModbusExceptionCode.Acknowledge, true)]
    [InlineData(ModbusExceptionCode.ServerDeviceBusy, true)]
    [InlineData(ModbusExceptionCode.GatewayPathUnavailable, true)]
    [InlineData(ModbusExceptionCode.GatewayTargetFailedToRespond, true)]
    public void Exception_response_names_function_and_code(ModbusExceptionCode code, bool transient)
    {
        var ex = Assert.Throws<ModbusException>(() => ModbusCodec.DecodeRegisters([0x83, (byte)code], 7, ModbusFunction.ReadHoldingRegisters, new ushort[1]));
        Assert.Equal(code, ex.Code);
        Assert.Equal(ModbusFunction.ReadHoldingRegisters, ex.Function);
        Assert.Equal(transient, ex.IsTransient);
        Assert.Contains(code.ToString(), ex.Message);
        Assert.Contains("ReadHoldingRegisters (FC 3)", ex.Message);
        Assert.Contains("unit 7", ex.Message);
    }

    [Fact]
    public void Write_echo_mismatch_is_a_protocol_error()
    {
        Assert.Throws<ModbusProtocolException>(() => ModbusCodec.CheckWriteEcho([6, 0, 1, 0, 9], 1, ModbusFunction.WriteSingleRegister, 1, 8));
        Assert.Throws<ModbusProtocolException>(() => ModbusCodec.CheckWriteEcho([6, 0, 1, 0], 1, ModbusFunction.WriteSingleRegister, 1, 8));
        ModbusCodec.CheckWriteEcho([6, 0, 1, 0, 8], 1, ModbusFunction.WriteSingleRegister, 1, 8);
    }

    [Fact]
    public void Random_responses_raise_only_modbus_errors()
    {
        var random = new Random(42);
        for (int i = 0; i < 200_000; i++)
        {
            byte[] frame = new byte[random.Next(0, 24)];
            random.NextBytes(frame);
            if (frame.Length > 0 && random.Next(2) == 0)
                frame[0] = (byte)random.Next(1, 5);
            try
            {
                switch (i % 4)
                {
                    case 0: ModbusCodec.ReadHeader(frame); break;
                    case 1: ModbusCodec.DecodeRegisters(frame, 1, ModbusFunction.ReadHoldingRegisters, new ushort[random.Next(1, 10)]); break;
                    case 2: ModbusCodec.DecodeBits(frame, 1, ModbusFunction.ReadCoils, new bool[random.Next(1, 40)]); break;
                    default: ModbusCodec.CheckWriteEcho(frame, 1, ModbusFunction.WriteMultipleRegisters, 1, 2); break;
                }
            }
            catch (ModbusProtocolException)
            {
            }
            catch (ModbusException)
            {
            }
        }
    }
}
