using System.Diagnostics;
using System.Text.Json;

namespace Zhizao.EndToEnd;

/// <summary>The `zhizao` client verbs against a running node, as a user types them.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zz-cli-").FullName;

    private static async Task<(int Code, string Output)> RunCliAsync(string args)
    {
        var psi = new ProcessStartInfo("dotnet", $"\"{ZhizaoProcess.ServerDll()}\" {args}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment["NO_COLOR"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await p.WaitForExitAsync(cts.Token);
        return (p.ExitCode, await stdout + await stderr);
    }

    [Fact]
    public async Task Import_csv_model_export_import_and_latest_work_end_to_end()
    {
        await using var server = await ZhizaoProcess.StartAsync(Path.Combine(_dir, "node"));

        string model = Path.Combine(_dir, "plant.yaml");
        await File.WriteAllTextAsync(model, """
            types:
              - id: oven
                name: Oven
                tags:
                  - { name: temp, dataType: Float64, unit: degC }
                  - { name: state, dataType: Int64 }
            assets:
              - { id: acme, name: Acme, level: Enterprise }
              - { id: site, name: Site, level: Site, parentId: acme }
              - { id: bake, name: Bakery, level: Area, parentId: site }
              - { id: oven-1, name: Oven 1, level: Equipment, parentId: bake, typeId: oven }
            """);
        var imported = await RunCliAsync($"model import \"{model}\" --server {server.Url}");
        Assert.True(imported.Code == 0, imported.Output);

        var tree = await RunCliAsync($"assets list --server {server.Url}");
        Assert.True(tree.Code == 0, tree.Output);
        Assert.Contains("oven-1", tree.Output);

        string csv = Path.Combine(_dir, "oven.csv");
        var lines = new List<string> { "timestamp,temp,state" };
        for (int i = 0; i < 3000; i++)
        {
            lines.Add($"{1_767_225_600 + i},{180 + (i % 10) * 0.5},2");
        }

        lines.Add("not-a-time,1,2");          // bad row: reported, the rest stored
        await File.WriteAllLinesAsync(csv, lines);
        var import = await RunCliAsync($"import \"{csv}\" --equipment oven-1 --server {server.Url}");
        Assert.Equal(3, import.Code);            // some rows rejected
        Assert.Contains("row 3002", import.Output);
        Assert.Contains("stored 6000 points", import.Output.Replace(",", string.Empty, StringComparison.Ordinal));

        using var http = new HttpClient();
        using var raw = JsonDocument.Parse(await http.GetStringAsync($"{server.Url}/api/query/raw?series=oven-1/temp&from=0&to={long.MaxValue}&limit=100000"));
        Assert.Equal(3000, raw.RootElement.GetProperty("timestamps").GetArrayLength());

        var latest = await RunCliAsync($"latest --equipment oven-1 --server {server.Url}");
        Assert.True(latest.Code == 0, latest.Output);
        Assert.Contains("oven-1/temp", latest.Output);

        string exported = Path.Combine(_dir, "export.json");
        var export = await RunCliAsync($"model export --format json -o \"{exported}\" --server {server.Url}");
        Assert.True(export.Code == 0, export.Output);
        Assert.Contains("\"oven-1\"", await File.ReadAllTextAsync(exported));
    }

    [Fact]
    public async Task Client_verbs_say_clearly_when_no_server_is_running()
    {
        var result = await RunCliAsync($"assets list --server http://127.0.0.1:{ZhizaoProcess.FreePort()}");
        Assert.NotEqual(0, result.Code);
        Assert.Contains("cannot reach the Zhizao server", result.Output);
    }

    [Fact]
    public async Task Import_of_a_missing_file_names_it()
    {
        var result = await RunCliAsync("import /no/such/file.csv");
        Assert.NotEqual(0, result.Code);
        Assert.Contains("/no/such/file.csv", result.Output);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }
}
