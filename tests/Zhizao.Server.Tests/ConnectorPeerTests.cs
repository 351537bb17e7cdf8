using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Zhizao.Modbus.Tests;
using Zhizao.OpcUa.Tests;
using static Zhizao.Server.Tests.ConnectorTestKit;

namespace Zhizao.Server.Tests;

/// <summary>
/// Connectors of a real node against real peers nobody here wrote: node-opcua (npm) and pymodbus (Debian). Configured
/// through the HTTP API; values checked through the query API; peer killed → faulted + alarm; restarted → recovers, clears.
/// </summary>
public sealed class ConnectorPeerTests
{
    [NodeFact]
    public async Task Opcua_connector_stores_values_goes_faulted_with_an_alarm_when_the_server_dies_and_recovers_when_it_returns()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await PutAsync(node, new
        {
            name = "plc-1",
            kind = "OpcUa",
            alarmAfterSeconds = 2,
            opcUa = new
            {
                endpointUrl = server.EndpointUrl,
                publishingIntervalMs = 100,
                mappings = new object[]
                {
                    new { nodeId = "ns=1;s=Plant.Counter", equipment = "p-01", tag = "state", samplingIntervalMs = 100 },
                    new { nodeId = "ns=1;s=Plant.Temperature", equipment = "p-01", tag = "flow" },
                },
            },
        }, "plc-1");

        await WaitForHealthAsync(node, "plc-1", "Connected");
        await WaitForLatestAsync(node, "p-01/flow", v => v.GetProperty("value").GetDouble() == 21.5);
        var first = await WaitForLatestAsync(node, "p-01/state", v => v.GetProperty("value").GetInt64() > 0);
        // the counter steps every 100 ms on the server; its source timestamps are stored, so a later value is newer
        await WaitForLatestAsync(node, "p-01/state", v => v.GetProperty("value").GetInt64() > first.GetProperty("value").GetInt64() + 5);
        var health = await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-1/health");
        Assert.True(health.GetProperty("valuesReceived").GetInt64() >= 7, health.ToString());
        Assert.True(health.TryGetProperty("lastValueNs", out _), health.ToString());
        // the health is written as tags of equipment connector-plc-1
        await WaitForLatestAsync(node, "connector-plc-1/status", v => v.GetProperty("value").GetString() == "connected");
        Assert.False(await DownAlarmActiveAsync(node, "plc-1") ?? false);

        server.Kill();
        var faulted = await WaitForHealthAsync(node, "plc-1", "Faulted");
        Assert.True(faulted.GetProperty("errors").GetProperty("transport").GetInt64() > 0, faulted.ToString());
        Assert.False(string.IsNullOrEmpty(faulted.GetProperty("lastError").GetString()));
        await WaitForDownAlarmAsync(node, "plc-1", active: true);
        await WaitForLatestAsync(node, "connector-plc-1/down", v => v.GetProperty("value").GetBoolean());

        await server.StartProcessAsync();
        await WaitForHealthAsync(node, "plc-1", "Connected");
        await WaitForDownAlarmAsync(node, "plc-1", active: false);
        long before = (await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-1/health")).GetProperty("valuesReceived").GetInt64();
        await WaitForAsync(() => node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-1/health"),
            h => h.GetProperty("valuesReceived").GetInt64() > before + 5, "values did not flow again after the server restarted");
    }

    [NodeFact]
    public async Task Nodes_the_server_refuses_and_values_a_tag_cannot_hold_are_counted_and_the_rest_keeps_flowing()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await PutAsync(node, new
        {
            name = "plc-2",
            kind = "OpcUa",
            opcUa = new
            {
                endpointUrl = server.EndpointUrl,
                mappings = new object[]
                {
                    new { nodeId = "ns=1;s=Plant.Missing", equipment = "p-01", tag = "state" },  // not in the address space
                    new { nodeId = "ns=1;s=Plant.Vector", equipment = "p-01", tag = "flow" },    // an array: no tag holds it
                },
            },
        }, "plc-2");

