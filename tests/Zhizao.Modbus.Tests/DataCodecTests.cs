using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

public class DataCodecTests
{
    private static ModbusPoint Point(ModbusDataType type, ModbusByteOrder order = ModbusByteOrder.ABCD) =>
        new("p", ModbusTable.HoldingRegister, 0, type) { ByteOrder = order };

    [Theory]
    [InlineData(ModbusByteOrder.ABCD, new ushort[] { 0x449A, 0x5000 })]
    [InlineData(ModbusByteOrder.CDAB, new ushort[] { 0x5000, 0x449A })]
    [InlineData(ModbusByteOrder.BADC, new ushort[] { 0x9A44, 0x0050 })]
    [InlineData(ModbusByteOrder.DCBA, new ushort[] { 0x0050, 0x9A44 })]
    public void Float32_decodes_in_every_byte_order(ModbusByteOrder order, ushort[] registers)
    {
        var p = Point(ModbusDataType.Float32, order);
        Assert.Equal(1234.5, ModbusDataCodec.Decode(p, registers).AsDouble());
        Assert.Equal(registers, ModbusDataCodec.Encode(p, ModbusValue.FromDouble(1234.5)));
    }

    [Theory]
    [InlineData(ModbusByteOrder.ABCD, new ushort[] { 0x0102, 0x0304, 0x0506, 0x0708 })]
    [InlineData(ModbusByteOrder.CDAB, new ushort[] { 0x0708, 0x0506, 0x0304, 0x0102 })]
    [InlineData(ModbusByteOrder.BADC, new ushort[] { 0x0201, 0x0403, 0x0605, 0x0807 })]
    [InlineData(ModbusByteOrder.DCBA, new ushort[] { 0x0807, 0x0605, 0x0403, 0x0201 })]
    public void Int64_decodes_in_every_byte_order(ModbusByteOrder order, ushort[] registers)
    {
        var p = Point(ModbusDataType.Int64, order);
        Assert.Equal(0x0102030405060708L, ModbusDataCodec.Decode(p, registers).AsLong());
    }

    public static TheoryData<ModbusDataType, ModbusByteOrder, double> RoundTrips()
    {
        var data = new TheoryData<ModbusDataType, ModbusByteOrder, double>();
        foreach (ModbusByteOrder order in Enum.GetValues<ModbusByteOrder>())
        {
            data.Add(ModbusDataType.Int16, order, -12345);
            data.Add(ModbusDataType.UInt16, order, 54321);
            data.Add(ModbusDataType.Int32, order, -123456789);
            data.Add(ModbusDataType.UInt32, order, 4_000_000_000);
            data.Add(ModbusDataType.Int64, order, -1234567890123);
            data.Add(ModbusDataType.UInt64, order, 1234567890123);
            data.Add(ModbusDataType.Float32, order, -0.15625);
            data.Add(ModbusDataType.Float64, order, Math.PI);
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(RoundTrips))]
    public void Every_type_round_trips_in_every_order(ModbusDataType type, ModbusByteOrder order, double value)
    {
        var p = Point(type, order);
        ushort[] regs = ModbusDataCodec.Encode(p, ModbusValue.FromDouble(value));
        Assert.Equal(p.Quantity, regs.Length);
        Assert.Equal(value, ModbusDataCodec.Decode(p, regs).AsDouble());
    }

    [Fact]
    public void Scale_and_offset_apply_on_read_and_are_undone_on_write()
    {
        var p = Point(ModbusDataType.Int16) with { Scale = 0.1, Offset = 5 };
        ushort raw = unchecked((ushort)(short)-100);
        ModbusValue v = ModbusDataCodec.Decode(p, [raw]);
        Assert.Equal(ModbusValueKind.Double, v.Kind);
        Assert.Equal(-5, v.AsDouble(), 9);
        Assert.Equal([raw], ModbusDataCodec.Encode(p, ModbusValue.FromDouble(-5)));
    }

    [Fact]
    public void Unscaled_integers_decode_to_long()
    {
        ModbusValue v = ModbusDataCodec.Decode(Point(ModbusDataType.UInt32), [0xFFFF, 0xFFFF]);
        Assert.Equal(ModbusValueKind.Long, v.Kind);
        Assert.Equal(uint.MaxValue, v.AsLong());
    }

    [Fact]
    public void Out_of_range_write_names_the_type()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => ModbusDataCodec.Encode(Point(ModbusDataType.Int16), ModbusValue.FromLong(40000)));
        Assert.Contains("Int16", ex.Message);
    }

    [Theory]
    [InlineData(ModbusByteOrder.ABCD, new ushort[] { 0x4142, 0x2D31, 0x3200 })]
    [InlineData(ModbusByteOrder.BADC, new ushort[] { 0x4241, 0x312D, 0x0032 })]
    public void Strings_decode_with_byte_swap_and_nul_padding(ModbusByteOrder order, ushort[] registers)
    {
        var p = new ModbusPoint("s", ModbusTable.HoldingRegister, 0, ModbusDataType.String) { Length = 6, ByteOrder = order };
        Assert.Equal("AB-12", ModbusDataCodec.Decode(p, registers).AsString());
        Assert.Equal(registers, ModbusDataCodec.Encode(p, ModbusValue.FromString("AB-12")));
    }

    [Fact]
    public void Bit_in_register_reads_the_given_bit()
    {
        var p = new ModbusPoint("b", ModbusTable.InputRegister, 0, ModbusDataType.Bit) { Bit = 15 };
        Assert.True(ModbusDataCodec.Decode(p, [0x8000]).AsBool());
        Assert.False(ModbusDataCodec.Decode(p with { Bit = 0 }, [0x8000]).AsBool());
    }

    [Fact]
    public void Invalid_points_are_rejected_by_name()
    {
        Assert.Contains("'x'", Assert.Throws<ArgumentException>(() => new ModbusPoint("x", ModbusTable.Coil, 0, ModbusDataType.Int16).Validate()).Message);
        Assert.Throws<ArgumentException>(() => new ModbusPoint("x", ModbusTable.HoldingRegister, 0, ModbusDataType.Bit) { Bit = 16 }.Validate());
        Assert.Throws<ArgumentException>(() => new ModbusPoint("x", ModbusTable.HoldingRegister, 0, ModbusDataType.String).Validate());
        Assert.Throws<ArgumentException>(() => new ModbusPoint("x", ModbusTable.HoldingRegister, 65535, ModbusDataType.Float32).Validate());
        Assert.Throws<ArgumentException>(() => new ModbusPoint("x", ModbusTable.HoldingRegister, 0, ModbusDataType.Int16) { Scale = 0 }.Validate());
    }
}
