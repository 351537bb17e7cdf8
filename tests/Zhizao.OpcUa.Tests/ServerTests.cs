using System.Collections.Concurrent;
using Zhizao.OpcUa.Client;
using Zhizao.OpcUa.Server;

namespace Zhizao.OpcUa.Tests;

/// <summary>Our OpcUaServer driven by our OpcUaClient: browse, read, write, subscribe, history, users, restart.</summary>
public sealed class ServerTests
{
    internal static readonly NodeId Power = new(1, "Plant/press-01/power_kw");
    internal static readonly NodeId Count = new(1, "Plant/press-01/part_count");
    internal static readonly NodeId Running = new(1, "Plant/press-01/running");
    internal static readonly NodeId Mode = new(1, "Plant/press-01/mode");
    internal static readonly NodeId Setpoint = new(1, "Plant/press-01/setpoint");

    /// <summary>A server on a free loopback port with Plant/press-01/{power_kw, part_count, running, mode, setpoint}.</summary>
    internal static OpcUaServer NewServer(int port = 0, IReadOnlyDictionary<string, string>? users = null, List<string>? log = null,
        Security.CertificateStore? certificates = null)
    {
        var server = new OpcUaServer(new OpcUaServerOptions
        {
            Port = port,
            Users = users,
            Certificates = certificates,
            Log = log is null ? null : m => { lock (log) log.Add(m); },
        });
        var space = server.AddressSpace;
        var plant = space.AddFolder(space.Objects, "Plant");
        var press = space.AddObject(plant, "press-01");
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        space.AddVariable(press, "power_kw", BuiltInType.Double, historyCapacity: 1000).Set(new Variant(12.5), t0);
        space.AddVariable(press, "part_count", BuiltInType.Int64, historyCapacity: 1000).Set(new Variant(7L), t0);
        space.AddVariable(press, "running", BuiltInType.Boolean).Set(new Variant(true), t0);
        space.AddVariable(press, "mode", BuiltInType.String).Set(new Variant("auto"), t0);
        space.AddVariable(press, "setpoint", BuiltInType.Double, writable: true).Set(new Variant(1.0), t0);
        server.Start();
        return server;
    }

    internal static OpcUaClient NewClient(string url, UserIdentity? identity = null) => new(new OpcUaClientOptions
    {
        EndpointUrl = url,
        Identity = identity ?? UserIdentity.Anonymous,
        RequestTimeout = TimeSpan.FromSeconds(20),
        ConnectTimeout = TimeSpan.FromSeconds(20),
        KeepAliveInterval = TimeSpan.FromSeconds(5),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
    });

    private static UaVariable Var(OpcUaServer server, NodeId id) => (UaVariable)server.AddressSpace.Find(id)!;

    [Fact]
    public async Task Listens_on_loopback_and_offers_one_None_endpoint()
    {
        await using var server = NewServer();
        Assert.StartsWith("opc.tcp://127.0.0.1:", server.EndpointUrl);
        var endpoints = await OpcUaClient.GetEndpointsAsync(server.EndpointUrl);
        var e = Assert.Single(endpoints);
        Assert.Equal(SecurityPolicies.None, e.SecurityPolicyUri);
        Assert.Equal(MessageSecurityMode.None, e.SecurityMode);
        Assert.Contains(e.UserIdentityTokens, t => t.TokenType == UserTokenType.Anonymous);
    }

