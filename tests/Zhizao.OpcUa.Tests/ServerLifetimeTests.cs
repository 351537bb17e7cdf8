using Zhizao.OpcUa.Server;

namespace Zhizao.OpcUa.Tests;

/// <summary>State the server must let go of on its own: abandoned subscriptions and sessions; and bad address-space calls.</summary>
public sealed class ServerLifetimeTests
{
    private static async Task<(RawUaClient Raw, NodeId Token)> SessionAsync(OpcUaServer server)
    {
        var raw = await RawUaClient.ConnectAsync(server.Port);
        await raw.OpenAsync();
        await raw.SendAsync(raw.Msg(new CreateSessionRequest { ClientNonce = new byte[32], RequestedSessionTimeout = 1000, SessionName = "raw" }, requestId: 2));
        var created = Assert.IsType<CreateSessionResponse>(await NextAsync(raw));
        Assert.Equal(10_000, created.RevisedSessionTimeout); // revised up to the server's minimum
        await raw.SendAsync(raw.Msg(new ActivateSessionRequest
        {
            RequestHeader = new RequestHeader { AuthenticationToken = created.AuthenticationToken },
            UserIdentityToken = new ExtensionObject(new AnonymousIdentityToken { PolicyId = "anonymous" }),
        }, requestId: 3));
        Assert.IsType<ActivateSessionResponse>(await NextAsync(raw));
        return (raw, created.AuthenticationToken);
    }

    private static async Task<IEncodeable> NextAsync(RawUaClient raw)
    {
        var (type, chunk) = await raw.ReceiveAsync();
        Assert.Equal(Transport.MessageTypes.Message, type);
        return Transport.SecureChannel.DecodeMessage(chunk.AsMemory(24), OpcUaLimits.Default);
    }

    [Fact]
    public async Task Subscription_without_Publish_requests_expires_after_its_lifetime()
    {
        var log = new List<string>();
        await using var server = ServerTests.NewServer(log: log);
        var (raw, token) = await SessionAsync(server);
        using (raw)
        {
            await raw.SendAsync(raw.Msg(new CreateSubscriptionRequest
            {
                RequestHeader = new RequestHeader { AuthenticationToken = token },
                RequestedPublishingInterval = 50,
                RequestedMaxKeepAliveCount = 1,
                RequestedLifetimeCount = 3,
            }, requestId: 4));
            var sub = Assert.IsType<CreateSubscriptionResponse>(await NextAsync(raw));
            Assert.Equal(3u, sub.RevisedLifetimeCount);
            await raw.SendAsync(raw.Msg(new CreateMonitoredItemsRequest
            {
                RequestHeader = new RequestHeader { AuthenticationToken = token },
                SubscriptionId = sub.SubscriptionId,
                ItemsToCreate = [new MonitoredItemCreateRequest { ItemToMonitor = new ReadValueId { NodeId = ServerTests.Power }, ClientHandle = 1, SamplingInterval = 50, QueueSize = 1 }],
            }, requestId: 5));
            Assert.IsType<CreateMonitoredItemsResponse>(await NextAsync(raw));
            Assert.Equal(1, server.MonitoredItemCount);
            // no Publish request ever comes: three publishing intervals later the subscription is gone
            await ServerTests.WaitForAsync(() => server.MonitoredItemCount == 0);
            lock (log)
                Assert.Contains(log, l => l.Contains($"subscription {sub.SubscriptionId} expired", StringComparison.Ordinal));
            await raw.SendAsync(raw.Msg(new PublishRequest { RequestHeader = new RequestHeader { AuthenticationToken = token } }, requestId: 6));
            var publish = Assert.IsType<PublishResponse>(await NextAsync(raw));
            Assert.Equal(StatusCodes.BadNoSubscription, publish.ResponseHeader.ServiceResult);
        }
    }

