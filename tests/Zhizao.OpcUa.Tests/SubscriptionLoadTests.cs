using System.Diagnostics;
using Zhizao.OpcUa.Client;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// Many monitored items from one node-opcua server. By default a short smoke run (500 items, checks that every item
/// reports); with ZHIZAO_OPCUA_BENCH=1 the benchmark of docs/bench/OPCUA.md (10,000 items at 100 ms sampling,
/// ZHIZAO_OPCUA_BENCH_ITEMS and ZHIZAO_OPCUA_BENCH_SECONDS override), printing our process CPU time per wall second.
/// </summary>
public sealed class SubscriptionLoadTests
{
    [NodeFact]
    public async Task Many_monitored_items_all_report_and_cpu_is_measured()
    {
        bool bench = Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH") == "1";
        int items = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_ITEMS"), out int n) ? n : bench ? 10_000 : 500;
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_SECONDS"), out int s) ? s : bench ? 30 : 3;
        await using var server = await NodeOpcUaServer.StartAsync(benchItems: items);
        await using var client = new OpcUaClient(new OpcUaClientOptions
        {
            EndpointUrl = server.EndpointUrl,
            RequestTimeout = TimeSpan.FromSeconds(60),
            ConnectTimeout = TimeSpan.FromSeconds(30),
        });
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
            new MonitoredItemOptions(new NodeId(1, "Bench." + i)) { SamplingInterval = TimeSpan.FromMilliseconds(100), QueueSize = 1 }));
        Assert.All(created, i => Assert.True(i.Status.IsGood, $"{i}: {i.Status}"));
        Volatile.Write(ref firstHandle, created[0].ClientHandle);
        // values that arrived before the handle was known are counted again below
        Array.Clear(seen);
        Volatile.Write(ref distinct, 0);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        while (Volatile.Read(ref distinct) < items)
            await Task.Delay(100, timeout.Token);

        var self = Process.GetCurrentProcess();
        var node = server.Process;
        self.Refresh();
        node.Refresh();
        var cpu0 = self.TotalProcessorTime;
        var nodeCpu0 = node.TotalProcessorTime;
        long count0 = Interlocked.Read(ref count);
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        wall.Stop();
        self.Refresh();
        node.Refresh();
        double ours = (self.TotalProcessorTime - cpu0).TotalSeconds / wall.Elapsed.TotalSeconds;
        double theirs = (node.TotalProcessorTime - nodeCpu0).TotalSeconds / wall.Elapsed.TotalSeconds;
        double rate = (Interlocked.Read(ref count) - count0) / wall.Elapsed.TotalSeconds;
        Console.WriteLine($"opcua-bench: {items} items, {seconds} s: {rate:0} values/s received; client CPU {ours * 100:0.0}% of one core ({(rate > 0 ? ours / rate * 1e6 : 0):0.0} µs per value); node-opcua server CPU {theirs * 100:0.0}%; lost messages {sub.LostMessageCount}, republished {sub.RepublishedCount}; {Environment.ProcessorCount} cores");
        Assert.True(rate > 0);
        Assert.Equal(0, client.ReconnectCount);
    }

    /// <summary>
    /// The client's own cost at the full rate node-opcua cannot deliver here: an in-process fake answers every Publish
    /// with one value for each item every 100 ms (10,000 items: 100,000 values/s with ZHIZAO_OPCUA_BENCH=1). The CPU
    /// figure includes the fake's socket writes of the pre-encoded message, so it is an upper bound for the client.
    /// </summary>
    [Fact]
    public async Task Client_decodes_and_dispatches_a_full_rate_stream_from_an_in_process_peer()
    {
        bool bench = Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH") == "1";
        int items = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_ITEMS"), out int n) ? n : bench ? 10_000 : 1000;
        int seconds = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_OPCUA_BENCH_SECONDS"), out int s) ? s : bench ? 20 : 2;
        await using var server = new FakeUaServer { FloodItems = items };
        await using var client = new OpcUaClient(new OpcUaClientOptions { EndpointUrl = server.EndpointUrl, RequestTimeout = TimeSpan.FromSeconds(60), PublishRequestCount = 2 });
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        long count = 0;
        sub.DataChanged += (_, _) => Interlocked.Increment(ref count);
        await sub.AddMonitoredItemsAsync(Enumerable.Range(0, items).Select(i => new MonitoredItemOptions(new NodeId(1, "Bench." + i))));
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (Interlocked.Read(ref count) < items * 3L)
            await Task.Delay(50, timeout.Token);
        var self = Process.GetCurrentProcess();
        self.Refresh();
        var cpu0 = self.TotalProcessorTime;
        long count0 = Interlocked.Read(ref count);
        var wall = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(seconds));
        wall.Stop();
        self.Refresh();
        double cpu = (self.TotalProcessorTime - cpu0).TotalSeconds / wall.Elapsed.TotalSeconds;
        double rate = (Interlocked.Read(ref count) - count0) / wall.Elapsed.TotalSeconds;
        Console.WriteLine($"opcua-capacity: {items} items, {seconds} s: {rate:0} values/s; client+fake CPU {cpu * 100:0.0}% of one core ({cpu / rate * 1e6:0.00} µs per value); lost {sub.LostMessageCount}, republished {sub.RepublishedCount}");
        Assert.True(rate > 0, $"{rate:0} values/s for {items} items");
        Assert.Equal(0, sub.LostMessageCount);
    }
}
