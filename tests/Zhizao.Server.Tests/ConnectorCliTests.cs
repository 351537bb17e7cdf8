using System.Net.Http.Json;
using System.Text.Json;
using Zhizao.Cli;

namespace Zhizao.Server.Tests;

/// <summary>`zhizao connectors apply|delete` against a running node, and the file parser's errors.</summary>
public sealed class ConnectorCliTests
{
    private const string Yaml = """
        connectors:
          - name: meter-7
            kind: Modbus
            enabled: false
            alarmAfterSeconds: 45
            modbus:
              host: 127.0.0.1
              port: 5020
              unitId: 3
              mappings:
                - { table: InputRegister, address: 10, type: Float32, byteOrder: CDAB, scale: 0.5, equipment: p-01, tag: flow }
          - name: plc-7
            kind: OpcUa
            enabled: false
            opcUa:
              endpointUrl: opc.tcp://127.0.0.1:4840/UA/Zhizao
              mappings:
                - nodeId: "ns=1;s=Plant.Counter"
                  equipment: p-01
                  tag: state
                  deadband: 0.5
        """;

    [Fact]
    public async Task Apply_creates_connectors_from_yaml_and_delete_removes_one()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        string file = Path.Combine(node.Directory, "connectors.yaml");
        await File.WriteAllTextAsync(file, Yaml);

        Assert.Equal(0, await CliApp.RunAsync(["connectors", "apply", "-f", file, "--server", node.Url]));
        var meter = await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/meter-7");
        var modbus = meter.GetProperty("config").GetProperty("modbus");
        Assert.Equal(3, modbus.GetProperty("unitId").GetInt32());
        Assert.Equal("CDAB", modbus.GetProperty("mappings")[0].GetProperty("byteOrder").GetString());
        Assert.Equal(45, meter.GetProperty("config").GetProperty("alarmAfterSeconds").GetDouble());
        var plc = await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc-7");
        Assert.Equal(0.5, plc.GetProperty("config").GetProperty("opcUa").GetProperty("mappings")[0].GetProperty("deadband").GetDouble());

        Assert.Equal(0, await CliApp.RunAsync(["connectors", "delete", "plc-7", "--server", node.Url]));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await node.Http.GetAsync("api/connectors/plc-7")).StatusCode);

        // a refused connector: exit code 1 (the node's reason is printed), nothing saved
        await File.WriteAllTextAsync(file, Yaml.Replace("tag: flow", "tag: speed", StringComparison.Ordinal));
        Assert.Equal(1, await CliApp.RunAsync(["connectors", "apply", "-f", file, "--server", node.Url]));
        Assert.Equal("flow", (await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/meter-7")).GetProperty("config").GetProperty("modbus").GetProperty("mappings")[0].GetProperty("tag").GetString());
    }

    [Zhizao.OpcUa.Tests.NodeFact]
    public async Task List_show_and_browse_answer_against_a_node_and_a_real_opcua_server()
    {
        await using var server = await Zhizao.OpcUa.Tests.NodeOpcUaServer.StartAsync();
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        string file = Path.Combine(node.Directory, "plc.json");
        await File.WriteAllTextAsync(file, $$$"""{"name":"plc-8","kind":"OpcUa","opcUa":{"endpointUrl":"{{{server.EndpointUrl}}}","mappings":[{"nodeId":"ns=1;s=Plant.Counter","equipment":"p-01","tag":"state"}]}}""");
        Assert.Equal(0, await CliApp.RunAsync(["connectors", "apply", "-f", file, "--server", node.Url]));
        Assert.Equal(0, await CliApp.RunAsync(["connectors", "list", "--server", node.Url]));
        Assert.Equal(0, await CliApp.RunAsync(["connectors", "show", "plc-8", "--server", node.Url]));
        Assert.Equal(0, await CliApp.RunAsync(["connectors", "browse", "--endpoint", server.EndpointUrl, "--node", "ns=1;s=Plant", "--server", node.Url]));
        Assert.Equal(0, await CliApp.RunAsync(["connectors", "browse", "--connector", "plc-8", "--server", node.Url]));
        // errors exit 1 with the node's reason: an unknown connector, a node id that does not parse, no server named
        Assert.Equal(1, await CliApp.RunAsync(["connectors", "show", "nope", "--server", node.Url]));
        Assert.Equal(1, await CliApp.RunAsync(["connectors", "browse", "--endpoint", server.EndpointUrl, "--node", "Plant", "--server", node.Url]));
        Assert.Equal(1, await CliApp.RunAsync(["connectors", "browse", "--server", node.Url]));
    }

    [Fact]
    public void Malformed_files_are_refused_with_the_line_or_what_is_missing()
    {
        var e = Assert.Throws<CliException>(() => ConnectorCommands.ParseFile("name: a\n  kind: [Modbus\n", "x.yaml"));
        Assert.Contains("x.yaml line 2", e.Message);
        Assert.Contains("connector 1 has no name", Assert.Throws<CliException>(() => ConnectorCommands.ParseFile("kind: Modbus\n", "x.yaml")).Message);
        Assert.Equal("a", Assert.Single(ConnectorCommands.ParseFile("""{"name":"a","kind":"Modbus"}""", "x.json")).Name);
    }
}
