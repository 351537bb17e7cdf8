using System.Collections.Concurrent;
using Zhizao.OpcUa.Client;
using Zhizao.OpcUa.Security;

namespace Zhizao.OpcUa.Tests;

/// <summary>Against node-opcua (npm), an OPC UA server nobody here wrote.</summary>
[Collection("node-opcua")]
public sealed class NodeOpcUaInteropTests(NodeServerFixture fixture) : IAsyncLifetime
{
    private readonly List<OpcUaClient> _clients = [];
    private readonly string _pki = Directory.CreateTempSubdirectory("zhizao-opcua-client-").FullName;
    private NodeOpcUaServer Server => fixture.Server!;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        foreach (var c in _clients)
            await c.DisposeAsync();
        Directory.Delete(_pki, recursive: true);
    }

    private static NodeId Plant(string name) => new(1, "Plant." + name);

    private async Task<OpcUaClient> ConnectAsync(Func<OpcUaClientOptions, OpcUaClientOptions>? configure = null)
    {
        var options = new OpcUaClientOptions
        {
            EndpointUrl = Server.EndpointUrl,
            Certificates = new CertificateStore(_pki, "urn:zhizao:test-client") { AutoAcceptUntrusted = true },
            RequestTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromSeconds(30),
        };
        var client = new OpcUaClient(configure?.Invoke(options) ?? options);
        _clients.Add(client);
        await client.ConnectAsync();
        return client;
    }

    [NodeFact]
    public async Task GetEndpoints_lists_none_and_basic256sha256_endpoints()
    {
        var endpoints = await OpcUaClient.GetEndpointsAsync(Server.EndpointUrl);
        Assert.Contains(endpoints, e => e.SecurityMode == MessageSecurityMode.None && e.SecurityPolicyUri == SecurityPolicies.None);
        Assert.Contains(endpoints, e => e.SecurityMode == MessageSecurityMode.SignAndEncrypt && e.SecurityPolicyUri == SecurityPolicies.Basic256Sha256);
        Assert.All(endpoints, e => Assert.NotEmpty(e.UserIdentityTokens));
        Assert.All(endpoints, e => Assert.NotNull(e.ServerCertificate));
        // on its None endpoint node-opcua wants user name passwords encrypted with Basic256Sha256: the user name
        // tests below exercise that path
        var none = endpoints.First(e => e.SecurityMode == MessageSecurityMode.None);
        Assert.Equal(SecurityPolicies.Basic256Sha256, none.UserIdentityTokens.First(p => p.TokenType == UserTokenType.UserName).SecurityPolicyUri);
    }

    [NodeFact]
    public async Task Reads_scalars_arrays_and_strings_of_each_type()
    {
        var client = await ConnectAsync();
        var values = await client.ReadAsync([
            new ReadValueId(Plant("Temperature")), new ReadValueId(Plant("Count")), new ReadValueId(Plant("Running")),
            new ReadValueId(Plant("Name")), new ReadValueId(Plant("Vector")), new ReadValueId(Plant("Codes")),
            new ReadValueId(Plant("Temperature"), Attributes.DisplayName), new ReadValueId(new NodeId(1, "Plant.Missing")),
        ]);
        Assert.Equal(21.5, values[0].Value.Value);
        Assert.Equal(42, values[1].Value.Value);
        Assert.Equal(true, values[2].Value.Value);
        Assert.Equal("Line 1 — 智造", values[3].Value.Value);
        Assert.Equal(new[] { 1.5, 2.5, 3.5 }, (double[])values[4].Value.Value!);
        Assert.Equal(new[] { 10, 20, 30 }, (int[])values[5].Value.Value!);
        Assert.Equal("Temperature", ((LocalizedText)values[6].Value.Value!).Text);
        Assert.Equal(StatusCodes.BadNodeIdUnknownCode, values[7].Status.Kind);
        Assert.All(values.Take(6), v => Assert.True(v.Status.IsGood));
        Assert.NotNull(values[0].ServerTimestamp);
    }

    [NodeFact]
    public async Task Browse_follows_continuation_points_with_BrowseNext()
    {
        var client = await ConnectAsync();
        var objects = await client.BrowseAllAsync(ObjectIds.ObjectsFolder);
        Assert.Contains(objects, r => r.BrowseName.Name == "Plant" && r.NodeClass == NodeClass.Object);
        var tags = await client.BrowseAllAsync(new NodeId(1, "Plant.Tags"), maxReferencesPerCall: 7);
        var names = tags.Where(r => r.NodeClass == NodeClass.Variable).Select(r => r.BrowseName.Name).ToList();
        Assert.Equal(Enumerable.Range(0, 25).Select(i => $"Tag{i:00}"), names.Order());
    }

    [NodeFact]
    public async Task TranslateBrowsePaths_finds_a_node_by_browse_names()
    {
        var client = await ConnectAsync();
        var id = await client.TranslateAsync(ObjectIds.ObjectsFolder, [new QualifiedName(1, "Plant"), new QualifiedName(1, "Temperature")]);
        Assert.Equal(Plant("Temperature"), id);
        var missing = await Assert.ThrowsAsync<OpcUaServiceException>(() =>
            client.TranslateAsync(ObjectIds.ObjectsFolder, [new QualifiedName(1, "Plant"), new QualifiedName(1, "Nope")]));
        Assert.True(missing.Status.IsBad);
    }

    [NodeFact]
    public async Task Write_changes_a_writable_value_and_is_refused_on_a_read_only_one()
    {
        var client = await ConnectAsync();
        Assert.True((await client.WriteValueAsync(Plant("Setpoint"), new Variant(73.25))).IsGood);
        Assert.Equal(73.25, (await client.ReadValueAsync(Plant("Setpoint"))).Value.Value);
        var refused = await client.WriteValueAsync(Plant("Temperature"), new Variant(99.0));
        Assert.True(refused.IsBad, refused.ToString());
        var wrongType = await client.WriteValueAsync(Plant("Setpoint"), new Variant("text"));
        Assert.True(wrongType.IsBad, wrongType.ToString());
    }

    [NodeFact]
    public async Task Subscription_receives_changes_of_a_changing_value()
    {
        var client = await ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        var received = new BlockingCollection<int>();
        sub.DataChanged += (_, e) => received.Add((int)e.Value.Value.Value!);
        var item = await sub.AddMonitoredItemAsync(new MonitoredItemOptions(Plant("Counter")) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 10 });
        Assert.True(item.Status.IsGood, item.Status.ToString());
        var values = new List<int>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (values.Count < 10)
            values.Add(received.Take(timeout.Token));
        Assert.True(values.Zip(values.Skip(1)).All(p => p.Second > p.First), string.Join(",", values));
        Assert.True(sub.LastSequenceNumber > 0);
        Assert.Equal(0, sub.LostMessageCount);
        await sub.DeleteAsync();
        Assert.Empty(client.Subscriptions);
    }

    [NodeFact]
    public async Task Absolute_deadband_suppresses_small_changes()
    {
        var client = await ConnectAsync();
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        var all = new ConcurrentQueue<double>();
        var filtered = new ConcurrentQueue<double>();
        sub.DataChanged += (_, e) => (e.Item.Options.AbsoluteDeadband is null ? all : filtered).Enqueue((double)e.Value.Value.Value!);
        await sub.AddMonitoredItemsAsync([
            new MonitoredItemOptions(Plant("Ramp")) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 100 },
            new MonitoredItemOptions(Plant("Ramp")) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 100, AbsoluteDeadband = 0.45 },
        ]);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (all.Count < 40)
            await Task.Delay(50, timeout.Token);
        var f = filtered.ToArray();
        Assert.True(f.Length >= 2, $"deadband item got {f.Length} values");
        Assert.True(f.Length < all.Count / 2, $"deadband item got {f.Length} values, unfiltered {all.Count}");
        // consecutive reported values differ by more than the deadband (the ramp wraps from 9.9 to 0)
        Assert.All(f.Zip(f.Skip(1)), p => Assert.True(Math.Abs(p.Second - p.First) > 0.45, $"{p.First} -> {p.Second}"));
    }

    [NodeFact]
    public async Task HistoryRead_raw_returns_the_counter_history()
    {
        var client = await ConnectAsync();
        var values = await client.HistoryReadRawAsync(Plant("Counter"), DateTime.UtcNow.AddMinutes(-10), DateTime.UtcNow);
        Assert.True(values.Count > 5, $"{values.Count} values");
        var ints = values.Select(v => (int)v.Value.Value!).ToList();
        Assert.Equal(ints.Order(), ints);
    }

    [NodeFact]
    public async Task Username_identity_is_accepted_with_the_right_password_and_refused_with_a_wrong_one()
    {
        var ok = await ConnectAsync(o => o with { Identity = UserIdentity.WithUserName("operator", "s3cret!") });
        Assert.Equal(21.5, (await ok.ReadValueAsync(Plant("Temperature"))).Value.Value);
        var bad = new OpcUaClient(new OpcUaClientOptions
        {
            EndpointUrl = Server.EndpointUrl,
            Identity = UserIdentity.WithUserName("operator", "wrong"),
            Certificates = new CertificateStore(_pki, "urn:zhizao:test-client"),
        });
        _clients.Add(bad);
        var e = await Assert.ThrowsAsync<OpcUaServiceException>(() => bad.ConnectAsync());
        Assert.Equal("ActivateSession", e.Service);
        Assert.DoesNotContain("wrong", e.Message);
    }

    [NodeFact]
    public async Task Basic256Sha256_Sign_reads_and_writes()
    {
        var client = await ConnectAsync(o => o with { SecurityMode = MessageSecurityMode.Sign, SecurityPolicyUri = SecurityPolicies.Basic256Sha256 });
        Assert.Equal(21.5, (await client.ReadValueAsync(Plant("Temperature"))).Value.Value);
        Assert.True((await client.WriteValueAsync(Plant("Setpoint"), new Variant(12.5))).IsGood);
    }

    [NodeFact]
    public async Task Basic256Sha256_SignAndEncrypt_with_username_reads_large_messages_in_chunks()
    {
        var client = await ConnectAsync(o => o with
        {
            SecurityMode = MessageSecurityMode.SignAndEncrypt,
            SecurityPolicyUri = SecurityPolicies.Basic256Sha256,
            Identity = UserIdentity.WithUserName("operator", "s3cret!"),
        });
        Assert.Equal("Line 1 — 智造", (await client.ReadValueAsync(Plant("Name"))).Value.Value);
        // 3000 reads: request and response span several chunks each
        var many = Enumerable.Range(0, 3000).Select(i => new ReadValueId(Plant(i % 2 == 0 ? "Temperature" : "Name"))).ToList();
        var values = await client.ReadAsync(many);
        Assert.Equal(3000, values.Length);
        Assert.All(values, v => Assert.True(v.Status.IsGood));
    }

    [NodeFact]
    public async Task An_untrusted_server_certificate_is_refused_naming_its_thumbprint()
    {
        var store = new CertificateStore(Path.Combine(_pki, "strict"), "urn:zhizao:strict-client");
        var client = new OpcUaClient(new OpcUaClientOptions
        {
            EndpointUrl = Server.EndpointUrl,
            SecurityMode = MessageSecurityMode.SignAndEncrypt,
            SecurityPolicyUri = SecurityPolicies.Basic256Sha256,
            Certificates = store,
        });
        _clients.Add(client);
        var e = await Assert.ThrowsAsync<OpcUaSecurityException>(() => client.ConnectAsync());
        Assert.Equal(StatusCodes.BadCertificateUntrusted, e.Status);
        string rejected = Assert.Single(Directory.GetFiles(store.RejectedFolder));
        Assert.Contains(Path.GetFileNameWithoutExtension(rejected), e.Message);
        // trusting it (as an operator would, by moving the file) lets the next connect through
        File.Move(rejected, Path.Combine(store.TrustedFolder, Path.GetFileName(rejected)));
        await client.ConnectAsync();
        Assert.Equal(21.5, (await client.ReadValueAsync(Plant("Temperature"))).Value.Value);
    }

    [NodeFact]
    public async Task Security_token_is_renewed_before_it_expires()
    {
        foreach (var mode in new[] { MessageSecurityMode.None, MessageSecurityMode.SignAndEncrypt })
        {
            var client = await ConnectAsync(o => o with
            {
                TokenLifetime = TimeSpan.FromSeconds(2),
                SecurityMode = mode,
                SecurityPolicyUri = mode == MessageSecurityMode.None ? SecurityPolicies.None : SecurityPolicies.Basic256Sha256,
            });
            var channel = client.Channel!;
            uint firstToken = channel.CurrentTokenId;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            while (channel.RenewCount < 2)
            {
                Assert.Equal(21.5, (await client.ReadValueAsync(Plant("Temperature"), timeout.Token)).Value.Value);
                await Task.Delay(200, timeout.Token);
            }
            Assert.NotEqual(firstToken, channel.CurrentTokenId);
            Assert.Same(channel, client.Channel);
            Assert.Equal(0, client.ReconnectCount);
        }
    }
}
