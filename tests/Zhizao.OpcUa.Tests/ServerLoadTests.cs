using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Zhizao.OpcUa.Client;
using Zhizao.OpcUa.Server;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// Many monitored items from OUR server. By default an in-process smoke run (500 items, 3 s) that checks every item
/// reports at the full rate. With ZHIZAO_OPCUA_BENCH=1 the benchmark of docs/bench/OPCUA.md: the server runs in its
/// own process (this test assembly again, through <c>dotnet test</c>, test <see cref="Bench_server_process"/>) with
/// 10,000 Double variables all changing every 100 ms; our client subscribes to all of them at 100 ms; the client's
/// and the server's CPU are measured separately over the same window.
/// </summary>
public sealed class ServerLoadTests
{
    private const string ServeEnv = "ZHIZAO_OPCUA_SERVE";

    /// <summary>Creates Bench.0 … Bench.{n-1} under Objects/Bench and changes them all every 100 ms until cancelled.</summary>
    private static async Task RunBenchVariablesAsync(OpcUaServer server, int items, CancellationToken ct)
    {
        var folder = server.AddressSpace.AddFolder(server.AddressSpace.Objects, "Bench");
        var variables = Enumerable.Range(0, items).Select(i => server.AddressSpace.AddVariable(folder, "Bench." + i, BuiltInType.Double)).ToArray();
        using var timer = new PeriodicTimer(TimeSpan.FromMilliseconds(100));
        long tick = 0;
        do
        {
            var now = DateTime.UtcNow;
            tick++;
            for (int i = 0; i < variables.Length; i++)
                variables[i].Set(new Variant(tick + (i / 1000.0)), now);
        }
        while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
    }

    private static NodeId BenchNode(int i) => new(1, "Bench/Bench." + i);

    [Fact]
    public async Task Many_monitored_items_from_our_server_all_report()
    {
        if (Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH") == "1")
        {
            await BenchmarkAsync();
            return;
        }
        const int items = 500;
        await using var server = new OpcUaServer(new OpcUaServerOptions { Port = 0 });
        using var stop = new CancellationTokenSource();
        var feed = Task.Run(() => RunBenchVariablesAsync(server, items, stop.Token));
        server.Start();
        await ServerTests.WaitForAsync(() => server.AddressSpace.Count > items);
        var (rate, _, client) = await SubscribeAndCountAsync(server.EndpointUrl, items, seconds: 3);
        await client.DisposeAsync();
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed);
        Assert.True(rate > items * 5, $"{rate:0} values/s for {items} items changing every 100 ms");
    }

