using System.Diagnostics;
using System.Text.Json;

namespace Zhizao.EndToEnd;

/// <summary>What a newcomer sees after `dotnet run --project src/Zhizao`: the virtual factory's data flowing.</summary>
public sealed class DemoTests(Xunit.Abstractions.ITestOutputHelper output) : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("zz-demo-").FullName;

    /// <summary>
    /// The 10 s goal is a measurement (printed, and recorded in docs/BENCHMARKS.md from a quiet machine); the
    /// assertion allows 60 s so a loaded CI machine does not fail it, and still fails if data never flows.
    /// </summary>
    [Fact]
    public async Task Demo_latest_values_advance_after_start()
    {
        var clock = Stopwatch.StartNew();
        await using var server = await ZhizaoProcess.StartAsync(_dir, extraArgs: string.Empty);
        using var http = new HttpClient();

        using var assets = JsonDocument.Parse(await http.GetStringAsync($"{server.Url}/api/assets?level=Equipment"));
        var equipment = assets.RootElement.EnumerateArray().Select(a => a.GetProperty("id").GetString()!).ToList();
        Assert.True(equipment.Count >= 20, $"the demo plant should have 20+ machines, has {equipment.Count}");

        long first = -1;
        while (clock.Elapsed < TimeSpan.FromSeconds(60))
        {
            using var latest = JsonDocument.Parse(await http.GetStringAsync($"{server.Url}/api/latest?equipment={equipment[0]}"));
            long newest = latest.RootElement.EnumerateArray().Select(v => v.GetProperty("timestampNs").GetInt64()).DefaultIfEmpty(-1).Max();
            if (first < 0 && newest > 0)
            {
                first = newest;
            }
            else if (first > 0 && newest > first)
            {
                output.WriteLine($"latest values advanced {clock.Elapsed.TotalSeconds:0.0} s after the process was started");
                return;
            }

            await Task.Delay(200);
        }

        Assert.Fail($"latest values of {equipment[0]} did not advance within 60 s of start (first seen: {first})\n{server.Log}");
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