        var health = await WaitForAsync(() => node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-2/health"),
            h => h.GetProperty("errors").TryGetProperty("item", out _) && h.GetProperty("errors").TryGetProperty("value", out _),
            "the refused node and the array value were not counted");
        Assert.Equal("Connected", health.GetProperty("state").GetString());
        Assert.Equal(0, health.GetProperty("valuesReceived").GetInt64());
        Assert.Equal(0, (await node.Http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/flow")).GetArrayLength());

        // a connector that cannot reach its server: Reconnecting, then Faulted with the reason, and the node keeps running
        await PutAsync(node, new
        {
            name = "plc-nowhere",
            kind = "OpcUa",
            alarmAfterSeconds = 1,
            opcUa = new { endpointUrl = $"opc.tcp://127.0.0.1:{NodeOpcUaServer.FreePort()}/", mappings = Array.Empty<object>() },
        }, "plc-nowhere");
        var nowhere = await WaitForHealthAsync(node, "plc-nowhere", "Faulted");
        Assert.True(nowhere.GetProperty("errors").GetProperty("transport").GetInt64() > 0, nowhere.ToString());
        await WaitForDownAlarmAsync(node, "plc-nowhere", active: true);
        Assert.Equal("Connected", (await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-2/health")).GetProperty("state").GetString());
    }

    [NodeFact]
    public async Task Opcua_connector_with_basic256sha256_sign_and_encrypt_and_a_user_name_delivers_values()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await PutAsync(node, new
        {
            name = "plc-secure",
            kind = "OpcUa",
            opcUa = new
            {
                endpointUrl = server.EndpointUrl,
                security = "SignAndEncrypt",
                userName = "operator",
                password = "s3cret!",
                autoAcceptServerCertificate = true,
                mappings = new object[] { new { nodeId = "ns=1;s=Plant.Temperature", equipment = "p-01", tag = "flow" } },
            },
        }, "plc-secure");

        await WaitForHealthAsync(node, "plc-secure", "Connected");
        await WaitForLatestAsync(node, "p-01/flow", v => v.GetProperty("value").GetDouble() == 21.5);
        // the node's application certificate was created in its data directory, the server's one trusted on first use
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(node.Directory, "pki", "opcua", "trusted")));

        // a wrong password: the server refuses the session, the connector says why and keeps trying
        await PutAsync(node, new
        {
            name = "plc-secure",
            kind = "OpcUa",
            alarmAfterSeconds = 1,
            opcUa = new
            {
                endpointUrl = server.EndpointUrl,
                security = "SignAndEncrypt",
                userName = "operator",
                password = "wrong",
                autoAcceptServerCertificate = true,
                mappings = new object[] { new { nodeId = "ns=1;s=Plant.Temperature", equipment = "p-01", tag = "flow" } },
            },
        }, "plc-secure");
        var refused = await WaitForHealthAsync(node, "plc-secure", "Faulted");
        Assert.Contains("BadUserAccessDenied", refused.GetProperty("lastError").GetString());
        Assert.DoesNotContain("wrong", refused.ToString());
    }

    [NodeFact]
    public async Task Browse_through_the_api_walks_the_node_opcua_address_space()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var node = await Node.StartAsync();

