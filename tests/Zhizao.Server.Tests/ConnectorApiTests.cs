using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Zhizao.Connectors;
using Zhizao.Hosting;

namespace Zhizao.Server.Tests;

/// <summary>Connector configuration through the HTTP API: validation with the field named, secrets, persistence.</summary>
public sealed class ConnectorApiTests
{
    private static object OpcUa(string name, string nodeId = "ns=1;s=Plant.Counter", string equipment = "p-01", string tag = "state", bool enabled = false, string? password = null) => new
    {
        name,
        kind = "OpcUa",
        enabled,
        opcUa = new
        {
            endpointUrl = "opc.tcp://127.0.0.1:4840/UA/Zhizao",
            userName = password is null ? null : "operator",
            password,
            mappings = new[] { new { nodeId, equipment, tag } },
        },
    };

    private static object Modbus(string name, params object[] mappings) => new
    {
        name,
        kind = "Modbus",
        enabled = false,
        modbus = new { host = "127.0.0.1", port = 5020, mappings },
    };

    private static async Task<string> ExpectBadRequestAsync(Node node, string name, object body)
    {
        using var resp = await node.Http.PutAsJsonAsync($"api/connectors/{name}", body);
        string text = await resp.Content.ReadAsStringAsync();
        Assert.True(resp.StatusCode == HttpStatusCode.BadRequest, $"{(int)resp.StatusCode} {text}");
        Assert.Equal("application/problem+json", resp.Content.Headers.ContentType?.MediaType);
        return JsonDocument.Parse(text).RootElement.GetProperty("detail").GetString()!;
    }

