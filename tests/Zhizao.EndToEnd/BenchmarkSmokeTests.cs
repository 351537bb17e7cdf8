using System.Diagnostics;
using Xunit.Abstractions;

namespace Zhizao.EndToEnd;

/// <summary>
/// Benchmarks that cannot rot: both harnesses run in a tiny form on every test run. They assert only that the run
/// completes and every engine's answers were correct (the harness checks them); figures belong in docs/BENCHMARKS.md.
/// </summary>
public sealed class BenchmarkSmokeTests(ITestOutputHelper output)
{
    private Task<(int Code, string Output)> RunBenchAsync(string args) => RunAsync("Zhizao.Bench", args);

    private async Task<(int Code, string Output)> RunAsync(string project, string args)
    {
        string config = Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(ZhizaoProcess.ServerDll()))!)!;
        string dll = Path.Combine(ZhizaoProcess.RepoRoot(), "bench", project, "bin", config, "net10.0", project + ".dll");
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" {args}") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        await p.WaitForExitAsync(cts.Token);
        string text = await stdout + await stderr;
        output.WriteLine(text);
        return (p.ExitCode, text);
    }

    [Fact]
    public async Task Storage_benchmark_runs_against_its_peers_in_smoke_mode()
    {
        var (code, text) = await RunBenchAsync("storage --smoke --out " + Path.GetTempPath());
        Assert.True(code == 0, text);
        Assert.Contains("Zhizao", text);
    }

    [Fact]
    public async Task Http_ingest_benchmark_runs_in_smoke_mode()
    {
        var (code, text) = await RunBenchAsync($"http --seconds 2 --connections 2 --machines 100 --server-dll \"{ZhizaoProcess.ServerDll()}\"");
        Assert.True(code == 0, text);
        Assert.Contains("points/s", text);
    }

    /// <summary>The broker benchmark against mosquitto (installed by .ci/run): QoS 1 fan-in, where our broker must now
    /// deliver what it accepts (publisher flow control) — a backlog shows as delivered far below accepted.</summary>
    [Fact]
    public async Task Mqtt_benchmark_runs_against_mosquitto_in_quick_mode()
    {
        var (code, text) = await RunBenchAsync("mqtt --quick --qos 1");
        Assert.True(code == 0, text);
        var line = text.Split('\n').Single(l => l.Contains("QoS 1 zhizao", StringComparison.Ordinal));
        var numbers = System.Text.RegularExpressions.Regex.Matches(line, @"[\d,]+(?= msg/s)").Select(m => double.Parse(m.Value.Replace(",", ""), System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.Equal(2, numbers.Count);
        Assert.True(numbers[0] > 0 && numbers[0] >= 0.8 * numbers[1], $"delivered {numbers[0]} vs accepted {numbers[1]}: {line}");
    }

    /// <summary>The SKAB harness on the fastest model; without the shared data it must say so and exit 3.</summary>
    [Fact]
    public async Task Skab_evaluation_runs_or_names_the_missing_data()
    {
        string data = Path.Combine(ZhizaoProcess.RepoRoot(), "..", "shared", "datasets", "skab");
        string outDir = Directory.CreateTempSubdirectory("zz-eval-").FullName;
        var (code, text) = await RunAsync("Zhizao.Eval", $"--data \"{data}\" --out \"{outDir}\" --models t2");
        if (!Directory.Exists(data))
        {
            Assert.Equal(3, code);
            Assert.Contains("skab", text, StringComparison.OrdinalIgnoreCase);
            return;
        }

        Assert.True(code == 0, text);
        Assert.Contains("NAB", text);
        Assert.True(File.Exists(Path.Combine(outDir, "skab-t2.csv")), text);
    }
}