        using var objects = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = server.EndpointUrl });
        Assert.True(objects.IsSuccessStatusCode, await objects.Content.ReadAsStringAsync());
        var top = await objects.Content.ReadFromJsonAsync<JsonElement>();
        var plant = top.EnumerateArray().Single(n => n.GetProperty("browseName").GetString() == "1:Plant");
        Assert.Equal("Object", plant.GetProperty("nodeClass").GetString());
        Assert.Equal("ns=1;s=Plant", plant.GetProperty("nodeId").GetString());

        using var children = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = server.EndpointUrl, nodeId = "ns=1;s=Plant" });
        var list = await children.Content.ReadFromJsonAsync<JsonElement>();
        var temperature = list.EnumerateArray().Single(n => n.GetProperty("browseName").GetString() == "1:Temperature");
        Assert.Equal("Variable", temperature.GetProperty("nodeClass").GetString());
        Assert.Equal("Double", temperature.GetProperty("dataType").GetString());
        Assert.Equal("21.5", temperature.GetProperty("value").GetString());
        Assert.Contains(list.EnumerateArray(), n => n.GetProperty("browseName").GetString() == "1:Tags" && n.GetProperty("nodeClass").GetString() == "Object");

        using var badId = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = server.EndpointUrl, nodeId = "ns=1;q=Plant" });
        Assert.Equal(HttpStatusCode.BadRequest, badId.StatusCode);
        Assert.Contains("nodeId", await badId.Content.ReadAsStringAsync());

        using var unknown = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = server.EndpointUrl, nodeId = "ns=1;s=Nowhere" });
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        using var badUrl = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = "http://example" });
        Assert.Equal(HttpStatusCode.BadRequest, badUrl.StatusCode);
        Assert.Contains("endpointUrl", await badUrl.Content.ReadAsStringAsync());

        server.Kill();
        using var down = await node.Http.PostAsJsonAsync("api/connectors/opcua/browse", new { endpointUrl = server.EndpointUrl });
        Assert.Equal(HttpStatusCode.BadGateway, down.StatusCode);
        string downText = await down.Content.ReadAsStringAsync();
        Assert.True(downText.Contains(server.EndpointUrl, StringComparison.Ordinal), downText);
    }

    [Fact]
    public async Task Modbus_connector_polls_values_goes_faulted_with_an_alarm_when_the_server_dies_and_recovers_when_it_returns()
    {
        await using var server = await PymodbusServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await PutAsync(node, new
        {
            name = "meter-1",
            kind = "Modbus",
            alarmAfterSeconds = 2,
            modbus = new
            {
                host = "127.0.0.1",
                port = server.Port,
                pollIntervalMs = 200,
                timeoutMs = 300,
                retries = 0,
                mappings = new object[]
                {
                    // pymodbus preloads input register i with i * 10 and holding register i with i
                    new { table = "InputRegister", address = 5, type = "UInt16", scale = 0.1, equipment = "p-01", tag = "flow" },
                    new { table = "HoldingRegister", address = 7, type = "UInt16", equipment = "p-01", tag = "state" },
                },
            },
        }, "meter-1");

        await WaitForHealthAsync(node, "meter-1", "Connected");
        await WaitForLatestAsync(node, "p-01/flow", v => Math.Abs(v.GetProperty("value").GetDouble() - 5.0) < 1e-9);
        await WaitForLatestAsync(node, "p-01/state", v => v.GetProperty("value").GetInt64() == 7);
        Assert.False(await DownAlarmActiveAsync(node, "meter-1") ?? false);

        server.Stop();
        var faulted = await WaitForHealthAsync(node, "meter-1", "Faulted");
        Assert.True(faulted.GetProperty("errorCount").GetInt64() > 0, faulted.ToString());
        Assert.Contains(server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), faulted.GetProperty("lastError").GetString());
        await WaitForDownAlarmAsync(node, "meter-1", active: true);

        await server.RestartAsync();
        await WaitForHealthAsync(node, "meter-1", "Connected");
        await WaitForDownAlarmAsync(node, "meter-1", active: false);
    }

    [Fact]
    public async Task Modbus_exception_responses_are_counted_while_the_connector_stays_connected_and_good_groups_deliver()
    {
        await using var server = await PymodbusServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await PutAsync(node, new
        {
            name = "meter-2",
            kind = "Modbus",
            modbus = new
            {
                host = "127.0.0.1",
                port = server.Port,
                pollIntervalMs = 200,
                mappings = new object[]
                {
                    // pymodbus has 1000 registers: address 5000 is answered with exception 2 (illegal data address)
                    new { table = "HoldingRegister", address = 5000, type = "UInt16", equipment = "p-01", tag = "flow" },
                    new { table = "HoldingRegister", address = 9, type = "UInt16", equipment = "p-01", tag = "state" },
                },
            },
        }, "meter-2");

        var health = await WaitForAsync(() => node.Http.GetFromJsonAsync<JsonElement>("api/connectors/meter-2/health"),
            h => h.GetProperty("errors").TryGetProperty("exception", out var n) && n.GetInt64() >= 2, "exception responses were not counted");
        Assert.Equal("Connected", health.GetProperty("state").GetString());
        Assert.Contains("exception 2", health.GetProperty("lastError").GetString());
        await WaitForLatestAsync(node, "p-01/state", v => v.GetProperty("value").GetInt64() == 9);
        Assert.Equal(0, (await node.Http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/flow")).GetArrayLength());
    }

    [Fact]
    public async Task Modbus_read_returns_a_register_range_and_decoded_points_and_names_bad_requests()
    {
        await using var server = await PymodbusServer.StartAsync();
        await using var node = await Node.StartAsync();

        using var ok = await node.Http.PostAsJsonAsync("api/connectors/modbus/read", new
        {
            host = "127.0.0.1",
            port = server.Port,
            table = "InputRegister",
            address = 0,
            count = 4,
            points = new object[]
            {
                new { table = "InputRegister", address = 3, type = "UInt16", scale = 0.5 },
                new { table = "DiscreteInput", address = 3, type = "Bool" },
            },
        });
        Assert.True(ok.IsSuccessStatusCode, await ok.Content.ReadAsStringAsync());
        var result = await ok.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal(new[] { 0, 10, 20, 30 }, result.GetProperty("raw").EnumerateArray().Select(e => e.GetInt32()).ToArray());
        Assert.Equal("15", result.GetProperty("points")[0].GetProperty("value").GetString());
        Assert.Equal("True", result.GetProperty("points")[1].GetProperty("value").GetString(), ignoreCase: true);

        using var tooMany = await node.Http.PostAsJsonAsync("api/connectors/modbus/read", new { host = "127.0.0.1", port = server.Port, table = "HoldingRegister", address = 0, count = 200 });
        Assert.Equal(HttpStatusCode.BadRequest, tooMany.StatusCode);
        Assert.Contains("count", await tooMany.Content.ReadAsStringAsync());

        // pymodbus answers an address outside its 1000 registers with exception 2 (illegal data address)
        using var illegal = await node.Http.PostAsJsonAsync("api/connectors/modbus/read", new { host = "127.0.0.1", port = server.Port, table = "HoldingRegister", address = 5000, count = 2 });
        Assert.Equal(HttpStatusCode.BadRequest, illegal.StatusCode);
        Assert.Contains("exception 2", await illegal.Content.ReadAsStringAsync());

        server.Stop();
        using var down = await node.Http.PostAsJsonAsync("api/connectors/modbus/read", new { host = "127.0.0.1", port = server.Port, table = "HoldingRegister", address = 0, count = 2, timeoutMs = 200 });
        Assert.Equal(HttpStatusCode.BadGateway, down.StatusCode);
    }
}