    [Fact]
    public async Task Browse_translate_and_read_the_plant()
    {
        await using var server = NewServer();
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var objects = await client.BrowseAllAsync(ObjectIds.ObjectsFolder);
        Assert.Contains(objects, r => r.BrowseName.Name == "Plant" && r.NodeClass == NodeClass.Object);
        Assert.Contains(objects, r => r.BrowseName.Name == "Server");
        var machines = await client.BrowseAllAsync(new NodeId(1, "Plant"));
        Assert.Equal("press-01", Assert.Single(machines).BrowseName.Name);
        var tags = await client.BrowseAllAsync(new NodeId(1, "Plant/press-01"), maxReferencesPerCall: 2); // three pages through BrowseNext
        Assert.Equal(["mode", "part_count", "power_kw", "running", "setpoint"], tags.Select(t => t.BrowseName.Name!).Order());
        Assert.All(tags, t => Assert.Equal(NodeClass.Variable, t.NodeClass));
        var up = await client.BrowseAllAsync(Power, BrowseDirection.Inverse);
        Assert.Equal(new NodeId(1, "Plant/press-01"), Assert.Single(up).NodeId.NodeId);

        var id = await client.TranslateAsync(ObjectIds.ObjectsFolder, [new QualifiedName(1, "Plant"), new QualifiedName(1, "press-01"), new QualifiedName(1, "power_kw")]);
        Assert.Equal(Power, id);
        var missing = await Assert.ThrowsAsync<OpcUaServiceException>(() => client.TranslateAsync(ObjectIds.ObjectsFolder, [new QualifiedName(1, "Nope")]));
        Assert.Equal(0x806F0000u, missing.Status.Kind); // BadNoMatch

        var values = await client.ReadAsync([
            new ReadValueId { NodeId = Power }, new ReadValueId { NodeId = Count }, new ReadValueId { NodeId = Running }, new ReadValueId { NodeId = Mode },
            new ReadValueId { NodeId = Power, AttributeId = Attributes.DataType }, new ReadValueId { NodeId = Power, AttributeId = Attributes.BrowseName },
            new ReadValueId { NodeId = new NodeId(1, "Plant/none") }, new ReadValueId { NodeId = Power, AttributeId = 999 },
            new ReadValueId { NodeId = ObjectIds.NamespaceArray }, new ReadValueId { NodeId = Power, AttributeId = Attributes.Historizing },
        ]);
        Assert.Equal(12.5, values[0].Value.Value);
        Assert.Equal(new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc), values[0].SourceTimestamp);
        Assert.Equal(7L, values[1].Value.Value);
        Assert.Equal(true, values[2].Value.Value);
        Assert.Equal("auto", values[3].Value.Value);
        Assert.Equal(new NodeId(0, 11u), values[4].Value.Value); // Double
        Assert.Equal(new QualifiedName(1, "power_kw"), values[5].Value.Value);
        Assert.Equal(StatusCodes.BadNodeIdUnknown, values[6].Status);
        Assert.Equal(StatusCodes.BadAttributeIdInvalid, values[7].Status);
        Assert.Equal(new[] { "http://opcfoundation.org/UA/", "urn:zhizao:server" }, (string[])values[8].Value.Value!);
        Assert.Equal(true, values[9].Value.Value);
    }

    [Fact]
    public async Task Write_checks_access_and_type()
    {
        await using var server = NewServer();
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var written = new List<DataValue>();
        Var(server, Setpoint).WrittenByClient += (_, v) => { lock (written) written.Add(v); };
        Assert.Equal(StatusCodes.Good, await client.WriteValueAsync(Setpoint, new Variant(42.5)));
        Assert.Equal(42.5, (await client.ReadValueAsync(Setpoint)).Value.Value);
        lock (written)
            Assert.Equal(42.5, Assert.Single(written).Value.Value);
        Assert.Equal(StatusCodes.BadNotWritable, await client.WriteValueAsync(Power, new Variant(1.0)));
        Assert.Equal(StatusCodes.BadTypeMismatch, await client.WriteValueAsync(Setpoint, new Variant("high")));
        Assert.Equal(StatusCodes.BadNodeIdUnknown, await client.WriteValueAsync(new NodeId(1, "x"), new Variant(1.0)));
        Assert.Equal(12.5, (await client.ReadValueAsync(Power)).Value.Value);
    }

    [Fact]
    public async Task Subscription_delivers_changes_with_source_timestamps_and_honours_the_deadband()
    {
        await using var server = NewServer();
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        var power = new BlockingCollection<DataValue>();
        var count = new BlockingCollection<DataValue>();
        sub.DataChanged += (_, e) => (e.Item.NodeId == Power ? power : count).Add(e.Value);
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Power) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 100 });
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Count) { SamplingInterval = TimeSpan.FromMilliseconds(50), AbsoluteDeadband = 5, QueueSize = 100 });
        Assert.Equal(12.5, Take(power).Value.Value); // the initial value
        Assert.Equal(7L, Take(count).Value.Value);

        var t = new DateTime(2026, 2, 1, 0, 0, 0, DateTimeKind.Utc);
        Var(server, Count).Set(new Variant(9L), t); // within the deadband of 5: not reported
        Var(server, Power).Set(new Variant(13.0), t);
        var v = Take(power);
        Assert.Equal(13.0, v.Value.Value);
        Assert.Equal(t, v.SourceTimestamp);
        Var(server, Count).Set(new Variant(20L), t.AddSeconds(1)); // 13 from the last reported 7
        var c = Take(count);
        Assert.Equal(20L, c.Value.Value);
        Assert.Equal(t.AddSeconds(1), c.SourceTimestamp);
        Assert.Empty(count);
        Assert.True(server.NotificationCount >= 4);
    }

    [Fact]
    public async Task Keep_alives_flow_while_nothing_changes()
    {
        await using var server = NewServer();
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(50), KeepAliveCount = 2 });
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Mode));
        await WaitForAsync(() => sub.KeepAliveCount >= 3);
        Assert.Equal(ConnectionState.Connected, client.State);
        await sub.DeleteAsync();
        Assert.Equal(0, server.MonitoredItemCount);
    }

    [Fact]
    public async Task History_read_raw_returns_the_bounded_history_through_continuation_points()
    {
        await using var server = NewServer();
        var power = Var(server, Power);
        var t0 = new DateTime(2026, 3, 1, 0, 0, 0, DateTimeKind.Utc);
        for (int i = 0; i < 1200; i++) // capacity 1000: the first 201 (with the initial value) fall out
            power.Set(new Variant((double)i), t0.AddSeconds(i));
        Assert.Equal(1000, power.HistoryCount);
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var all = await client.HistoryReadRawAsync(Power, t0, t0.AddHours(1), maxValues: 64);
        Assert.Equal(Enumerable.Range(200, 1000).Select(i => (double)i), all.Select(v => (double)v.Value.Value!));
        Assert.Equal(t0.AddSeconds(200), all[0].SourceTimestamp);
        var window = await client.HistoryReadRawAsync(Power, t0.AddSeconds(500), t0.AddSeconds(509));
        Assert.Equal(Enumerable.Range(500, 10).Select(i => (double)i), window.Select(v => (double)v.Value.Value!));
        var backward = await client.HistoryReadRawAsync(Power, t0.AddSeconds(509), t0.AddSeconds(500), maxValues: 3);
        Assert.Equal(Enumerable.Range(500, 10).Reverse().Select(i => (double)i), backward.Select(v => (double)v.Value.Value!));
        var e = await Assert.ThrowsAsync<OpcUaServiceException>(() => client.HistoryReadRawAsync(Mode, t0, t0.AddHours(1)));
        Assert.Equal(StatusCodes.BadHistoryOperationUnsupported, e.Status);
    }

    [Fact]
    public async Task User_name_is_checked_and_anonymous_still_works()
    {
        var log = new List<string>();
        await using var server = NewServer(users: new Dictionary<string, string> { ["operator"] = "s3cret-pass" }, log: log);
        await using (var good = NewClient(server.EndpointUrl, UserIdentity.WithUserName("operator", "s3cret-pass")))
        {
            await good.ConnectAsync();
            Assert.Equal(12.5, (await good.ReadValueAsync(Power)).Value.Value);
        }
        await using (var bad = NewClient(server.EndpointUrl, UserIdentity.WithUserName("operator", "wrong")))
        {
            var e = await Assert.ThrowsAnyAsync<OpcUaException>(() => bad.ConnectAsync());
            Assert.Equal(StatusCodes.BadUserAccessDenied, e.Status);
        }
        await using var anonymous = NewClient(server.EndpointUrl);
        await anonymous.ConnectAsync();
        lock (log)
        {
            Assert.Contains(log, l => l.Contains("'operator' refused", StringComparison.Ordinal));
            Assert.DoesNotContain(log, l => l.Contains("s3cret", StringComparison.Ordinal) || l.Contains("wrong", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task Client_recovers_after_the_server_restarts_and_back_fills_from_history()
    {
        int port = NodeOpcUaServer.FreePort();
        var server = NewServer(port);
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 5 });
        var values = new BlockingCollection<(double Value, bool History)>();
        sub.DataChanged += (_, e) => values.Add(((double)e.Value.Value.Value!, e.FromHistory));
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Power) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 100, BackfillFromHistory = true });
        Assert.Equal(12.5, Take(values).Value);
        var t0 = DateTime.UtcNow;
        Var(server, Power).Set(new Variant(100.0), t0);
        Assert.Equal(100.0, Take(values).Value);

        await server.DisposeAsync(); // the process's server goes away with its sessions and subscriptions
        await WaitForAsync(() => client.State != ConnectionState.Connected);
        server = NewServer(port);
        try
        {
            var power = Var(server, Power);
            power.Set(new Variant(101.0), t0.AddMilliseconds(10)); // in the gap: only history has it
            power.Set(new Variant(102.0), t0.AddMilliseconds(20));
            await WaitForAsync(() => client.State == ConnectionState.Connected && sub.RecreateCount >= 1);
            var seen = new List<(double Value, bool History)>();
            while (!seen.Any(s => s.Value == 103.0))
            {
                if (seen.Any(s => s.Value == 102.0))
                    power.Set(new Variant(103.0), DateTime.UtcNow);
                seen.Add(Take(values));
            }
            Assert.Contains((101.0, true), seen);
            Assert.Contains((102.0, true), seen);
            Assert.Contains((103.0, false), seen);
        }
        finally
        {
            await server.DisposeAsync();
        }
    }

    [Fact]
    public async Task Closed_session_and_deleted_subscription_free_their_state()
    {
        await using var server = NewServer();
        var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        await sub.AddMonitoredItemsAsync([new MonitoredItemOptions(Power), new MonitoredItemOptions(Count), new MonitoredItemOptions(new NodeId(1, "nope"))]);
        Assert.Equal(2, server.MonitoredItemCount);
        Assert.Equal(StatusCodes.BadNodeIdUnknown, sub.Items.Single(i => i.NodeId == new NodeId(1, "nope")).Status);
        Assert.Equal(1, server.SessionCount);
        await client.DisposeAsync(); // CloseSession
        await WaitForAsync(() => server.SessionCount == 0);
        Assert.Equal(0, server.MonitoredItemCount);
    }

    [Fact]
    public async Task Renewed_token_is_used_after_the_response_and_the_old_one_still_accepted()
    {
        await using var server = NewServer();
        using var raw = await RawUaClient.ConnectAsync(server.Port);
        await raw.OpenAsync();
        uint first = raw.TokenId;
        uint renewed = await raw.RenewAsync();
        Assert.Equal(first + 1, renewed);
        var get = new GetEndpointsRequest();
        await raw.SendAsync(raw.Msg(get, requestId: 10)); // still the old token: accepted during the switch
        var (type, chunk) = await raw.ReceiveAsync();
        Assert.Equal(Transport.MessageTypes.Message, type);
        Assert.Equal(renewed, System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(chunk.AsSpan(12))); // the server answers with the new one
        raw.UseToken(renewed);
        await raw.SendAsync(raw.Msg(get, requestId: 11));
        (type, chunk) = await raw.ReceiveAsync();
        Assert.IsType<GetEndpointsResponse>(Transport.SecureChannel.DecodeMessage(chunk.AsMemory(24), OpcUaLimits.Default));
        Assert.Equal(0, server.BadInputCount);
    }

    [Fact]
    public async Task Requests_and_responses_larger_than_a_chunk_are_reassembled()
    {
        await using var server = NewServer();
        await using var client = NewClient(server.EndpointUrl);
        await client.ConnectAsync();
        // 6000 ReadValueIds (~170 KB request) and as many DataValues back: several chunks each way
        var nodes = Enumerable.Range(0, 6000).Select(i => new ReadValueId { NodeId = (i % 3) switch { 0 => Power, 1 => Mode, _ => new NodeId(1, "Plant/missing/" + i) } }).ToArray();
        var values = await client.ReadAsync(nodes);
        Assert.Equal(6000, values.Length);
        Assert.Equal(12.5, values[0].Value.Value);
        Assert.Equal("auto", values[4].Value.Value);
        Assert.Equal(StatusCodes.BadNodeIdUnknown, values[5999].Status);
        Assert.Equal(0, server.BadInputCount);
    }

    private static T Take<T>(BlockingCollection<T> values)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        return values.Take(cts.Token);
    }

    internal static async Task WaitForAsync(Func<bool> condition, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"condition not met within {seconds} s");
            await Task.Delay(20);
        }
    }
}
