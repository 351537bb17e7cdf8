using System.Net;
using System.Net.Sockets;
using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

public class ClientTests
{
    [Fact]
    public async Task Every_function_code_round_trips()
    {
        await using var server = new FakeModbusServer();
        server.DiscreteInputs[3] = true;
        server.InputRegisters[7] = 77;
        await using var client = server.CreateClient();

        await client.WriteSingleCoilAsync(1, true);
        await client.WriteMultipleCoilsAsync(10, new[] { true, false, true });
        Assert.Equal(new bool[] { false, true, false }, await client.ReadCoilsAsync(0, 3));
        Assert.Equal(new bool[] { true, false, true }, await client.ReadCoilsAsync(10, 3));
        Assert.Equal(new bool[] { false, true }, await client.ReadDiscreteInputsAsync(2, 2));

        await client.WriteSingleRegisterAsync(5, 0xBEEF);
        await client.WriteMultipleRegistersAsync(100, new ushort[] { 1, 2, 3 });
        Assert.Equal(new ushort[] { 0xBEEF }, await client.ReadHoldingRegistersAsync(5, 1));
        Assert.Equal(new ushort[] { 1, 2, 3 }, await client.ReadHoldingRegistersAsync(100, 3));
        Assert.Equal(new ushort[] { 77 }, await client.ReadInputRegistersAsync(7, 1));

        ushort[] read = await client.ReadWriteMultipleRegistersAsync(1, 200, 2, 201, new ushort[] { 9 });
        Assert.Equal([0, 9], read);
    }

    [Fact]
    public async Task Exception_response_surfaces_without_retry()
    {
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Exception(ModbusExceptionCode.IllegalDataAddress) };
        await using var client = server.CreateClient(retries: 3);
        var ex = await Assert.ThrowsAsync<ModbusException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.Equal(ModbusExceptionCode.IllegalDataAddress, ex.Code);
        Assert.False(ex.IsTransient);
        Assert.Equal(1, server.Requests);
        Assert.True(client.IsConnected);
    }

    [Fact]
    public async Task Truncated_frame_then_close_is_retried_on_a_new_connection()
    {
        await using var server = new FakeModbusServer { Behavior = r => r.Index == 0 ? FakeReply.Truncate(9, close: true) : FakeReply.Normal };
        server.HoldingRegisters[0] = 42;
        await using var client = server.CreateClient();
        Assert.Equal(new ushort[] { 42 }, await client.ReadHoldingRegistersAsync(0, 1));
        Assert.Equal(2, server.Connections);
        Assert.Equal(1, client.Reconnects);
    }

    [Fact]
    public async Task Truncated_frame_error_says_what_was_received()
    {
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Truncate(9, close: true) };
        await using var client = server.CreateClient(retries: 0);
        var ex = await Assert.ThrowsAsync<ModbusTransportException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.Contains("in the middle of a frame (9 bytes of it received)", ex.Message);
        Assert.True(ex.IsTransient);
    }

    [Fact]
    public async Task Truncated_frame_left_hanging_times_out_and_recovers()
    {
        await using var server = new FakeModbusServer { Behavior = r => r.Index == 0 ? FakeReply.Truncate(5, close: false) : FakeReply.Normal };
        server.HoldingRegisters[0] = 42;
        await using var client = server.CreateClient(timeoutMs: 1000);
        Assert.Equal(new ushort[] { 42 }, await client.ReadHoldingRegistersAsync(0, 1));
        Assert.Equal(2, server.Connections);
    }

    [Fact]
    public async Task Response_with_a_wrong_transaction_id_is_discarded()
    {
        await using var server = new FakeModbusServer { Behavior = r => r.Index == 0 ? FakeReply.WrongTransactionId : FakeReply.Normal };
        server.HoldingRegisters[3] = 3;
        await using var client = server.CreateClient(timeoutMs: 1000);
        Assert.Equal(new ushort[] { 3 }, await client.ReadHoldingRegistersAsync(3, 1));
        Assert.Equal(1, client.UnmatchedResponses);
    }

    [Fact]
    public async Task Persistent_timeouts_give_a_transient_transport_error_after_the_retries()
    {
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Delay(TimeSpan.FromSeconds(2)) };
        await using var client = server.CreateClient(retries: 2, timeoutMs: 100);
        var ex = await Assert.ThrowsAsync<ModbusTransportException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.True(ex.IsTransient);
        Assert.Contains("3 attempt(s)", ex.Message);
        Assert.IsType<TimeoutException>(ex.InnerException);
        Assert.Equal(3, server.Requests);
    }

    [Fact]
    public async Task Malformed_responses_are_retried_then_reported()
    {
        // byte count says 4 for a 1-register read
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Rewrite(adu => [.. adu[..5], 7, adu[6], 3, 4, 0, 1, 0, 2]) };
        await using var client = server.CreateClient(retries: 1);
        var ex = await Assert.ThrowsAsync<ModbusTransportException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.IsType<ModbusProtocolException>(ex.InnerException);
        Assert.Contains("byte count 4", ex.Message);
        Assert.Equal(2, server.Requests);
    }

    [Fact]
    public async Task Bad_protocol_id_drops_the_connection_and_recovers()
    {
        await using var server = new FakeModbusServer { Behavior = r => r.Index == 0 ? FakeReply.Rewrite(adu => { adu[3] = 1; return adu; }) : FakeReply.Normal };
        await using var client = server.CreateClient();
        Assert.Equal(new ushort[] { 0 }, await client.ReadHoldingRegistersAsync(0, 1));
        Assert.Equal(2, server.Connections);
    }

    [Fact]
    public async Task Wrong_unit_id_in_the_response_is_a_protocol_error()
    {
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Rewrite(adu => { adu[6] = 9; return adu; }) };
        await using var client = server.CreateClient(retries: 0);
        var ex = await Assert.ThrowsAsync<ModbusTransportException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.Contains("unit id 9", ex.Message);
    }

    [Fact]
    public async Task Server_disconnect_between_requests_reconnects()
    {
        await using var server = new FakeModbusServer();
        await using var client = server.CreateClient();
        await client.ReadHoldingRegistersAsync(0, 1);
        server.DropConnections();
        server.Behavior = r => r.Index == 1 ? FakeReply.Disconnect : FakeReply.Normal;
        for (int i = 0; i < 5; i++)
            await client.ReadHoldingRegistersAsync(0, 1);
        Assert.True(client.Reconnects >= 1);
    }

    [Fact]
    public async Task Refused_connection_is_a_transport_error()
    {
        var probe = new TcpListener(IPAddress.Loopback, 0);
        probe.Start();
        int port = ((IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        await using var client = new ModbusTcpClient(new ModbusTcpClientOptions { Host = "127.0.0.1", Port = port, Retries = 1, RetryDelay = TimeSpan.FromMilliseconds(5) });
        var ex = await Assert.ThrowsAsync<ModbusTransportException>(() => client.ReadHoldingRegistersAsync(0, 1));
        Assert.IsType<SocketException>(ex.InnerException);
    }

    [Fact]
    public async Task Cancellation_is_honoured()
    {
        await using var server = new FakeModbusServer { Behavior = _ => FakeReply.Silent };
        await using var client = server.CreateClient(timeoutMs: 10_000);
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => client.ReadHoldingRegistersAsync(0, 1, cts.Token));
    }

    [Fact]
    public async Task Pipelined_requests_are_matched_by_transaction_id()
    {
        await using var server = new FakeModbusServer { Behavior = r => r.Index % 3 == 0 ? FakeReply.Delay(TimeSpan.FromMilliseconds(20)) : FakeReply.Normal };
        for (int i = 0; i < 1000; i++)
            server.HoldingRegisters[i] = (ushort)(i * 3);
        await using var client = server.CreateClient(maxOutstanding: 16, timeoutMs: 2000);
        var tasks = Enumerable.Range(0, 200).Select(async i => (i, (await client.ReadHoldingRegistersAsync((ushort)i, 2))[0])).ToList();
        foreach (var (i, value) in await Task.WhenAll(tasks))
            Assert.Equal(i * 3, value);
    }

    [Fact]
    public async Task Polling_plan_reads_points_and_isolates_a_failing_group()
    {
        await using var server = new FakeModbusServer
        {
            Behavior = r => r.Function == 4 ? FakeReply.Exception(ModbusExceptionCode.ServerDeviceBusy) : FakeReply.Normal,
        };
        server.HoldingRegisters[0] = 0x449A;
        server.HoldingRegisters[1] = 0x5000;
        server.HoldingRegisters[3] = 250;
        server.Coils[4] = true;
        await using var client = server.CreateClient();
        var plan = PollingPlan.Create([
            new ModbusPoint("f", ModbusTable.HoldingRegister, 0, ModbusDataType.Float32),
            new ModbusPoint("t", ModbusTable.HoldingRegister, 3, ModbusDataType.Int16) { Scale = 0.1 },
            new ModbusPoint("c", ModbusTable.Coil, 4, ModbusDataType.Bool),
            new ModbusPoint("i", ModbusTable.InputRegister, 0, ModbusDataType.UInt16),
        ]);
        Assert.Equal(3, plan.Groups.Count);
        PointReading[] r = await plan.ReadAsync(client);
        var byName = r.ToDictionary(x => x.Point.Name);
        Assert.Equal(1234.5, byName["f"].Value.AsDouble());
        Assert.Equal(25, byName["t"].Value.AsDouble(), 9);
        Assert.True(byName["c"].Value.AsBool());
        Assert.False(byName["i"].IsGood);
        Assert.True(Assert.IsType<ModbusException>(byName["i"].Error).IsTransient);
    }
}

