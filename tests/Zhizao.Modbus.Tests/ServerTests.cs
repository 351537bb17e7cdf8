using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Zhizao.Modbus.Server;

namespace Zhizao.Modbus.Tests;

/// <summary>Our ModbusTcpServer against our ModbusTcpClient, raw sockets sending bad frames, and pymodbus as a client.</summary>
[System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "IAsyncLifetime.DisposeAsync disposes the server")]
public sealed class ServerTests : IAsyncLifetime
{
    private readonly List<string> _log = [];
    private ModbusTcpServer _server = null!;
    private ModbusTcpClient _client = null!;

    public Task InitializeAsync()
    {
        _server = new ModbusTcpServer(new ModbusTcpServerOptions { Port = 0, Log = m => { lock (_log) _log.Add(m); } });
        var unit = _server.AddUnit(new ModbusUnit(1));
        unit.SetRegisters(ModbusTable.HoldingRegister, 0, [.. Enumerable.Range(0, 10).Select(i => (ushort)(i * 3))]);
        unit.SetRegisters(ModbusTable.InputRegister, 0, [.. Enumerable.Range(0, 5).Select(i => (ushort)(100 + i))]);
        unit.SetBits(ModbusTable.DiscreteInput, 0, [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0)]);
        _server.AddUnit(new ModbusUnit(2)).SetRegisters(ModbusTable.HoldingRegister, 0, [2]);
        _server.Start();
        _client = PymodbusInteropTests.NewClient(_server.Port);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _client.DisposeAsync();
        await _server.DisposeAsync();
    }

    [Fact]
    public async Task Listens_on_loopback_by_default_and_picks_a_free_port()
    {
        Assert.Equal(IPAddress.Loopback, _server.Endpoint.Address);
        Assert.NotEqual(0, _server.Port);
        await using var other = new ModbusTcpServer(new ModbusTcpServerOptions { Port = 0 });
        other.Start();
        Assert.NotEqual(_server.Port, other.Port);
    }

    [Fact]
    public async Task Every_function_code_reads_and_writes_through_our_client()
    {
        Assert.Equal(new ushort[] { 0, 3, 6, 9, 12 }, await _client.ReadHoldingRegistersAsync(0, 5));
        Assert.Equal(new ushort[] { 100, 101, 102 }, await _client.ReadInputRegistersAsync(0, 3));
        Assert.Equal(new[] { true, false, true, false }, await _client.ReadDiscreteInputsAsync(0, 4));
        await _client.WriteSingleCoilAsync(7, true);
        await _client.WriteMultipleCoilsAsync(20, new[] { true, true, false, true, false, false, false, false, true });
        bool[] coils = await _client.ReadCoilsAsync(0, 30);
        Assert.True(coils[7]);
        Assert.Equal(new[] { true, true, false, true, false, false, false, false, true }, coils[20..29]);
        await _client.WriteSingleRegisterAsync(500, 0xCAFE);
        await _client.WriteMultipleRegistersAsync(501, Enumerable.Range(1, 123).Select(i => (ushort)i).ToArray());
        ushort[] back = await _client.ReadHoldingRegistersAsync(500, 124);
        Assert.Equal(0xCAFE, back[0]);
        Assert.Equal(Enumerable.Range(1, 123).Select(i => (ushort)i), back[1..]);
        ushort[] rw = await _client.ReadWriteMultipleRegistersAsync(1, 0, 3, 1, new ushort[] { 77, 78 });
        Assert.Equal(new ushort[] { 0, 77, 78 }, rw); // the write happens before the read
        Assert.Equal(2000, (await _client.ReadCoilsAsync(0, 2000)).Length);
        Assert.Equal(new ushort[] { 2 }, await _client.ReadRegistersAsync(2, ModbusFunction.ReadHoldingRegisters, 0, 1));
    }

    [Fact]
    public async Task Client_writes_show_in_the_unit_and_raise_Written()
    {
        var unit = _server.GetUnit(1);
        var seen = new List<(ModbusTable, ushort, int)>();
        unit.Written += (t, a, n) => { lock (seen) seen.Add((t, a, n)); };
        await _client.WriteMultipleRegistersAsync(40, new ushort[] { 1, 2, 3 });
        await _client.WriteSingleCoilAsync(9, true);
        Assert.Equal(new ushort[] { 1, 2, 3 }, unit.GetRegisters(ModbusTable.HoldingRegister, 40, 3));
        Assert.True(unit.GetBits(ModbusTable.Coil, 9, 1)[0]);
        lock (seen)
            Assert.Equal([(ModbusTable.HoldingRegister, (ushort)40, 3), (ModbusTable.Coil, (ushort)9, 1)], seen);
    }

    [Fact]
    public async Task Points_written_in_the_unit_decode_with_the_same_map()
    {
        var unit = _server.GetUnit(1);
        var points = new[]
        {
            new ModbusPoint("f", ModbusTable.InputRegister, 1000, ModbusDataType.Float32),
            new ModbusPoint("g", ModbusTable.HoldingRegister, 1000, ModbusDataType.Float64) { ByteOrder = ModbusByteOrder.DCBA },
            new ModbusPoint("n", ModbusTable.HoldingRegister, 1010, ModbusDataType.Int32) { ByteOrder = ModbusByteOrder.CDAB },
            new ModbusPoint("s", ModbusTable.HoldingRegister, 1020, ModbusDataType.UInt16),
            new ModbusPoint("b", ModbusTable.Coil, 1000, ModbusDataType.Bool),
        };
        unit.Write(points[0], ModbusValue.FromDouble(21.5));
        unit.Write(points[1], ModbusValue.FromDouble(-1234.125));
        unit.Write(points[2], ModbusValue.FromLong(-70000));
        unit.Write(points[3], ModbusValue.FromLong(2));
        unit.Write(points[4], ModbusValue.FromBool(true));
        var readings = await PollingPlan.Create(points).ReadAsync(_client);
        Assert.All(readings, r => Assert.True(r.IsGood, r.Error?.Message));
        Assert.Equal(21.5, readings.Single(r => r.Point.Name == "f").Value.AsDouble());
        Assert.Equal(-1234.125, readings.Single(r => r.Point.Name == "g").Value.AsDouble());
        Assert.Equal(-70000, readings.Single(r => r.Point.Name == "n").Value.AsLong());
        Assert.Equal(2, readings.Single(r => r.Point.Name == "s").Value.AsLong());
        Assert.True(readings.Single(r => r.Point.Name == "b").Value.AsBool());
        Assert.Equal(21.5, unit.Read(points[0]).AsDouble());
    }

    [Fact]
    public async Task Address_past_the_table_is_answered_IllegalDataAddress()
    {
        var e = await Assert.ThrowsAsync<ModbusException>(() => _client.ReadHoldingRegistersAsync(9998, 10));
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, e.Code);
        e = await Assert.ThrowsAsync<ModbusException>(() => _client.WriteSingleCoilAsync(10_000, true));
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, e.Code);
        e = await Assert.ThrowsAsync<ModbusException>(() => _client.ReadWriteMultipleRegistersAsync(1, 0, 1, 9999, new ushort[] { 1, 2 }));
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, e.Code);
        Assert.Equal(new ushort[] { 0 }, await _client.ReadHoldingRegistersAsync(0, 1)); // the connection stays up
        Assert.Equal(0, _client.Reconnects);
    }

    [Fact]
    public async Task Unknown_function_is_IllegalFunction_and_bad_quantities_IllegalDataValue()
    {
        using var socket = await ConnectAsync();
        Assert.Equal(new byte[] { 0x88, 1 }, await RoundTripAsync(socket, 1, [0x08, 0, 0, 0, 0])); // FC 8 diagnostics: not served
        Assert.Equal(new byte[] { 0x83, 3 }, await RoundTripAsync(socket, 1, [0x03, 0, 0, 0, 126])); // 126 > 125 registers
        Assert.Equal(new byte[] { 0x83, 3 }, await RoundTripAsync(socket, 1, [0x03, 0, 0, 0, 0])); // quantity 0
        Assert.Equal(new byte[] { 0x81, 3 }, await RoundTripAsync(socket, 1, [0x01, 0, 0, 0x07, 0xD1])); // 2001 bits
        Assert.Equal(new byte[] { 0x85, 3 }, await RoundTripAsync(socket, 1, [0x05, 0, 1, 0x12, 0x34])); // coil value not 0/FF00
        Assert.Equal(new byte[] { 0x90, 3 }, await RoundTripAsync(socket, 1, [0x10, 0, 0, 0, 2, 3, 0, 1, 0])); // byte count 3 for 2 registers
        Assert.Equal(new byte[] { 0x8F, 3 }, await RoundTripAsync(socket, 1, [0x0F, 0, 0, 0, 9, 1, 0xFF])); // 9 coils in 1 byte
        Assert.Equal(new byte[] { 0x83, 3 }, await RoundTripAsync(socket, 1, [0x03, 0, 0])); // PDU too short for FC 3
        Assert.Equal(new byte[] { 0x97, 3 }, await RoundTripAsync(socket, 1, [0x17, 0, 0, 0, 1, 0, 0, 0, 122, 244])); // write 122 > 121
        Assert.Equal(new byte[] { 0x83, 0x0B }, await RoundTripAsync(socket, 9, [0x03, 0, 0, 0, 1])); // unit 9 does not exist
        Assert.Equal(new byte[] { 0x03, 2, 0, 3 }, await RoundTripAsync(socket, 1, [0x03, 0, 1, 0, 1])); // and it still serves
        Assert.Equal(10, _server.ExceptionResponses);
        Assert.Equal(0, _server.BadFrames);
    }

    [Fact]
    public async Task Bad_protocol_id_closes_only_that_connection_with_a_log_line()
    {
        using var bad = await ConnectAsync();
        await bad.SendAsync(new byte[] { 0, 1, 0, 5, 0, 6, 1, 3, 0, 0, 0, 1 }); // protocol id 5
        Assert.True(await IsClosedAsync(bad));
        Assert.Equal(new ushort[] { 0, 3 }, await _client.ReadHoldingRegistersAsync(0, 2));
        await WaitForAsync(() => _server.BadFrames == 1);
        lock (_log)
            Assert.Contains(_log, l => l.Contains("protocol id is 5", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Bad_MBAP_length_closes_the_connection()
    {
        using var bad = await ConnectAsync();
        await bad.SendAsync(new byte[] { 0, 1, 0, 0, 0x01, 0x00, 1, 3 }); // length 256 > 254
        Assert.True(await IsClosedAsync(bad));
        await WaitForAsync(() => _server.BadFrames == 1);
        lock (_log)
            Assert.Contains(_log, l => l.Contains("MBAP length 256", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Truncated_frame_then_close_is_logged_and_others_are_served()
    {
        using (var bad = await ConnectAsync())
        {
            await bad.SendAsync(new byte[] { 0, 1, 0, 0, 0, 6, 1, 3, 0 }); // 2 of 6 bytes of unit id + PDU
            bad.Shutdown(SocketShutdown.Send);
            Assert.True(await IsClosedAsync(bad));
        }
        await WaitForAsync(() => _server.BadFrames == 1);
        lock (_log)
            Assert.Contains(_log, l => l.Contains("in the middle of a frame", StringComparison.Ordinal));
        Assert.Equal(new ushort[] { 0 }, await _client.ReadHoldingRegistersAsync(0, 1));
    }

    [Fact]
    public async Task Frames_split_across_segments_and_pipelined_requests_are_answered_in_order()
    {
        using var socket = await ConnectAsync();
        byte[] two = [0, 7, 0, 0, 0, 6, 1, 3, 0, 2, 0, 1, 0, 8, 0, 0, 0, 6, 1, 4, 0, 1, 0, 1];
        await socket.SendAsync(two.AsMemory(0, 3));
        await Task.Yield();
        await socket.SendAsync(two.AsMemory(3));
        byte[] response = new byte[22];
        await ReadExactlyAsync(socket, response);
        Assert.Equal(new byte[] { 0, 7, 0, 0, 0, 5, 1, 3, 2, 0, 6, 0, 8, 0, 0, 0, 5, 1, 4, 2, 0, 101 }, response);
    }

    [Fact]
    public async Task Concurrent_clients_each_get_their_own_answers()
    {
        var unit = _server.GetUnit(1);
        var tasks = Enumerable.Range(0, 8).Select(async c =>
        {
            await using var client = PymodbusInteropTests.NewClient(_server.Port, maxOutstanding: 4);
            for (int i = 0; i < 50; i++)
            {
                ushort address = (ushort)(2000 + (c * 100) + (i % 50));
                await client.WriteSingleRegisterAsync(address, (ushort)((c * 1000) + i));
                Assert.Equal((ushort)((c * 1000) + i), (await client.ReadHoldingRegistersAsync(address, 1))[0]);
            }
        });
        await Task.WhenAll(tasks);
        Assert.Equal((ushort)7049, unit.GetRegisters(ModbusTable.HoldingRegister, 2749, 1)[0]);
    }

    [Fact]
    public async Task Connections_beyond_MaxConnections_are_refused_with_a_log_line()
    {
        var log = new List<string>();
        await using var server = new ModbusTcpServer(new ModbusTcpServerOptions { Port = 0, MaxConnections = 1, Log = m => { lock (log) log.Add(m); } });
        server.AddUnit(1);
        server.Start();
        await using var first = PymodbusInteropTests.NewClient(server.Port);
        await first.ReadHoldingRegistersAsync(0, 1);
        using var second = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await second.ConnectAsync(IPAddress.Loopback, server.Port);
        Assert.True(await IsClosedAsync(second));
        lock (log)
            Assert.Contains(log, l => l.Contains("MaxConnections", StringComparison.Ordinal));
        await first.ReadHoldingRegistersAsync(0, 1);
    }

    [Fact]
    public async Task Silent_connection_is_closed_after_the_idle_timeout()
    {
        var log = new List<string>();
        await using var server = new ModbusTcpServer(new ModbusTcpServerOptions { Port = 0, IdleTimeout = TimeSpan.FromMilliseconds(300), Log = m => { lock (log) log.Add(m); } });
        server.AddUnit(1);
        server.Start();
        using var silent = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await silent.ConnectAsync(IPAddress.Loopback, server.Port);
        Assert.True(await IsClosedAsync(silent));
        lock (log)
            Assert.Contains(log, l => l.Contains("idle for", StringComparison.Ordinal));
        await WaitForAsync(() => server.OpenConnections == 0);
    }

    [Fact]
    public void Bad_unit_access_from_code_names_the_table_and_range()
    {
        var unit = new ModbusUnit(3, holdingRegisters: 10);
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => unit.SetRegisters(ModbusTable.HoldingRegister, 9, [1, 2]));
        Assert.Contains("HoldingRegister 9..10", e.Message);
        Assert.Throws<ArgumentException>(() => unit.SetRegisters(ModbusTable.Coil, 0, [1]));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ModbusUnit(1, coils: 70_000));
    }

    [Fact]
    public async Task Pymodbus_client_reads_and_writes_our_server()
    {
        PymodbusServer.EnsureInstalled();
        string script = Path.Combine(AppContext.BaseDirectory, "peers", "modbus_client.py");
        using var process = Process.Start(new ProcessStartInfo(PymodbusServer.Python, [script, _server.Port.ToString()])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var stderr = process.StandardError.ReadToEndAsync();
        string stdout = await process.StandardOutput.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"pymodbus client failed ({process.ExitCode}): {stdout} {await stderr}");
        using var json = JsonDocument.Parse(stdout);
        var r = json.RootElement;
        int[] Ints(string name)
        {
            var e = r.GetProperty(name);
            Assert.True(e.ValueKind == JsonValueKind.Array, $"pymodbus {name}: {e}");
            return [.. e.EnumerateArray().Select(e => e.GetInt32())];
        }

        bool[] Bools(string name) => [.. r.GetProperty(name).EnumerateArray().Select(e => e.GetBoolean())];
        Assert.Equal(Enumerable.Range(0, 10).Select(i => i * 3), Ints("fc3"));
        Assert.Equal(new[] { 100, 101, 102, 103, 104 }, Ints("fc4"));
        Assert.Equal(new[] { true, false, true, false, true, false, true, false }, Bools("fc2"));
        Assert.True(r.GetProperty("fc5").GetBoolean());
        Assert.Equal(3, r.GetProperty("fc15").GetInt32());
        bool[] coils = Bools("fc1");
        Assert.True(coils[5]);
        Assert.Equal(new[] { true, false, true }, coils[10..13]);
        Assert.Equal(0xBEEF, r.GetProperty("fc6").GetInt32());
        Assert.Equal(3, r.GetProperty("fc16").GetInt32());
        Assert.Equal(new[] { 0xBEEF, 1, 2, 3 }, Ints("fc23"));
        Assert.Equal(new[] { 2 }, Ints("unit2"));
        Assert.Equal(2, r.GetProperty("bad_address").GetProperty("exception").GetInt32());
        Assert.Equal(11, r.GetProperty("unknown_unit").GetProperty("exception").GetInt32());
        // pymodbus's writes landed in our tables
        var unit = _server.GetUnit(1);
        Assert.Equal(new ushort[] { 0xBEEF, 1, 2, 3 }, unit.GetRegisters(ModbusTable.HoldingRegister, 100, 4));
        Assert.Equal(new ushort[] { 7, 8 }, unit.GetRegisters(ModbusTable.HoldingRegister, 200, 2));
        Assert.Equal(0, _server.BadFrames);
    }

    private async Task<Socket> ConnectAsync()
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, _server.Port);
        return socket;
    }

    private static async Task<byte[]> RoundTripAsync(Socket socket, byte unit, byte[] pdu)
    {
        byte[] adu = new byte[7 + pdu.Length];
        ModbusCodec.WriteHeader(adu, 0x1234, unit, pdu.Length);
        pdu.CopyTo(adu, 7);
        await socket.SendAsync(adu);
        byte[] header = new byte[7];
        await ReadExactlyAsync(socket, header);
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(header));
        Assert.Equal(unit, header[6]);
        byte[] body = new byte[BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4)) - 1];
        await ReadExactlyAsync(socket, body);
        return body;
    }

    private static async Task ReadExactlyAsync(Socket socket, byte[] buffer)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        for (int got = 0; got < buffer.Length;)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(got), SocketFlags.None, timeout.Token);
            if (n == 0)
                throw new EndOfStreamException($"server closed after {got} of {buffer.Length} bytes");
            got += n;
        }
    }

    /// <summary>True once the server closed the connection (a read returns 0 or resets) within 30 s.</summary>
    private static async Task<bool> IsClosedAsync(Socket socket)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            return await socket.ReceiveAsync(new byte[16], SocketFlags.None, timeout.Token) == 0;
        }
        catch (SocketException)
        {
            return true;
        }
    }

    private static async Task WaitForAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 30 s");
            await Task.Delay(20);
        }
    }
}