    [Fact]
    public async Task Bad_configurations_are_refused_with_the_field_and_the_reason()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);

        Assert.Contains("opcUa.mappings[0].equipment: 'p-99' is not equipment", await ExpectBadRequestAsync(node, "a", OpcUa("a", equipment: "p-99")));
        Assert.Contains("opcUa.mappings[0].tag: 'speed' is not a tag of equipment 'p-01'", await ExpectBadRequestAsync(node, "a", OpcUa("a", tag: "speed")));
        Assert.Contains("opcUa.mappings[0].nodeId: NodeId 'ns=x;s=A': bad namespace index", await ExpectBadRequestAsync(node, "a", OpcUa("a", nodeId: "ns=x;s=A")));
        Assert.Contains("opcUa.mappings[0].nodeId: NodeId 'Plant.Counter': expected i=, s=, g= or b=", await ExpectBadRequestAsync(node, "a", OpcUa("a", nodeId: "Plant.Counter")));
        Assert.Contains("name: 'bad name' is invalid", await ExpectBadRequestAsync(node, "bad name", OpcUa("bad name")));
        Assert.Contains("differs from the URL", await ExpectBadRequestAsync(node, "other", OpcUa("a")));

        string overlap = await ExpectBadRequestAsync(node, "m", Modbus("m",
            new { table = "HoldingRegister", address = 10, type = "Float32", equipment = "p-01", tag = "flow" },
            new { table = "HoldingRegister", address = 11, type = "UInt16", equipment = "p-01", tag = "state" }));
        Assert.Contains("modbus.mappings[1].address: HoldingRegister 11..11 overlaps modbus.mappings[0] (HoldingRegister 10..11)", overlap);

        string typed = await ExpectBadRequestAsync(node, "m", Modbus("m",
            new { table = "Coil", address = 1, type = "Int16", equipment = "p-01", tag = "flow" },
            new { table = "HoldingRegister", address = 70000, type = "UInt16", equipment = "p-01", tag = "state" }));
        Assert.Contains("modbus.mappings[0]: type Bool belongs to coils and discrete inputs", typed);
        Assert.Contains("modbus.mappings[1].address: 70000 is outside 0..65535", typed);

        string duplicate = await ExpectBadRequestAsync(node, "m", Modbus("m",
            new { table = "HoldingRegister", address = 1, type = "UInt16", equipment = "p-01", tag = "flow" },
            new { table = "HoldingRegister", address = 2, type = "UInt16", equipment = "p-01", tag = "flow" }));
        Assert.Contains("modbus.mappings[1].tag: p-01/flow is already the target of modbus.mappings[0]", duplicate);

        using (var wrongEnum = await node.Http.PutAsync("api/connectors/e", new StringContent("""{"name":"e","kind":"Profinet"}""", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, wrongEnum.StatusCode);
        }

        Assert.Contains("opcUa: is required for an OpcUa connector", await ExpectBadRequestAsync(node, "k", new { name = "k", kind = "OpcUa" }));

        // nothing was saved, and the node still answers
        Assert.Equal(0, (await node.Http.GetFromJsonAsync<JsonElement>("api/connectors")).GetArrayLength());
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/connectors/a")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await node.Http.DeleteAsync("api/connectors/a")).StatusCode);
    }

    [Fact]
    public async Task Passwords_are_never_returned_and_set_keeps_the_stored_one()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        await ConnectorTestKit.PutAsync(node, OpcUa("plc", password: "s3cret!"), "plc");

        string listed = await node.Http.GetStringAsync("api/connectors");
        string one = await node.Http.GetStringAsync("api/connectors/plc");
        Assert.DoesNotContain("s3cret!", listed + one);
        Assert.Equal("set", JsonDocument.Parse(one).RootElement.GetProperty("config").GetProperty("opcUa").GetProperty("password").GetString());

        // the console sends back what it got: "set" keeps the password
        await ConnectorTestKit.PutAsync(node, OpcUa("plc", password: "set"), "plc");
        var service = node.Services.GetRequiredService<ConnectorService>();
        Assert.Equal("s3cret!", service.GetStored("plc")!.OpcUa!.Password);
        Assert.Equal("set", service.Get("plc")!.OpcUa!.Password);
    }

    [Fact]
    public async Task Connectors_survive_a_restart_of_the_node_and_delete_removes_their_health_equipment()
    {
        string dir = Directory.CreateTempSubdirectory("zz-node-").FullName;
        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            await AssetApiTests.ImportModelAsync(node.Http);
            await ConnectorTestKit.PutAsync(node, OpcUa("plc"), "plc");
            await ConnectorTestKit.PutAsync(node, Modbus("meter", new { table = "InputRegister", address = 3, type = "Int16", scale = 0.1, equipment = "p-01", tag = "flow" }), "meter");
            Assert.Equal("Disabled", (await node.Http.GetFromJsonAsync<JsonElement>("api/connectors/plc/health")).GetProperty("state").GetString());
        }

        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            var list = await node.Http.GetFromJsonAsync<JsonElement>("api/connectors");
            Assert.Equal(new[] { "meter", "plc" }, list.EnumerateArray().Select(c => c.GetProperty("config").GetProperty("name").GetString()!).ToArray());
            var meter = list[0].GetProperty("config").GetProperty("modbus").GetProperty("mappings")[0];
            Assert.Equal(0.1, meter.GetProperty("scale").GetDouble());
            Assert.Equal("InputRegister", meter.GetProperty("table").GetString());
            Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("api/assets/connector-meter")).StatusCode);

            Assert.Equal(HttpStatusCode.NoContent, (await node.Http.DeleteAsync("api/connectors/meter")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/connectors/meter")).StatusCode);
            Assert.Equal(HttpStatusCode.NotFound, (await node.Http.GetAsync("api/assets/connector-meter")).StatusCode);
        }
    }
    [Fact]
    public async Task A_password_is_stored_sealed_survives_a_restart_and_a_foreign_key_loses_it_with_a_clear_log()
    {
        string dir = Directory.CreateTempSubdirectory("zz-node-").FullName;
        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            await AssetApiTests.ImportModelAsync(node.Http);
            await ConnectorTestKit.PutAsync(node, OpcUa("plc", password: "s3cret!"), "plc");
            var meta = node.Services.GetRequiredService<Zhizao.Storage.Metadata.MetadataStore>();
            string raw = meta.ListDocuments(ConnectorService.DocumentKind).Single(d => d.Id == "plc").Json;
            Assert.DoesNotContain("s3cret!", raw);
            Assert.Contains(SecretBox.Prefix, raw);
        }

        // nowhere in the data directory's files but sealed (metadata.db, its WAL, the key file itself)
        foreach (string f in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            using var fs = new FileStream(f, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var ms = new MemoryStream();
            fs.CopyTo(ms);
            Assert.True(ms.ToArray().AsSpan().IndexOf("s3cret!"u8) < 0, $"{f} holds the password in clear text");
        }

        string keyFile = Path.Combine(dir, "secrets.key");
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        }

        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            Assert.Equal("s3cret!", node.Services.GetRequiredService<ConnectorService>().GetStored("plc")!.OpcUa!.Password);
        }

        // metadata.db moved to a node with another key: the connector stays, its password is gone, the log says why
        File.Delete(keyFile);
        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            var service = node.Services.GetRequiredService<ConnectorService>();
            Assert.Null(service.GetStored("plc")!.OpcUa!.Password);
            Assert.Contains(node.Logs, l => l.Contains("stored password cannot be read", StringComparison.Ordinal) && l.Contains("another key", StringComparison.Ordinal));
        }
    }
}