    [Fact]
    public async Task Session_left_without_a_channel_is_dropped_after_its_timeout()
    {
        var log = new List<string>();
        await using var server = ServerTests.NewServer(log: log);
        var (raw, _) = await SessionAsync(server);
        Assert.Equal(1, server.SessionCount);
        raw.Dispose(); // the connection goes away without CloseSession
        await ServerTests.WaitForAsync(() => server.ChannelCount == 0);
        Assert.Equal(1, server.SessionCount); // kept for a reconnect within the timeout...
        await ServerTests.WaitForAsync(() => server.SessionCount == 0, seconds: 60); // ...and dropped after it (10 s)
        lock (log)
            Assert.Contains(log, l => l.Contains("session 'raw' timed out", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Requests_without_an_activated_session_are_refused()
    {
        await using var server = ServerTests.NewServer();
        using var raw = await RawUaClient.ConnectAsync(server.Port);
        await raw.OpenAsync();
        await raw.SendAsync(raw.Msg(new CreateSessionRequest { ClientNonce = new byte[32], RequestedSessionTimeout = 60000 }, requestId: 2));
        var created = Assert.IsType<CreateSessionResponse>(await NextAsync(raw));
        var read = new ReadRequest { RequestHeader = new RequestHeader { AuthenticationToken = created.AuthenticationToken }, NodesToRead = [new ReadValueId { NodeId = ServerTests.Power }] };
        await raw.SendAsync(raw.Msg(read, requestId: 3));
        Assert.Equal(StatusCodes.BadSessionNotActivated, Assert.IsType<ServiceFault>(await NextAsync(raw)).ResponseHeader.ServiceResult);
        read.RequestHeader.AuthenticationToken = new NodeId(0, new byte[32]);
        await raw.SendAsync(raw.Msg(read, requestId: 4));
        Assert.Equal(StatusCodes.BadSessionIdInvalid, Assert.IsType<ServiceFault>(await NextAsync(raw)).ResponseHeader.ServiceResult);
    }

    [Fact]
    public async Task Bad_monitored_item_requests_get_per_item_errors()
    {
        await using var server = ServerTests.NewServer();
        var (raw, token) = await SessionAsync(server);
        using (raw)
        {
            await raw.SendAsync(raw.Msg(new CreateSubscriptionRequest { RequestHeader = new RequestHeader { AuthenticationToken = token }, RequestedPublishingInterval = 100 }, requestId: 4));
            var sub = Assert.IsType<CreateSubscriptionResponse>(await NextAsync(raw));
            MonitoredItemCreateRequest Item(NodeId node, ExtensionObject? filter = null, uint attribute = Attributes.Value) => new()
            {
                ItemToMonitor = new ReadValueId { NodeId = node, AttributeId = attribute },
                Filter = filter ?? ExtensionObject.Null,
            };
            await raw.SendAsync(raw.Msg(new CreateMonitoredItemsRequest
            {
                RequestHeader = new RequestHeader { AuthenticationToken = token },
                SubscriptionId = sub.SubscriptionId,
                ItemsToCreate =
                [
                    Item(new NodeId(1, "nope")),
                    Item(ServerTests.Power, attribute: Attributes.DisplayName),
                    Item(ServerTests.Mode, new ExtensionObject(new DataChangeFilter { DeadbandType = DeadbandType.Absolute, DeadbandValue = 1 })),
                    Item(ServerTests.Power, new ExtensionObject(new DataChangeFilter { DeadbandType = DeadbandType.Percent, DeadbandValue = 1 })),
                    Item(ServerTests.Power, new ExtensionObject(new DataChangeFilter { DeadbandType = DeadbandType.Absolute, DeadbandValue = -1 })),
                    Item(ServerTests.Power),
                ],
            }, requestId: 5));
            var results = Assert.IsType<CreateMonitoredItemsResponse>(await NextAsync(raw)).Results;
            Assert.Equal(
                [StatusCodes.BadNodeIdUnknown, StatusCodes.BadAttributeIdInvalid, new StatusCode(0x80450000), new StatusCode(0x80440000), StatusCodes.BadDeadbandFilterInvalid, StatusCodes.Good],
                results.Select(r => r.StatusCode));
            await raw.SendAsync(raw.Msg(new CreateMonitoredItemsRequest { RequestHeader = new RequestHeader { AuthenticationToken = token }, SubscriptionId = 999, ItemsToCreate = [Item(ServerTests.Power)] }, requestId: 6));
            Assert.Equal(StatusCodes.BadSubscriptionIdInvalid, Assert.IsType<ServiceFault>(await NextAsync(raw)).ResponseHeader.ServiceResult);
            Assert.Equal(0, server.BadInputCount);
        }
    }

    [Fact]
    public async Task Connections_beyond_MaxChannels_are_refused_with_a_log_line()
    {
        var log = new List<string>();
        await using var server = new OpcUaServer(new OpcUaServerOptions { Port = 0, MaxChannels = 1, Log = m => { lock (log) log.Add(m); } });
        server.Start();
        await using var first = ServerTests.NewClient(server.EndpointUrl);
        await first.ConnectAsync();
        using var second = await RawUaClient.ConnectAsync(server.Port);
        Assert.Equal(0u, (await second.ReceiveAsync()).Type); // closed at once
        lock (log)
            Assert.Contains(log, l => l.Contains("(MaxChannels)", StringComparison.Ordinal));
        Assert.True((await first.ReadValueAsync(ObjectIds.ServerStatusState)).Status.IsGood);
    }

    [Fact]
    public void Address_space_rejects_bad_names_types_and_capacities()
    {
        var space = new AddressSpace();
        var folder = space.AddFolder(space.Objects, "Plant");
        Assert.Same(folder, space.AddFolder(space.Objects, "Plant"));
        Assert.Throws<ArgumentException>(() => space.AddObject(folder, "a/b"));
        Assert.Throws<ArgumentException>(() => space.AddVariable(folder, "", BuiltInType.Double));
        Assert.Throws<ArgumentOutOfRangeException>(() => space.AddVariable(folder, "x", BuiltInType.Double, historyCapacity: -1));
        Assert.Throws<ArgumentOutOfRangeException>(() => space.AddVariable(folder, "x", BuiltInType.Null));
        var v = space.AddVariable(folder, "x", BuiltInType.Double);
        Assert.Throws<ArgumentException>(() => space.AddObject(folder, "x")); // a variable already has that name
        var e = Assert.Throws<ArgumentException>(() => v.Set(new Variant("text"), DateTime.UtcNow));
        Assert.Contains("ns=1;s=Plant/x holds Double, not String", e.Message);
        Assert.Equal(StatusCodes.BadWaitingForInitialData, v.Value.Status);
    }
}
