using System.CommandLine;
using System.Globalization;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using Spectre.Console;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using Zhizao.Api;
using Zhizao.Connectors;

namespace Zhizao.Cli;

/// <summary>`zhizao connectors list|show|apply|delete|browse`: OPC UA and Modbus connectors of a running node.</summary>
internal static class ConnectorCommands
{
    public static Command Create(ClientOptions c)
    {
        var cmd = new Command("connectors", "OPC UA and Modbus connectors of the node: configuration, health, browsing");

        var list = new Command("list", "Connectors with their health");
        list.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var table = new Table().AddColumns("name", "kind", "target", "state", "last value", "values", "errors", "last error");
            foreach (var v in await api.GetAsync<List<ConnectorView>>("api/connectors", ct))
            {
                var h = v.Health;
                table.AddRow(Markup.Escape(v.Config.Name), v.Config.Kind.ToString(), Markup.Escape(Target(v.Config)),
                    h is null ? "-" : StateMarkup(h.State), h?.LastValueNs is { } t ? Age(t) : "-",
                    (h?.ValuesReceived ?? 0).ToString(CultureInfo.InvariantCulture), (h?.ErrorCount ?? 0).ToString(CultureInfo.InvariantCulture),
                    Markup.Escape(h?.LastError ?? ""));
            }

            AnsiConsole.Write(table);
            return 0;
        });

        var showName = new Argument<string>("name") { Description = "Connector name" };
        var show = new Command("show", "One connector's configuration (YAML-like JSON) and health") { showName };
        show.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            Console.WriteLine(await api.GetStringAsync($"api/connectors/{Uri.EscapeDataString(pr.GetValue(showName)!)}", ct));
            return 0;
        });

        var file = new Option<FileInfo>("--file", "-f") { Description = "YAML or JSON: one connector, a list of them, or 'connectors:' with a list", Required = true };
        var apply = new Command("apply", "Create or replace connectors from a file; each starts at once") { file };
        apply.SetAction(async (pr, ct) =>
        {
            var f = pr.GetValue(file)!;
            if (!f.Exists)
            {
                throw new CliException($"file '{f.FullName}' does not exist");
            }

            var configs = ParseFile(await File.ReadAllTextAsync(f.FullName, ct), f.Name);
            using var api = c.Connect(pr);
            foreach (var (name, json) in configs)
            {
                await api.SendAsync(HttpMethod.Put, $"api/connectors/{Uri.EscapeDataString(name)}", new StringContent(json, System.Text.Encoding.UTF8, "application/json"), ct);
                Console.WriteLine($"applied connector {name}");
            }

            return 0;
        });

        var delName = new Argument<string>("name") { Description = "Connector name" };
        var del = new Command("delete", "Stop and delete a connector") { delName };
        del.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            await api.SendAsync(HttpMethod.Delete, $"api/connectors/{Uri.EscapeDataString(pr.GetValue(delName)!)}", null, ct);
            Console.WriteLine($"deleted connector {pr.GetValue(delName)}");
            return 0;
        });

        var endpoint = new Option<string?>("--endpoint") { Description = "opc.tcp:// URL of the server" };
        var node = new Option<string?>("--node") { Description = "Node id whose children to list (default: the Objects folder, i=85)" };
        var connector = new Option<string?>("--connector") { Description = "Use the endpoint, security and credentials of this stored connector" };
        var security = new Option<OpcUaSecurity?>("--security") { Description = "None, Sign or SignAndEncrypt (Basic256Sha256)" };
        var user = new Option<string?>("--user") { Description = "User name (password from env ZHIZAO_OPCUA_PASSWORD)" };
        var browse = new Command("browse", "List the children of an OPC UA node, with data types and values") { endpoint, node, connector, security, user };
        browse.SetAction(async (pr, ct) =>
        {
            if (pr.GetValue(endpoint) is null && pr.GetValue(connector) is null)
            {
                throw new CliException("name the server with --endpoint opc.tcp://host:port/path or --connector NAME");
            }

            using var api = c.Connect(pr);
            var request = new OpcUaBrowseRequest
            {
                EndpointUrl = pr.GetValue(endpoint),
                NodeId = pr.GetValue(node),
                Connector = pr.GetValue(connector),
                Security = pr.GetValue(security),
                UserName = pr.GetValue(user),
                Password = pr.GetValue(user) is null ? null : Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_PASSWORD"),
            };
            using var resp = await api.SendAsync(new HttpRequestMessage(HttpMethod.Post, "api/connectors/opcua/browse") { Content = JsonContent.Create(request, options: ModelFormats.Json) }, ct);
            var nodes = await resp.Content.ReadFromJsonAsync<List<OpcUaBrowseNode>>(ModelFormats.Json, ct) ?? [];
            var table = new Table().AddColumns("node id", "browse name", "class", "data type", "value");
            foreach (var n in nodes)
            {
                table.AddRow(Markup.Escape(n.NodeId), Markup.Escape(n.BrowseName), n.NodeClass, Markup.Escape(n.DataType ?? ""), Markup.Escape(n.Value ?? n.Status ?? ""));
            }

            AnsiConsole.Write(table);
            return 0;
        });

        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(show);
        cmd.Subcommands.Add(apply);
        cmd.Subcommands.Add(del);
        cmd.Subcommands.Add(browse);
        return cmd;
    }

    /// <summary>
    /// The connectors of a YAML or JSON file as (name, JSON body). YAML scalars that are plain (unquoted) numbers,
    /// true/false or null become JSON numbers, booleans and null; everything else is text.
    /// </summary>
    internal static IReadOnlyList<(string Name, string Json)> ParseFile(string text, string fileName)
    {
        JsonNode? root;
        try
        {
            var yaml = new YamlStream();
            yaml.Load(new StringReader(text)); // JSON is YAML
            if (yaml.Documents.Count == 0)
            {
                throw new CliException($"{fileName} is empty");
            }

            root = ToJson(yaml.Documents[0].RootNode);
        }
        catch (YamlException e)
        {
            throw new CliException($"{fileName} line {e.Start.Line}, column {e.Start.Column}: {e.Message}");
        }

        var items = root switch
        {
            JsonArray a => a.ToList(),
            JsonObject o when o["connectors"] is JsonArray a => a.ToList(),
            JsonObject o => [o],
            _ => throw new CliException($"{fileName}: expected a connector, a list of connectors or 'connectors:' with a list"),
        };
        var result = new List<(string, string)>();
        for (int i = 0; i < items.Count; i++)
        {
            if (items[i] is not JsonObject o || o["name"] is not JsonValue n || n.GetValueKind() != JsonValueKind.String)
            {
                throw new CliException($"{fileName}: connector {i + 1} has no name");
            }

            result.Add((n.GetValue<string>(), o.ToJsonString()));
        }

        return result;
    }

    private static JsonNode? ToJson(YamlNode node) => node switch
    {
        YamlMappingNode m => new JsonObject(m.Children.Select(kv => KeyValuePair.Create(((YamlScalarNode)kv.Key).Value ?? "", ToJson(kv.Value)))),
        YamlSequenceNode s => new JsonArray([.. s.Children.Select(ToJson)]),
        YamlScalarNode { Style: ScalarStyle.Plain } p => Plain(p.Value),
        YamlScalarNode q => JsonValue.Create(q.Value),
        _ => null,
    };

    private static JsonValue? Plain(string? v)
    {
        if (v is null or "" or "~" or "null")
        {
            return null;
        }

        if (v is "true" or "false")
        {
            return JsonValue.Create(v == "true");
        }

        if (long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out long l))
        {
            return JsonValue.Create(l);
        }

        if (double.TryParse(v, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
        {
            return JsonValue.Create(d);
        }

        return JsonValue.Create(v);
    }

    private static string Target(ConnectorConfig c) =>
        c.OpcUa?.EndpointUrl ?? (c.Modbus is { } m ? $"{m.Host}:{m.Port} unit {m.UnitId}" : "");

    private static string StateMarkup(ConnectorState s) => s switch
    {
        ConnectorState.Connected => "[green]connected[/]",
        ConnectorState.Faulted => "[red]faulted[/]",
        ConnectorState.Disabled => "[grey]disabled[/]",
        _ => $"[yellow]{s.ToString().ToLowerInvariant()}[/]",
    };

    private static string Age(long ns)
    {
        double s = Math.Max(0, (Core.Time.NowNs() - ns) / 1e9);
        return s < 120 ? $"{s:0} s ago" : s < 7200 ? $"{s / 60:0} min ago" : $"{s / 3600:0} h ago";
    }
}
