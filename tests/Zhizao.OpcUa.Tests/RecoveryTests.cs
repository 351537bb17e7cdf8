using System.Collections.Concurrent;
using System.Diagnostics;
using Xunit.Abstractions;
using Zhizao.OpcUa.Client;

namespace Zhizao.OpcUa.Tests;

/// <summary>The client must never "work only once": it recovers from a dead server and from a cut connection on its own.</summary>
public sealed class RecoveryTests(ITestOutputHelper output)
{
    private static readonly NodeId Counter = new(1, "Plant.Counter");

    private static OpcUaClient NewClient(string url) => new(new OpcUaClientOptions
    {
        EndpointUrl = url,
        RequestTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(20),
        KeepAliveInterval = TimeSpan.FromSeconds(5),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
    });

    private static async Task<int> NextValueAsync(BlockingCollection<(int Value, bool History)> values, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        return values.Take(cts.Token).Value;
    }

    /// <summary>Waits until the subscription has delivered a live value greater than <paramref name="above"/>.</summary>
    private static async Task<int> LiveValueAboveAsync(BlockingCollection<(int Value, bool History)> values, int above, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (true)
        {
            var (v, history) = values.Take(cts.Token);
            if (!history && v > above)
                return v;
        }
    }

    [NodeFact]
    public async Task Server_killed_and_restarted_mid_subscription_the_client_recovers_twice_without_help()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var client = NewClient(server.EndpointUrl);
        var states = new ConcurrentQueue<ConnectionState>();
        client.StateChanged += (_, e) => states.Enqueue(e.State);
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 20 });
        var values = new BlockingCollection<(int, bool)>();
        sub.DataChanged += (_, e) => values.Add(((int)e.Value.Value.Value!, e.FromHistory));
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Counter) { SamplingInterval = TimeSpan.FromMilliseconds(100), QueueSize = 10 });
        int before = await LiveValueAboveAsync(values, 3, TimeSpan.FromSeconds(30));

        for (int round = 1; round <= 2; round++)
        {
            var sinceKill = Stopwatch.StartNew();
            await server.RestartAsync(); // SIGKILL, then a fresh process on the same port: its counter starts again at 0
            var sinceUp = Stopwatch.StartNew();
            while (values.TryTake(out _))
            {
            }
            // values flow again from the new server process without any call from us
            int after = await NextValueAsync(values, TimeSpan.FromSeconds(60));
            // issue 6's recovery figure (a goal, so printed for docs/bench/OPCUA.md, not asserted): server up → first value
            output.WriteLine($"restart {round}: first value {sinceUp.Elapsed.TotalSeconds:0.00} s after the new server listened, {sinceKill.Elapsed.TotalSeconds:0.00} s after the kill");
            Assert.True(after >= 0);
            await LiveValueAboveAsync(values, after, TimeSpan.FromSeconds(30));
            // at least once per restart (a stall of the loaded test machine may add a keep-alive reconnect)
            Assert.True(client.ReconnectCount >= round, $"{client.ReconnectCount} reconnects after {round} restarts");
            Assert.True(sub.RecreateCount >= round, $"{sub.RecreateCount} recreations after {round} restarts");
            Assert.Equal(ConnectionState.Connected, client.State);
        }
        Assert.Contains(ConnectionState.Reconnecting, states);
        Assert.True(before > 3);
        // the session is new and usable for plain calls too
        Assert.Equal(21.5, (await client.ReadValueAsync(new NodeId(1, "Plant.Temperature"))).Value.Value);
    }

    [NodeFact]
    public async Task Connection_cut_while_server_stays_up_reactivates_the_session_and_backfills_the_gap_from_history()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var proxy = new TcpProxy(server.Port);
        await using var client = NewClient($"opc.tcp://127.0.0.1:{proxy.Port}/UA/Zhizao");
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 20, LifetimeCount = 600 });
        var all = new ConcurrentQueue<(int Value, bool History)>();
        var values = new BlockingCollection<(int, bool)>();
        sub.DataChanged += (_, e) =>
        {
            var v = ((int)e.Value.Value.Value!, e.FromHistory);
            all.Enqueue(v);
            values.Add(v);
        };
        // queue size 5: most of what the server samples during a 2 s outage is lost unless history brings it back, and
        // the queue also overflows right after the reconnect while the client catches up (the Overflow bit then starts
        // another back-fill; found by CI). Sampling interval 0 = every change is reported (node-opcua: on each write)
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Counter) { SamplingInterval = TimeSpan.Zero, QueueSize = 5, BackfillFromHistory = true });
        int start = await LiveValueAboveAsync(values, -1, TimeSpan.FromSeconds(30));
        await LiveValueAboveAsync(values, start + 3, TimeSpan.FromSeconds(30));
        int checkFrom = all.Count - 1;

        for (int round = 1; round <= 2; round++)
        {
            proxy.Cut();
            await Task.Delay(TimeSpan.FromSeconds(2)); // an outage of ~20 counter steps
            proxy.Restore();
            int last = all.Last().Value;
            await LiveValueAboveAsync(values, last + 25, TimeSpan.FromSeconds(60));
            Assert.True(client.ReconnectCount >= round, $"{client.ReconnectCount} reconnects after {round} cuts");
        }
        Assert.True(client.SessionReactivatedCount >= 2, $"{client.SessionReactivatedCount} reactivations");
        Assert.Equal(0, sub.RecreateCount);
        Assert.True(client.BackfilledValueCount >= 10, $"{client.BackfilledValueCount} back-filled values");
        // every counter step from the first value to the last arrived exactly once, in order
        var seen = all.Skip(checkFrom).Select(v => v.Value).ToList();
        var expected = Enumerable.Range(seen[0], seen[^1] - seen[0] + 1).ToList();
        Assert.True(expected.SequenceEqual(seen),
            $"values not exactly once in order: {string.Join(" ", all.Skip(checkFrom).Select(v => v.History ? $"{v.Value}h" : $"{v.Value}"))}; " +
            $"back-filled {client.BackfilledValueCount}, back-fill failures {client.BackfillFailureCount} ({client.LastBackfillError}), republished {sub.RepublishedCount}, lost messages {sub.LostMessageCount}, reactivations {client.SessionReactivatedCount}");
        Assert.Contains(all, v => v.History);
    }

    [NodeFact]
    public async Task Under_SignAndEncrypt_with_a_user_name_a_cut_connection_reactivates_the_signed_session()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var proxy = new TcpProxy(server.Port);
        string pki = Directory.CreateTempSubdirectory("zhizao-opcua-secure-recovery-").FullName;
        try
        {
            await using var client = new OpcUaClient(new OpcUaClientOptions
            {
                EndpointUrl = $"opc.tcp://127.0.0.1:{proxy.Port}/UA/Zhizao",
                SecurityMode = MessageSecurityMode.SignAndEncrypt,
                SecurityPolicyUri = SecurityPolicies.Basic256Sha256,
                Identity = UserIdentity.WithUserName("operator", "s3cret!"),
                Certificates = new Security.CertificateStore(pki, "urn:zhizao:recovery") { AutoAcceptUntrusted = true },
                RequestTimeout = TimeSpan.FromSeconds(20),
                ConnectTimeout = TimeSpan.FromSeconds(20),
                KeepAliveInterval = TimeSpan.FromSeconds(5),
                MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
            });
            await client.ConnectAsync();
            var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 20 });
            var values = new BlockingCollection<(int, bool)>();
            sub.DataChanged += (_, e) => values.Add(((int)e.Value.Value.Value!, e.FromHistory));
            await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Counter) { SamplingInterval = TimeSpan.FromMilliseconds(100), QueueSize = 10 });
            int first = await LiveValueAboveAsync(values, -1, TimeSpan.FromSeconds(30));
            proxy.Cut();
            await Task.Delay(TimeSpan.FromSeconds(1));
            proxy.Restore();
            await LiveValueAboveAsync(values, first + 15, TimeSpan.FromSeconds(60));
            Assert.True(client.ReconnectCount >= 1);
            Assert.True(client.SessionReactivatedCount >= 1, $"{client.SessionReactivatedCount} reactivations");
            Assert.Equal(0, sub.RecreateCount);
            Assert.Equal(21.5, (await client.ReadValueAsync(new NodeId(1, "Plant.Temperature"))).Value.Value);
        }
        finally
        {
            Directory.Delete(pki, recursive: true);
        }
    }

    [NodeFact]
    public async Task After_an_outage_longer_than_the_keep_alive_limit_the_client_reconnects_once_and_stays()
    {
        await using var server = await NodeOpcUaServer.StartAsync();
        await using var proxy = new TcpProxy(server.Port);
        await using var client = new OpcUaClient(new OpcUaClientOptions
        {
            EndpointUrl = $"opc.tcp://127.0.0.1:{proxy.Port}/UA/Zhizao",
            RequestTimeout = TimeSpan.FromSeconds(20),
            KeepAliveInterval = TimeSpan.FromSeconds(3),
            MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
        });
        await client.ConnectAsync();
        // keep-alive limit: 2 x 100 ms x 10 + 3 s = 5 s; the outage below lasts 7 s
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 10, LifetimeCount = 600 });
        var values = new BlockingCollection<(int, bool)>();
        sub.DataChanged += (_, e) => values.Add(((int)e.Value.Value.Value!, e.FromHistory));
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Counter) { SamplingInterval = TimeSpan.FromMilliseconds(100), QueueSize = 10 });
        int first = await LiveValueAboveAsync(values, -1, TimeSpan.FromSeconds(30));
        proxy.Cut();
        await Task.Delay(TimeSpan.FromSeconds(7));
        proxy.Restore();
        int after = await LiveValueAboveAsync(values, first + 70, TimeSpan.FromSeconds(60));
        // values keep flowing for longer than the keep-alive limit without another reconnect
        await LiveValueAboveAsync(values, after + 60, TimeSpan.FromSeconds(60));
        Assert.Equal(1, client.ReconnectCount);
        Assert.Equal(ConnectionState.Connected, client.State);
    }
}