    private static async Task<(double Rate, double ClientCpu, OpcUaClient Client)> SubscribeAndCountAsync(string url, int items, int seconds,
        Func<Task>? atStart = null, Func<Task>? atEnd = null)
    {
        var client = new OpcUaClient(new OpcUaClientOptions { EndpointUrl = url, RequestTimeout = TimeSpan.FromSeconds(60), ConnectTimeout = TimeSpan.FromSeconds(30) });
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 50, LifetimeCount = 500 });
        long count = 0;
        var seen = new bool[items];
        int distinct = 0;
        uint firstHandle = uint.MaxValue;
        sub.DataChanged += (_, e) =>
        {
            Interlocked.Increment(ref count);
            int index = (int)(e.Item.ClientHandle - Volatile.Read(ref firstHandle));
            if (index >= 0 && index < seen.Length && !seen[index])
            {
                seen[index] = true;
                Interlocked.Increment(ref distinct);
            }
        };
        var created = await sub.AddMonitoredItemsAsync(Enumerable.Range(0, items).Select(i =>
            new MonitoredItemOptions(BenchNode(i)) { SamplingInterval = TimeSpan.FromMilliseconds(100), QueueSize = 1 }));
        Assert.All(created, i => Assert.True(i.Status.IsGood, $"{i}: {i.Status}"));
        Volatile.Write(ref firstHandle, created[0].ClientHandle);
        Array.Clear(seen);
        Volatile.Write(ref distinct, 0);
        using (var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120)))
        {
            while (Volatile.Read(ref distinct) < items)
                await Task.Delay(100, timeout.Token);
        }
        await Task.Delay(1000); // past the start-up burst
        var self = Process.GetCurrentProcess();
        if (atStart is not null)
            await atStart();
        self.Refresh();
        var cpu0 = self.TotalProcessorTime;
        long count0 = Interlocked.Read(ref count);
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        wall.Stop();
        self.Refresh();
        double cpu = (self.TotalProcessorTime - cpu0).TotalSeconds / wall.Elapsed.TotalSeconds;
        double rate = (Interlocked.Read(ref count) - count0) / wall.Elapsed.TotalSeconds;
        if (atEnd is not null)
            await atEnd();
        Assert.Equal(0, sub.LostMessageCount);
        Assert.Equal(0, client.ReconnectCount);
        return (rate, cpu, client);
    }

    private static async Task BenchmarkAsync()
    {
        int items = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_ITEMS"), out int n) ? n : 10_000;
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_SECONDS"), out int s) ? s : 20;
        int port = NodeOpcUaServer.FreePort();
        string cpuFile = Path.Combine(Path.GetTempPath(), $"zhizao-opcua-server-cpu-{port}.txt");
        string dll = Path.Combine(AppContext.BaseDirectory, "Zhizao.OpcUa.Tests.dll");
        var psi = new ProcessStartInfo("dotnet", ["test", dll, "--filter", "FullyQualifiedName~Bench_server_process"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        psi.Environment[ServeEnv] = $"{port},{items},{seconds + 300},{cpuFile}";
        psi.Environment.Remove("ZHIZAO_OPCUA_BENCH");
        using var child = Process.Start(psi)!;
        _ = child.StandardOutput.ReadToEndAsync();
        _ = child.StandardError.ReadToEndAsync();
        try
        {
            var deadline = DateTime.UtcNow.AddSeconds(120);
            while (!await CanConnectAsync(port))
            {
                Assert.False(child.HasExited, "the server process ended before it listened");
                Assert.True(DateTime.UtcNow < deadline, "the server process did not listen within 120 s");
                await Task.Delay(200);
            }
            (DateTime T, double Cpu) start = default, end = default;
            var (rate, clientCpu, client) = await SubscribeAndCountAsync($"opc.tcp://127.0.0.1:{port}/zhizao", items, seconds,
                async () => start = await NextCpuSampleAsync(cpuFile),
                async () => end = await NextCpuSampleAsync(cpuFile));
            await client.DisposeAsync();
            double serverCpu = (end.Cpu - start.Cpu) / (end.T - start.T).TotalSeconds;
            Console.WriteLine($"opcua-server-bench: {items} items at 100 ms, {seconds} s: {rate:0} values/s received; client CPU {clientCpu * 100:0.0}% of one core " +
                $"({clientCpu / rate * 1e6:0.00} µs per value); our server process CPU {serverCpu * 100:0.0}% ({serverCpu / rate * 1e6:0.00} µs per value, " +
                $"including changing all {items} values every 100 ms); {Environment.ProcessorCount} cores");
            Assert.True(rate > items * 5, $"{rate:0} values/s");
        }
        finally
        {
            child.Kill(entireProcessTree: true);
            await child.WaitForExitAsync();
            File.Delete(cpuFile);
        }
    }

    /// <summary>Waits for the server process to append its next "utc-ticks cpu-seconds" line and returns it.</summary>
    private static async Task<(DateTime, double)> NextCpuSampleAsync(string file)
    {
        var after = DateTime.UtcNow;
        var deadline = after.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            string[] lines = File.Exists(file) ? await File.ReadAllLinesAsync(file) : [];
            if (lines.Length > 0 && lines[^1].Split(' ') is [var t, var c] && new DateTime(long.Parse(t, CultureInfo.InvariantCulture), DateTimeKind.Utc) > after)
                return (new DateTime(long.Parse(t, CultureInfo.InvariantCulture), DateTimeKind.Utc), double.Parse(c, CultureInfo.InvariantCulture));
            await Task.Delay(50);
        }
        throw new TimeoutException($"no CPU sample in {file}");
    }

    private static async Task<bool> CanConnectAsync(int port)
    {
        using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The benchmark's server process when ZHIZAO_OPCUA_SERVE=port,items,seconds,cpu-file is set (the benchmark
    /// starts it); otherwise a smoke run of the same code in-process (100 items, 2 s, a free port), checked below.</summary>
    [Fact]
    public async Task Bench_server_process()
    {
        string? serve = Environment.GetEnvironmentVariable(ServeEnv);
        bool smoke = serve is null;
        string smokeCpu = Path.Combine(Path.GetTempPath(), $"zhizao-opcua-serve-smoke-{Guid.NewGuid():N}.txt");
        string[] args = (serve ?? $"0,100,2,{smokeCpu}").Split(',');
        int port = int.Parse(args[0], CultureInfo.InvariantCulture), items = int.Parse(args[1], CultureInfo.InvariantCulture);
        int seconds = int.Parse(args[2], CultureInfo.InvariantCulture);
        string cpuFile = args[3];
        await using var server = new OpcUaServer(new OpcUaServerOptions { Port = port });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(seconds));
        var feed = Task.Run(() => RunBenchVariablesAsync(server, items, stop.Token));
        await ServerTests.WaitForAsync(() => server.AddressSpace.Count > items);
        server.Start();
        var self = Process.GetCurrentProcess();
        try
        {
            while (!stop.IsCancellationRequested)
            {
                self.Refresh();
                await File.AppendAllTextAsync(cpuFile, $"{DateTime.UtcNow.Ticks} {self.TotalProcessorTime.TotalSeconds.ToString("R", CultureInfo.InvariantCulture)}\n");
                await Task.Delay(500, stop.Token);
            }
        }
        catch (OperationCanceledException)
        {
        }
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => feed);
        if (smoke)
        {
            // the variables were served and the CPU samples the benchmark reads were written
            Assert.True(server.AddressSpace.Count > 100, $"{server.AddressSpace.Count} nodes");
            string[] lines = await File.ReadAllLinesAsync(cpuFile);
            Assert.True(lines.Length >= 2, $"{lines.Length} CPU samples in 2 s");
            File.Delete(cpuFile);
        }
    }
}
