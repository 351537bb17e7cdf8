using System.Collections.Concurrent;
using Zhizao.Core;
using Zhizao.Modbus;
using Zhizao.OpcUa;
using Zhizao.OpcUa.Client;

namespace Zhizao.Simulator.Tests;

/// <summary>The plant served as an OPC UA server and a Modbus TCP server of our own, read back with our clients.</summary>
public sealed class ServerFeedTests
{
    private static readonly string[] OpcUaMachines = ["l1-cnc-01", "l1-pump-01"];
    private static readonly string[] ModbusMachines = ["l2-imm-01", "l1-pm-01"];

    /// <summary>Records what the driver handed out, per series key and step timestamp.</summary>
    private sealed class Recorder : IPlantFeed
    {
        public ConcurrentDictionary<(string Key, long T), TagValue> Values { get; } = new();
        public string Name => "recorder";
        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public void OnStep(long timestampNs, IReadOnlyList<Sample> samples)
        {
            foreach (var s in samples)
                Values[(s.SeriesKey, timestampNs)] = s.Value;
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static (VirtualFactory, OpcUaServerFeed, ModbusServerFeed, Recorder, PlantDriver) Plant(List<string> log)
    {
        // start at 10:30 UTC today so machines are in their shift
        long now = Time.FromDateTime(DateTimeOffset.UtcNow);
        var factory = VirtualFactory.CreateDefault(7, now - SimHelpers.Hour);
        var opcua = new OpcUaServerFeed(factory, OpcUaMachines, log: m => { lock (log) log.Add(m); });
        var modbus = new ModbusServerFeed(factory, ModbusMachines, new ModbusServerFeedOptions { FirstUnitId = 10 }, m => { lock (log) log.Add(m); });
        var recorder = new Recorder();
        var driver = new PlantDriver(factory, TimeSpan.FromMilliseconds(200),
        [
            new PlantFeedAssignment(opcua, OpcUaMachines.ToHashSet()),
            new PlantFeedAssignment(modbus, ModbusMachines.ToHashSet()),
            new PlantFeedAssignment(recorder, OpcUaMachines.Concat(ModbusMachines).ToHashSet()),
        ]);
        return (factory, opcua, modbus, recorder, driver);
    }

    [Fact]
    public void Maps_list_every_tag_of_the_assigned_machines_before_start()
    {
        var log = new List<string>();
        var (factory, opcua, modbus, _, _) = Plant(log);
        Assert.Equal(OpcUaMachines.Sum(m => factory.GetMachine(m).Tags.Count), opcua.Nodes.Count);
        var power = opcua.Nodes.Single(n => n.SeriesKey == "l1-cnc-01/power_kw");
        Assert.Equal("ns=1;s=Plant/l1-cnc-01/power_kw", power.NodeId);
        Assert.Equal(BuiltInType.Double, power.DataType);
        Assert.Equal(BuiltInType.Int64, opcua.Nodes.Single(n => n.SeriesKey == "l1-cnc-01/state").DataType);
        Assert.Equal("urn:zhizao:simulator", power.NamespaceUri);

        Assert.Equal(new Dictionary<string, byte> { ["l2-imm-01"] = 10, ["l1-pm-01"] = 11 }, modbus.UnitIds);
        var imm = modbus.Points("l2-imm-01");
        var tags = factory.GetMachine("l2-imm-01").Tags;
        Assert.Equal(tags.Select(t => t.Name), imm.Select(p => p.Name));
        Assert.All(imm, p => Assert.Equal((byte)10, p.UnitId));
        Assert.Equal(Enumerable.Range(0, tags.Count).Select(k => (ushort)(2 * k)), imm.Select(p => p.Address));
        Assert.Equal(ModbusDataType.UInt16, imm.Single(p => p.Name == "state").Type);
        Assert.Equal(ModbusDataType.UInt32, imm.Single(p => p.Name == "part_count_good").Type);
        Assert.Equal(ModbusDataType.Float32, imm.Single(p => p.Name == "power_kw").Type);
        Assert.All(modbus.Points("l1-pm-01", ModbusTable.HoldingRegister), p => Assert.Equal(ModbusTable.HoldingRegister, p.Table));
        Assert.Throws<KeyNotFoundException>(() => modbus.Points("l1-cnc-01"));
        Assert.Throws<NotFoundException>(() => new OpcUaServerFeed(factory, ["no-such-machine"]));
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => new ModbusServerFeed(factory, factory.Machines.Select(m => m.Id), new ModbusServerFeedOptions { FirstUnitId = 240 }));
        Assert.Contains("unit id 248, outside 1..247", tooMany.Message);
    }

