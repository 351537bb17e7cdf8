using System.CommandLine;
using System.Text;
using Spectre.Console;
using Zhizao.Api;
using Zhizao.Core;
using Zhizao.Hosting;

namespace Zhizao.Cli;

/// <summary>The `zhizao` command: `serve` (the default) runs a node; the other verbs are clients of a running node.</summary>
public static class CliApp
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("Zhizao 智造 — AI + Industrial Internet platform. With no verb, runs the platform with the virtual factory demo.");
        var serve = ServeCommand();
        foreach (var o in serve.Options)
        {
            root.Options.Add(o);
        }

        root.Action = serve.Action;
        root.Subcommands.Add(serve);

        var server = new Option<string>("--server") { Description = "URL of the running node (env ZHIZAO_URL)", Recursive = true, DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZHIZAO_URL") ?? PlatformOptions.DefaultUrl };
        var token = new Option<string?>("--token") { Description = "API token (env ZHIZAO_TOKEN)", Recursive = true, DefaultValueFactory = _ => Environment.GetEnvironmentVariable("ZHIZAO_TOKEN") };
        var clientRoot = new ClientOptions(server, token);
        foreach (var c in new[] { AssetCommands.Assets(clientRoot), AssetCommands.Types(clientRoot), AssetCommands.Model(clientRoot), ImportCommand.Create(clientRoot), AssetCommands.Latest(clientRoot), HealthCommands.Create(clientRoot), ConnectorCommands.Create(clientRoot) })
        {
            c.Options.Add(server);
            c.Options.Add(token);
            root.Subcommands.Add(c);
        }

        try
        {
            // our own handler below prints one line; System.CommandLine's would print a stack trace
            return await root.Parse(args).InvokeAsync(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (e is CliException or ZhizaoException or IOException or UnauthorizedAccessException)
        {
            AnsiConsole.MarkupLineInterpolated($"[red]error:[/] {e.Message}");
            return 1;
        }
    }

    private static Command ServeCommand()
    {
        var urls = new Option<string>("--urls") { Description = "Listen addresses (loopback by default; others need --api-token)", DefaultValueFactory = _ => PlatformOptions.DefaultUrl };
        var dataDir = new Option<string>("--data-dir") { Description = "Data directory", DefaultValueFactory = _ => "zhizao-data" };
        var noDemo = new Option<bool>("--no-demo") { Description = "Do not run the virtual factory" };
        var rate = new Option<double>("--demo-rate") { Description = "Virtual factory steps per second", DefaultValueFactory = _ => 1.0 };
        var transport = new Option<string>("--demo-transport") { Description = "How the virtual factory reaches the node: mqtt (line 1 JSON, line 2 Sparkplug B via the embedded broker) or http (line protocol)", DefaultValueFactory = _ => "mqtt" };
        transport.AcceptOnlyFromAmong("mqtt", "http");
        var seed = new Option<int>("--demo-seed") { Description = "Virtual factory seed", DefaultValueFactory = _ => 42 };
        var historyDays = new Option<double>("--demo-history-days") { Description = "Days of simulated run-to-failure history of the demo's pumps and compressors written at first start; their remaining-useful-life models are trained on it (0: off)", DefaultValueFactory = _ => 7 };
        var faultMinutes = new Option<double>("--demo-fault-minutes") { Description = "The demo starts a bearing fault on compressor l1-comp-01 that fails after this many minutes, so alarms show soon (0: off)", DefaultValueFactory = _ => 12 };
        var mqttPort = new Option<int>("--mqtt-port") { Description = "Embedded MQTT broker on 127.0.0.1 (topics zhizao/lp, zhizao/json, zhizao/v/{equipment}/{tag}); 0 turns it off", DefaultValueFactory = _ => 1883 };
        var mqtt = new Connectors.Mqtt.MqttCliOptions();
        var apiToken = new Option<string?>("--api-token") { Description = "Require this token on /api (env Zhizao__ApiToken)" };
        var retention = new Option<string?>("--retention") { Description = "Drop data older than this, e.g. 30d" };
        var window = new Option<string>("--out-of-order-window") { Description = "How far behind a series' newest point a write may land, e.g. 1h, 30d (history imports into live series need a wide window)", DefaultValueFactory = _ => "1h" };
        var headPoints = new Option<long>("--head-flush-points") { Description = "Seal the in-memory head into compressed blocks at this many points", DefaultValueFactory = _ => 8_000_000 };
        var cmd = new Command("serve", "Run a Zhizao node (REST API, ingest, storage, the virtual factory demo)")
        {
            urls, dataDir, noDemo, rate, transport, seed, faultMinutes, historyDays, mqttPort, apiToken, retention, window, headPoints,
        };
        mqtt.AddTo(cmd);
        cmd.SetAction(async (pr, ct) =>
        {
            var options = new PlatformOptions
            {
                Urls = pr.GetValue(urls)!,
                DataDirectory = pr.GetValue(dataDir)!,
                Demo = !pr.GetValue(noDemo),
                DemoRateHz = pr.GetValue(rate),
                DemoTransport = pr.GetValue(transport)!,
                DemoSeed = pr.GetValue(seed),
                DemoStartFaultMinutes = pr.GetValue(faultMinutes),
                DemoHistoryDays = pr.GetValue(historyDays),
                MqttPort = pr.GetValue(mqttPort),
                HeadFlushPoints = pr.GetValue(headPoints),
                ApiToken = pr.GetValue(apiToken) ?? Environment.GetEnvironmentVariable("Zhizao__ApiToken"),
            };
            mqtt.Apply(pr, options);
            try
            {
                options.OutOfOrderWindow = TimeSpan.FromTicks(TimeParam.ParseDuration(pr.GetValue(window)!, "--out-of-order-window") / 100);
                options.Retention = pr.GetValue(retention) is { } r ? TimeSpan.FromTicks(TimeParam.ParseDuration(r, "--retention") / 100) : null;
                await using var app = ServerHost.Build(options, pr.UnmatchedTokens.ToArray());
                await app.StartAsync(ct);
                Console.WriteLine($"Zhizao is running on {app.BoundAddress()} (data in {Path.GetFullPath(options.DataDirectory)}){(options.Demo ? " with the virtual factory demo" : string.Empty)}. Ctrl+C stops it.");
                await app.WaitForShutdownAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or ZhizaoException or IOException)
            {
                Console.Error.WriteLine($"error: {e.Message}");
                return 2;
            }
        });
        return cmd;
    }
}

internal sealed record ClientOptions(Option<string> Server, Option<string?> Token)
{
    public ApiClient Connect(ParseResult pr) => new(pr.GetValue(Server)!, pr.GetValue(Token));
}

internal static class AssetCommands
{
    public static Command Assets(ClientOptions c)
    {
        var cmd = new Command("assets", "List, add and delete assets of the ISA-95 tree");
        var list = new Command("list", "Show the asset tree");
        list.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var assets = await api.GetAsync<List<Asset>>("api/assets", ct);
            var tree = new Tree($"[bold]{Markup.Escape(api.BaseAddress.ToString())}[/]");
            var nodes = new Dictionary<string, IHasTreeNodes>(StringComparer.Ordinal);
            foreach (var a in assets.OrderBy(a => a.Level).ThenBy(a => a.Id, StringComparer.Ordinal))
            {
                IHasTreeNodes parent = a.ParentId is not null && nodes.TryGetValue(a.ParentId, out var p) ? p : tree;
                string label = $"{Markup.Escape(a.Id)} [grey]{a.Level}{(a.TypeId is null ? string.Empty : " · " + Markup.Escape(a.TypeId))}[/] {Markup.Escape(a.Name)}";
                nodes[a.Id] = parent.AddNode(label);
            }

            AnsiConsole.Write(tree);
            return 0;
        });

        var id = new Option<string>("--id") { Description = "Asset id (letters, digits, '-', '_', '.')", Required = true };
        var name = new Option<string>("--name") { Description = "Display name", Required = true };
        var level = new Option<AssetLevel>("--level") { Description = "Enterprise, Site, Area, Line, Cell or Equipment", Required = true };
        var parent = new Option<string?>("--parent") { Description = "Parent asset id" };
        var type = new Option<string?>("--type") { Description = "Equipment type id (Equipment only)" };
        var add = new Command("add", "Create or update one asset") { id, name, level, parent, type };
        add.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var asset = new Asset { Id = pr.GetValue(id)!, Name = pr.GetValue(name)!, Level = pr.GetValue(level), ParentId = pr.GetValue(parent), TypeId = pr.GetValue(type) };
            await api.SendAsync(HttpMethod.Put, $"api/assets/{Uri.EscapeDataString(asset.Id)}", System.Net.Http.Json.JsonContent.Create(asset, options: ModelFormats.Json), ct);
            Console.WriteLine($"saved asset {asset.Id}");
            return 0;
        });

        var delId = new Argument<string>("id") { Description = "Asset id" };
        var recursive = new Option<bool>("--recursive") { Description = "Also delete everything below it" };
        var del = new Command("delete", "Delete an asset") { delId, recursive };
        del.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            await api.SendAsync(HttpMethod.Delete, $"api/assets/{Uri.EscapeDataString(pr.GetValue(delId)!)}?recursive={pr.GetValue(recursive)}", null, ct);
            Console.WriteLine($"deleted {pr.GetValue(delId)}");
            return 0;
        });

        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(add);
        cmd.Subcommands.Add(del);
        return cmd;
    }

    public static Command Types(ClientOptions c)
    {
        var cmd = new Command("types", "Equipment types (templates) and their tags");
        var list = new Command("list", "List equipment types with their tags");
        list.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            foreach (var t in await api.GetAsync<List<EquipmentType>>("api/types", ct))
            {
                var table = new Table().Title($"{Markup.Escape(t.Id)} — {Markup.Escape(t.Name)}").AddColumns("tag", "type", "unit", "range", "description");
                foreach (var g in t.Tags)
                {
                    table.AddRow(Markup.Escape(g.Name), g.DataType.ToString(), Markup.Escape(g.Unit ?? string.Empty),
                        g.RangeLow is null && g.RangeHigh is null ? string.Empty : $"{g.RangeLow} … {g.RangeHigh}", Markup.Escape(g.Description ?? string.Empty));
                }

                AnsiConsole.Write(table);
            }

            return 0;
        });
        var delId = new Argument<string>("id");
        var del = new Command("delete", "Delete an unused equipment type") { delId };
        del.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            await api.SendAsync(HttpMethod.Delete, $"api/types/{Uri.EscapeDataString(pr.GetValue(delId)!)}", null, ct);
            Console.WriteLine($"deleted type {pr.GetValue(delId)}");
            return 0;
        });
        cmd.Subcommands.Add(list);
        cmd.Subcommands.Add(del);
        return cmd;
    }

    public static Command Model(ClientOptions c)
    {
        var cmd = new Command("model", "Import or export the whole asset model (types and assets) as YAML or JSON");
        var format = new Option<string>("--format") { Description = "yaml or json", DefaultValueFactory = _ => "yaml" };
        var output = new Option<FileInfo?>("--output", "-o") { Description = "File to write (stdout when omitted)" };
        var export = new Command("export", "Write the model") { format, output };
        export.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            string text = await api.GetStringAsync($"api/model/export?format={Uri.EscapeDataString(pr.GetValue(format)!)}", ct);
            if (pr.GetValue(output) is { } f)
            {
                await File.WriteAllTextAsync(f.FullName, text, ct);
                Console.WriteLine($"wrote {f.FullName}");
            }
            else
            {
                Console.WriteLine(text);
            }

            return 0;
        });

        var file = new Argument<FileInfo>("file") { Description = "A .yaml, .yml or .json model document" };
        var import = new Command("import", "Create or update types and assets from a file, all or nothing") { file };
        import.SetAction(async (pr, ct) =>
        {
            var f = pr.GetValue(file)!;
            if (!f.Exists)
            {
                throw new CliException($"file '{f.FullName}' does not exist");
            }

            using var api = c.Connect(pr);
            string ctype = f.Extension.Equals(".json", StringComparison.OrdinalIgnoreCase) ? "application/json" : "application/yaml";
            var content = new StringContent(await File.ReadAllTextAsync(f.FullName, ct), Encoding.UTF8, ctype);
            Console.WriteLine(await api.SendAsync(HttpMethod.Post, "api/model/import", content, ct));
            return 0;
        });
        cmd.Subcommands.Add(export);
        cmd.Subcommands.Add(import);
        return cmd;
    }

    public static Command Latest(ClientOptions c)
    {
        var equipment = new Option<string?>("--equipment") { Description = "Equipment id" };
        var series = new Option<string[]>("--series") { Description = "Series key (repeatable)", AllowMultipleArgumentsPerToken = true };
        var cmd = new Command("latest", "Show the latest values of an equipment or of series") { equipment, series };
        cmd.SetAction(async (pr, ct) =>
        {
            using var api = c.Connect(pr);
            var q = new List<string>();
            if (pr.GetValue(equipment) is { } e)
            {
                q.Add("equipment=" + Uri.EscapeDataString(e));
            }

            foreach (string s in pr.GetValue(series) ?? [])
            {
                q.Add("series=" + Uri.EscapeDataString(s));
            }

            if (q.Count == 0)
            {
                throw new CliException("name --equipment ID or --series KEY");
            }

            var table = new Table().AddColumns("series", "time (UTC)", "value");
            foreach (var v in await api.GetAsync<List<LatestValue>>("api/latest?" + string.Join('&', q), ct))
            {
                table.AddRow(Markup.Escape(v.Key), v.Time, Markup.Escape(v.Value.ToString() ?? string.Empty));
            }

            AnsiConsole.Write(table);
            return 0;
        });
        return cmd;
    }
}