public class ClientFuzzTests
{
    [Fact]
    public async Task Random_responses_never_crash_the_client_and_it_keeps_working()
    {
        var random = new Random(7);
        await using var server = new FakeModbusServer
        {
            Behavior = r => r.Index % 2 == 1 ? FakeReply.Normal : FakeReply.Rewrite(adu =>
            {
                lock (random)
                {
                    byte[] pdu = new byte[random.Next(1, 12)];
                    random.NextBytes(pdu);
                    if (random.Next(2) == 0)
                        pdu[0] = adu[7];
                    byte[] frame = [.. adu[..7], .. pdu];
                    frame[4] = 0;
                    frame[5] = (byte)(pdu.Length + 1);
                    if (random.Next(4) == 0)
                        frame[random.Next(frame.Length)] ^= (byte)random.Next(1, 256);
                    return frame;
                }
            }),
        };
        server.HoldingRegisters[1] = 11;
        await using var client = server.CreateClient(retries: 0, timeoutMs: 100);
        int good = 0;
        for (int i = 0; i < 300; i++)
        {
            try
            {
                ushort[] r = await client.ReadHoldingRegistersAsync(1, 1);
                Assert.Equal(11, r[0]);
                good++;
            }
            catch (Exception ex) when (ex is ModbusTransportException or ModbusException)
            {
            }
        }
        Assert.True(good > 50, $"{good} good reads");
        server.Behavior = _ => FakeReply.Normal;
        Assert.Equal(new ushort[] { 11 }, await client.ReadHoldingRegistersAsync(1, 1));
    }
}