    [Fact]
    public async Task Driver_steps_reach_our_OPC_UA_and_Modbus_clients()
    {
        var log = new List<string>();
        var (_, opcua, modbus, recorder, driver) = Plant(log);
        using var stop = new CancellationTokenSource();
        var run = driver.RunAsync(stop.Token);
        try
        {
            await WaitForAsync(() => driver.Steps >= 2 && opcua.Port != 0 && modbus.Port != 0);

            // OPC UA: each read's value is what the driver handed out at the value's source timestamp, and it moves on
            await using var client = new OpcUaClient(new OpcUaClientOptions { EndpointUrl = opcua.EndpointUrl, RequestTimeout = TimeSpan.FromSeconds(20) });
            await client.ConnectAsync();
            var machines = await client.BrowseAllAsync(new NodeId(1, "Plant"));
            Assert.Equal(OpcUaMachines.Order(), machines.Select(m => m.BrowseName.Name!).Order());
            var energy = new NodeId(1, "Plant/l1-cnc-01/energy_kwh");
            var state = new NodeId(1, "Plant/l1-pump-01/state");
            var stamps = new HashSet<DateTime>();
            while (stamps.Count < 3)
            {
                var values = await client.ReadAsync([new ReadValueId { NodeId = energy }, new ReadValueId { NodeId = state }]);
                var t = values[0].SourceTimestamp!.Value;
                long ns = Time.FromDateTime(new DateTimeOffset(t));
                Assert.Equal(recorder.Values[("l1-cnc-01/energy_kwh", ns)].AsDouble, (double)values[0].Value.Value!);
                Assert.Equal(recorder.Values[("l1-pump-01/state", Time.FromDateTime(new DateTimeOffset(values[1].SourceTimestamp!.Value)))].AsInt64, (long)values[1].Value.Value!);
                stamps.Add(t);
                await Task.Delay(100);
            }

            // a subscription sees the steps as they come
            var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
            var seen = new BlockingCollection<DateTime>();
            sub.DataChanged += (_, e) => seen.Add(e.Value.SourceTimestamp!.Value);
            await sub.AddMonitoredItemAsync(new MonitoredItemOptions(new NodeId(1, "Plant/l1-cnc-01/energy_kwh")) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 10 });
            using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30)))
            {
                // energy may stand still while the machine is down; the first value always comes
                seen.Take(cts.Token);
            }
            var history = await client.HistoryReadRawAsync(energy, DateTime.UtcNow.AddMinutes(-5), DateTime.UtcNow.AddMinutes(1));
            Assert.True(history.Count >= 3);
            Assert.All(history, h => Assert.Equal(recorder.Values[("l1-cnc-01/energy_kwh", Time.FromDateTime(new DateTimeOffset(h.SourceTimestamp!.Value)))].AsDouble, (double)h.Value.Value!));

            // Modbus: the polling plan built from the feed's map reads values the driver handed out
            await using var mb = new ModbusTcpClient(new ModbusTcpClientOptions { Host = "127.0.0.1", Port = modbus.Port, RequestTimeout = TimeSpan.FromSeconds(5) });
            var plan = PollingPlan.Create(modbus.Map.Select(p => p.Point));
            var changed = new HashSet<string>();
            Dictionary<string, double>? first = null;
            var deadline = DateTime.UtcNow.AddSeconds(30);
            while (changed.Count == 0 && DateTime.UtcNow < deadline)
            {
                var readings = await plan.ReadAsync(mb);
                Assert.All(readings, r => Assert.True(r.IsGood, r.Error?.Message));
                var current = new Dictionary<string, double>();
                foreach (var r in readings)
                {
                    string key = r.Point.Name;
                    Assert.Equal(modbus.UnitIds[key.Split('/')[0]], r.Point.UnitId);
                    double v = r.Value.AsDouble();
                    current[key] = v;
                    var handedOut = recorder.Values.Where(p => p.Key.Key == key).Select(p => r.Point.Type == ModbusDataType.Float32 ? (double)(float)p.Value.AsDouble : p.Value.AsDouble);
                    Assert.Contains(v, handedOut);
                }
                if (first is null)
                    first = current;
                else
                    changed.UnionWith(current.Where(p => p.Value != first[p.Key]).Select(p => p.Key));
                await Task.Delay(200);
            }
            Assert.NotEmpty(changed); // the power meter's voltages and currents move every step
            Assert.Equal(0, opcua.UnknownSamples + modbus.UnknownSamples + modbus.FailedValues);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
        Assert.Equal(0, opcua.Server.ChannelCount);
        lock (log)
            Assert.Contains(log, l => l.Contains("Modbus feed: 2 machines (unit ids 10, 11)", StringComparison.Ordinal));
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
