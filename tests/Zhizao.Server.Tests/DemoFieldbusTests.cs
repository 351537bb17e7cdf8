using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Zhizao.Core;
using Zhizao.Demo;
using Zhizao.Simulator;
using Zhizao.Simulator.Feeds;
using Zhizao.Storage.Metadata;
using static Zhizao.Server.Tests.ConnectorTestKit;

namespace Zhizao.Server.Tests;

/// <summary>The demo's fieldbus half: the simulator serves machines over OPC UA and Modbus TCP, the node reads them
/// through the same connectors a user would configure.</summary>
public sealed class DemoFieldbusTests
{
    [Fact]
    public async Task Machines_served_over_opcua_and_modbus_arrive_in_the_node_with_a_sample_every_step()
    {
        await using var node = await Node.StartAsync();
        var factory = VirtualFactory.CreateDefault(3, Time.NowNs());
        node.Services.GetRequiredService<MetadataStore>().Import(new AssetModelDocument { Types = [.. factory.Types], Assets = [.. factory.Assets] });
        string[] cnc = ["l1-cnc-01", "l1-cnc-02"], meters = ["l1-pm-01", "l2-oven-01"];
        var opcua = new OpcUaServerFeed(factory, cnc);
        var modbus = new ModbusServerFeed(factory, meters);
        var interval = TimeSpan.FromMilliseconds(200);
        using var stop = new CancellationTokenSource();
        var driver = new PlantDriver(factory, interval, [new PlantFeedAssignment(opcua, cnc.ToHashSet()), new PlantFeedAssignment(modbus, meters.ToHashSet())]);
        var run = driver.RunAsync(stop.Token);
        try
        {
            await WaitForAsync(() => Task.FromResult<int?>(opcua.Port * modbus.Port), p => p > 0, "the simulator's servers to listen");
            var connectors = node.Services.GetRequiredService<Zhizao.Connectors.ConnectorService>();
            await connectors.AddOrUpdateAsync(DemoFieldbus.OpcUaConfig(opcua, interval.TotalMilliseconds));
            foreach (var c in DemoFieldbus.ModbusConfigs(modbus, interval.TotalMilliseconds))
            {
                await connectors.AddOrUpdateAsync(c);
            }

            await WaitForHealthAsync(node, DemoFieldbus.OpcUaConnector, "Connected");
            await WaitForHealthAsync(node, DemoFieldbus.ModbusConnectorPrefix + "l1-pm-01", "Connected");
            await WaitForHealthAsync(node, DemoFieldbus.ModbusConnectorPrefix + "l2-oven-01", "Connected");

            // every mapped tag of every machine arrives, and the OPC UA values carry the simulator's step timestamps
            foreach (string machine in cnc.Concat(meters))
            {
                var latest = await WaitForAsync(() => node.Http.GetFromJsonAsync<JsonElement>($"api/latest?equipment={machine}"),
                    l => l.GetArrayLength() == factory.GetMachine(machine).Tags.Count, $"all tags of {machine}");
                if (cnc.Contains(machine))
                {
                    Assert.All(latest.EnumerateArray(), v => Assert.Equal(0, v.GetProperty("timestampNs").GetInt64() % 200_000_000));
                }
            }

            // a tag whose value does not change (a running CNC's state) is still stored at every step (EverySample)
            long t0 = Time.NowNs();
            await Task.Delay(TimeSpan.FromSeconds(3));
            var raw = await node.Http.GetFromJsonAsync<JsonElement>($"api/query/raw?series=l1-cnc-01/state&from={t0}&to={Time.NowNs()}");
            int samples = raw.GetProperty("timestamps").GetArrayLength();
            Assert.True(samples >= 8, $"only {samples} state samples in 3 s at 200 ms steps");
            long modbusValues = (await node.Http.GetFromJsonAsync<JsonElement>($"api/connectors/{DemoFieldbus.ModbusConnectorPrefix}l1-pm-01/health")).GetProperty("valuesReceived").GetInt64();
            Assert.True(modbusValues > 0);
        }
        finally
        {
            await stop.CancelAsync();
            await run;
        }
    }
}
