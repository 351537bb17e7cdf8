using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

/// <summary>Against pymodbus (Debian python3-pymodbus), a Modbus TCP server nobody here wrote.</summary>
public sealed class PymodbusInteropTests : IAsyncLifetime
{
    private PymodbusServer _server = null!;
    private ModbusTcpClient _client = null!;

    public async Task InitializeAsync()
    {
        _server = await PymodbusServer.StartAsync();
        _client = NewClient(_server.Port);
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    internal static ModbusTcpClient NewClient(int port, int maxOutstanding = 1) => new(new ModbusTcpClientOptions
    {
        Host = "127.0.0.1",
        Port = port,
        RequestTimeout = TimeSpan.FromSeconds(2),
        Retries = 6,
        RetryDelay = TimeSpan.FromMilliseconds(50),
        MaxRetryDelay = TimeSpan.FromMilliseconds(500),
        MaxOutstandingRequests = maxOutstanding,
    });

    [Fact]
    public async Task Preloaded_discrete_inputs_and_input_registers_read_back()
    {
        bool[] di = await _client.ReadDiscreteInputsAsync(0, 20);
        Assert.Equal(Enumerable.Range(0, 20).Select(i => i % 3 == 0), di);
        ushort[] ir = await _client.ReadInputRegistersAsync(100, 125);
        Assert.Equal(Enumerable.Range(100, 125).Select(i => (ushort)(i * 10)), ir);
        bool[] many = await _client.ReadDiscreteInputsAsync(0, 1000);
        Assert.Equal(1000, many.Length);
    }

    [Fact]
    public async Task Unit_ids_address_separate_datastores()
    {
        ushort[] one = await _client.ReadRegistersAsync(1, ModbusFunction.ReadHoldingRegisters, 0, 1);
        ushort[] two = await _client.ReadRegistersAsync(2, ModbusFunction.ReadHoldingRegisters, 0, 1);
        Assert.Equal((ushort)0, one[0]);
        Assert.Equal((ushort)2, two[0]);
    }

    [Fact]
    public async Task Coils_are_written_single_and_multiple_and_read_back()
    {
        await _client.WriteSingleCoilAsync(3, true);
        await _client.WriteMultipleCoilsAsync(10, new[] { true, false, true, true, false, false, true, true, true });
        bool[] coils = await _client.ReadCoilsAsync(0, 20);
        Assert.True(coils[3]);
        Assert.Equal(new[] { true, false, true, true, false, false, true, true, true }, coils[10..19]);
        await _client.WriteSingleCoilAsync(3, false);
        Assert.False((await _client.ReadCoilsAsync(3, 1))[0]);
    }

    [Fact]
    public async Task Holding_registers_are_written_with_fc6_fc16_fc23()
    {
        await _client.WriteSingleRegisterAsync(500, 0xBEEF);
        await _client.WriteMultipleRegistersAsync(501, Enumerable.Range(0, 123).Select(i => (ushort)(i + 1)).ToArray());
        ushort[] back = await _client.ReadHoldingRegistersAsync(500, 124);
        Assert.Equal(0xBEEF, back[0]);
        Assert.Equal(Enumerable.Range(1, 123).Select(i => (ushort)i), back[1..]);
        ushort[] rw = await _client.ReadWriteMultipleRegistersAsync(1, 700, 3, 701, new ushort[] { 7, 8 });
        Assert.Equal(new ushort[] { 700, 7, 8 }, rw);
    }

    [Fact]
    public async Task Every_type_and_byte_order_round_trips()
    {
        var points = new List<(ModbusPoint Point, ModbusValue Value)>();
        ushort address = 200;
        foreach (ModbusByteOrder order in Enum.GetValues<ModbusByteOrder>())
        {
            foreach (var (type, value) in new (ModbusDataType, double)[]
            {
                (ModbusDataType.Int16, -1234), (ModbusDataType.UInt16, 65000), (ModbusDataType.Int32, -98765432),
                (ModbusDataType.UInt32, 3_000_000_000), (ModbusDataType.Int64, -9_000_000_000_000), (ModbusDataType.UInt64, 9_000_000_000_000),
                (ModbusDataType.Float32, 3.25), (ModbusDataType.Float64, -2.718281828459045),
            })
            {
                var p = new ModbusPoint($"{type}-{order}", ModbusTable.HoldingRegister, address, type) { ByteOrder = order };
                points.Add((p, ModbusValue.FromDouble(value)));
                address += (ushort)p.Quantity;
            }
            var s = new ModbusPoint($"String-{order}", ModbusTable.HoldingRegister, address, ModbusDataType.String) { ByteOrder = order, Length = 9 };
            points.Add((s, ModbusValue.FromString("Zhizao-1")));
            address += (ushort)s.Quantity;
        }
        var scaled = new ModbusPoint("scaled", ModbusTable.HoldingRegister, address, ModbusDataType.Int16) { Scale = 0.01, Offset = -40 };
        points.Add((scaled, ModbusValue.FromDouble(21.37)));

        foreach (var (p, v) in points)
            await _client.WriteMultipleRegistersAsync(p.Address, ModbusDataCodec.Encode(p, v));

        var bit = new ModbusPoint("bit", ModbusTable.InputRegister, 1, ModbusDataType.Bit) { Bit = 3 }; // input register 1 = 10 = 0b1010
        var plan = PollingPlan.Create(points.Select(x => x.Point).Append(bit));
        Assert.True(plan.Groups.Count <= 3, $"{plan.Groups.Count} groups");
        PointReading[] readings = await plan.ReadAsync(_client);
        var expected = points.ToDictionary(x => x.Point.Name, x => x.Value);
        foreach (PointReading r in readings)
        {
            Assert.True(r.IsGood, r.Error?.Message);
            if (r.Point.Name == "bit")
                Assert.True(r.Value.AsBool());
            else if (r.Point.Type == ModbusDataType.String)
                Assert.Equal("Zhizao-1", r.Value.AsString());
            else
                Assert.Equal(expected[r.Point.Name].AsDouble(), r.Value.AsDouble(), 6);
        }
    }

    [Fact]
    public async Task Points_are_written_and_read_with_the_matching_function_codes()
    {
        var coil = new ModbusPoint("coil", ModbusTable.Coil, 900, ModbusDataType.Bool);
        var flag = new ModbusPoint("flag", ModbusTable.HoldingRegister, 901, ModbusDataType.Bit) { Bit = 4 };
        var speed = new ModbusPoint("speed", ModbusTable.HoldingRegister, 902, ModbusDataType.UInt16) { Scale = 0.5 };
        var energy = new ModbusPoint("energy", ModbusTable.HoldingRegister, 903, ModbusDataType.Float64) { ByteOrder = ModbusByteOrder.DCBA };
        await _client.WritePointAsync(coil, ModbusValue.FromBool(true));
        await _client.WritePointAsync(flag, ModbusValue.FromBool(true)); // register 901 preloaded with 901 = 0b1110000101
        await _client.WritePointAsync(speed, ModbusValue.FromDouble(1500));
        await _client.WritePointAsync(energy, ModbusValue.FromDouble(123456.789));
        Assert.True((await _client.ReadPointAsync(coil)).AsBool());
        Assert.Equal(901 | 16, (await _client.ReadHoldingRegistersAsync(901, 1))[0]);
        Assert.Equal(1500, (await _client.ReadPointAsync(speed)).AsDouble());
        Assert.Equal(3000, (await _client.ReadHoldingRegistersAsync(902, 1))[0]);
        Assert.Equal(123456.789, (await _client.ReadPointAsync(energy)).AsDouble());
        await Assert.ThrowsAsync<ArgumentException>(() => _client.WritePointAsync(new ModbusPoint("ir", ModbusTable.InputRegister, 0, ModbusDataType.Int16), ModbusValue.FromLong(1)));
    }

    [Fact]
    public async Task Illegal_address_is_an_exception_response()
    {
        var ex = await Assert.ThrowsAsync<ModbusException>(() => _client.ReadHoldingRegistersAsync(990, 20));
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, ex.Code);
        Assert.False(ex.IsTransient);
        Assert.Equal([0], (await _client.ReadHoldingRegistersAsync(0, 1)));
    }

    [Fact]
    public async Task Client_recovers_when_the_server_restarts_mid_polling()
    {
        var plan = PollingPlan.Create([new ModbusPoint("ir", ModbusTable.InputRegister, 5, ModbusDataType.UInt16)]);
        for (int i = 0; i < 20; i++)
            Assert.Equal(50, (await plan.ReadAsync(_client))[0].Value.AsLong());
        Task restart = _server.RestartAsync();
        int good = 0, bad = 0;
        while (!restart.IsCompleted || good < 20)
        {
            PointReading r = (await plan.ReadAsync(_client))[0];
            if (r.IsGood)
            {
                Assert.Equal(50, r.Value.AsLong());
                good++;
            }
            else
            {
                Assert.IsType<ModbusTransportException>(r.Error);
                bad++;
            }
        }
        await restart;
        Assert.True(_client.Reconnects >= 1);
        Assert.Equal(50, (await plan.ReadAsync(_client))[0].Value.AsLong());
    }
}
