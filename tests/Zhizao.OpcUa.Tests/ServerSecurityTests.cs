using Zhizao.OpcUa.Client;
using Zhizao.OpcUa.Security;
using Zhizao.OpcUa.Server;

namespace Zhizao.OpcUa.Tests;

/// <summary>Basic256Sha256 (Sign, SignAndEncrypt) on our server, with our client; certificates from CertificateStore.</summary>
public sealed class ServerSecurityTests : IDisposable
{
    private readonly string _pki = Directory.CreateTempSubdirectory("zhizao-opcua-server-pki-").FullName;

    public void Dispose() => Directory.Delete(_pki, recursive: true);

    private OpcUaServer NewSecureServer(bool autoAccept = true, bool allowNone = true, List<string>? log = null)
    {
        var server = new OpcUaServer(new OpcUaServerOptions
        {
            Port = 0,
            Certificates = new CertificateStore(Path.Combine(_pki, "server"), "urn:zhizao:test-server", "Zhizao test server") { AutoAcceptUntrusted = autoAccept },
            AllowSecurityNone = allowNone,
            Log = log is null ? null : m => { lock (log) log.Add(m); },
        });
        var plant = server.AddressSpace.AddFolder(server.AddressSpace.Objects, "Plant");
        var press = server.AddressSpace.AddObject(plant, "press-01");
        server.AddressSpace.AddVariable(press, "power_kw", BuiltInType.Double, historyCapacity: 100).Set(new Variant(12.5), DateTime.UtcNow);
        server.AddressSpace.AddVariable(press, "setpoint", BuiltInType.Double, writable: true).Set(new Variant(1.0), DateTime.UtcNow);
        server.Start();
        return server;
    }

    private OpcUaClient NewSecureClient(string url, MessageSecurityMode mode) => new(new OpcUaClientOptions
    {
        EndpointUrl = url,
        SecurityMode = mode,
        SecurityPolicyUri = SecurityPolicies.Basic256Sha256,
        Certificates = new CertificateStore(Path.Combine(_pki, "client"), "urn:zhizao:test-client") { AutoAcceptUntrusted = true },
        RequestTimeout = TimeSpan.FromSeconds(30),
        ConnectTimeout = TimeSpan.FromSeconds(30),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
    });

    [Fact]
    public async Task Endpoints_offer_None_Sign_and_SignAndEncrypt_with_the_server_certificate()
    {
        await using var server = NewSecureServer();
        var endpoints = await OpcUaClient.GetEndpointsAsync(server.EndpointUrl);
        Assert.Equal([MessageSecurityMode.None, MessageSecurityMode.Sign, MessageSecurityMode.SignAndEncrypt], endpoints.Select(e => e.SecurityMode));
        Assert.All(endpoints.Skip(1), e => Assert.Equal(SecurityPolicies.Basic256Sha256, e.SecurityPolicyUri));
        Assert.All(endpoints, e => Assert.Equal(server.Options.Certificates!.ApplicationCertificate.RawData, e.ServerCertificate));
    }

    [Theory]
    [InlineData(MessageSecurityMode.Sign)]
    [InlineData(MessageSecurityMode.SignAndEncrypt)]
    public async Task Secure_channel_reads_writes_subscribes_and_carries_multi_chunk_messages(MessageSecurityMode mode)
    {
        await using var server = NewSecureServer();
        await using var client = NewSecureClient(server.EndpointUrl, mode);
        await client.ConnectAsync();
        Assert.Equal(mode, client.Endpoint!.SecurityMode);
        var power = new NodeId(1, "Plant/press-01/power_kw");
        Assert.Equal(12.5, (await client.ReadValueAsync(power)).Value.Value);
        Assert.Equal(StatusCodes.Good, await client.WriteValueAsync(new NodeId(1, "Plant/press-01/setpoint"), new Variant(2.5)));
        var many = await client.ReadAsync([.. Enumerable.Range(0, 4000).Select(i => new ReadValueId { NodeId = i % 2 == 0 ? power : new NodeId(1, "Plant/none/" + i) })]);
        Assert.Equal(4000, many.Length);
        Assert.Equal(12.5, many[3998].Value.Value);
        var sub = await client.CreateSubscriptionAsync(new SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100) });
        var values = new System.Collections.Concurrent.BlockingCollection<double>();
        sub.DataChanged += (_, e) => values.Add((double)e.Value.Value.Value!);
        await sub.AddMonitoredItemAsync(new MonitoredItemOptions(power) { SamplingInterval = TimeSpan.FromMilliseconds(50), QueueSize = 10 });
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        Assert.Equal(12.5, values.Take(cts.Token));
        ((UaVariable)server.AddressSpace.Find(power)!).Set(new Variant(13.5), DateTime.UtcNow);
        Assert.Equal(13.5, values.Take(cts.Token));
        Assert.Equal(0, server.BadInputCount);
    }

    [Fact]
    public async Task Untrusted_client_certificate_is_refused_and_saved_to_rejected()
    {
        var log = new List<string>();
        await using var server = NewSecureServer(autoAccept: false, allowNone: false, log: log);
        await using var client = NewSecureClient(server.EndpointUrl, MessageSecurityMode.SignAndEncrypt);
        var e = await Assert.ThrowsAnyAsync<OpcUaException>(() => client.ConnectAsync());
        Assert.Contains("BadCertificateUntrusted", e.ToString()); // the Error message the server closed the channel with
        Assert.Single(Directory.GetFiles(server.Options.Certificates!.RejectedFolder));
        lock (log)
            Assert.Contains(log, l => l.Contains("client certificate refused", StringComparison.Ordinal));

        // trusting it (as an operator moving the file to trusted/) lets the same client in
        var rejected = Directory.GetFiles(server.Options.Certificates.RejectedFolder).Single();
        server.Options.Certificates.Trust(File.ReadAllBytes(rejected));
        await using var again = NewSecureClient(server.EndpointUrl, MessageSecurityMode.SignAndEncrypt);
        await again.ConnectAsync();
        Assert.Equal(12.5, (await again.ReadValueAsync(new NodeId(1, "Plant/press-01/power_kw"))).Value.Value);
    }

    [Fact]
    public async Task None_is_refused_when_turned_off()
    {
        await using var server = NewSecureServer(allowNone: false);
        Assert.DoesNotContain(await OpcUaClient.GetEndpointsAsync(server.EndpointUrl), e => e.SecurityMode == MessageSecurityMode.None);
        await using var client = ServerTests.NewClient(server.EndpointUrl);
        var e = await Assert.ThrowsAnyAsync<OpcUaException>(() => client.ConnectAsync());
        Assert.Equal(StatusCodes.BadSecurityPolicyRejected, e.Status); // our client sees no None endpoint and stops there
        // a client that tries anyway gets its None channel (discovery) but no session on it
        using var raw = await RawUaClient.ConnectAsync(server.Port);
        await raw.OpenAsync();
        await raw.SendAsync(raw.Msg(new CreateSessionRequest { ClientNonce = new byte[32], RequestedSessionTimeout = 60000 }));
        var (_, chunk) = await raw.ReceiveAsync();
        var fault = Assert.IsType<ServiceFault>(Transport.SecureChannel.DecodeMessage(chunk.AsMemory(24), OpcUaLimits.Default));
        Assert.Equal(StatusCodes.BadSecurityModeRejected, fault.ResponseHeader.ServiceResult);
    }
}
