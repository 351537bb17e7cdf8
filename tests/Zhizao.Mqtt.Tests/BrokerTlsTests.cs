using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

/// <summary>The broker's TLS listener and client-certificate authentication, with our client as the peer.</summary>
public sealed class BrokerTlsTests : IDisposable
{
    private readonly TlsTestCertificates _pki = TlsTestCertificates.Create();
    private readonly ListLogger<MqttBroker> _log = new();

    public void Dispose() => _pki.Dispose();

    private static byte[] B(string s) => Encoding.UTF8.GetBytes(s);

    private async Task<MqttBroker> StartAsync(Action<MqttBrokerTlsOptions>? tls = null, Action<MqttBrokerOptions>? configure = null)
    {
        var tlsOptions = new MqttBrokerTlsOptions { Port = 0, CertificateFile = _pki.ServerCertFile, KeyFile = _pki.ServerKeyFile };
        tls?.Invoke(tlsOptions);
        var options = new MqttBrokerOptions { Port = 0, SysInterval = TimeSpan.Zero, Tls = tlsOptions };
        configure?.Invoke(options);
        var broker = new MqttBroker(options, _log);
        await broker.StartAsync();
        return broker;
    }

    private MqttClientTlsOptions Trusting(string? caFile = null, (string Cert, string Key)? clientCert = null) => new()
    {
        CaFile = caFile ?? _pki.CaFile,
        TargetHost = "localhost",
        ClientCertificateFile = clientCert?.Cert,
        ClientKeyFile = clientCert?.Key,
    };

    [Theory]
    [InlineData(MqttProtocolVersion.V311)]
    [InlineData(MqttProtocolVersion.V500)]
    public async Task Tls_and_plain_listeners_side_by_side_deliver_to_each_other(MqttProtocolVersion version)
    {
        await using var broker = await StartAsync();
        Assert.NotEqual(0, broker.Port);
        Assert.NotEqual(broker.Port, broker.TlsPort);
        await using var secure = await TestClient.ConnectAsync(broker.TlsPort, "secure", version, o => o.Tls = Trusting());
        await using var plain = await TestClient.ConnectAsync(broker.Port, "plain", version);
        await secure.Client.SubscribeAsync("line/#", MqttQoS.AtLeastOnce);
        await plain.Client.SubscribeAsync("line/#", MqttQoS.AtLeastOnce);

        Assert.Equal(MqttReasonCode.Success, await plain.Client.PublishAsync("line/a", B("from plain"), MqttQoS.AtLeastOnce));
        Assert.Equal(MqttReasonCode.Success, await secure.Client.PublishAsync("line/b", B("from tls"), MqttQoS.AtLeastOnce));

        var s1 = await secure.ReceiveAsync();
        var s2 = await secure.ReceiveAsync();
        Assert.Equal(["from plain", "from tls"], new[] { s1, s2 }.Select(p => Encoding.UTF8.GetString(p.Payload.Span)).Order());
        var p1 = await plain.ReceiveAsync();
        var p2 = await plain.ReceiveAsync();
        Assert.Equal(["from plain", "from tls"], new[] { p1, p2 }.Select(p => Encoding.UTF8.GetString(p.Payload.Span)).Order());
    }

    [Fact]
    public async Task Tls_only_broker_has_no_plain_listener()
    {
        await using var broker = await StartAsync(configure: o => o.ListenPlain = false);
        Assert.Equal(0, broker.Port);
        await using var secure = await TestClient.ConnectAsync(broker.TlsPort, "secure", configure: o => o.Tls = Trusting());
        Assert.True(secure.Client.IsConnected);
    }

    [Theory]
    [InlineData(SslProtocols.Tls12)]
    [InlineData(SslProtocols.Tls13)]
    public async Task Tls_12_and_13_are_both_served(SslProtocols protocol)
    {
        await using var broker = await StartAsync();
        await using var c = await TestClient.ConnectAsync(broker.TlsPort, "c", configure: o =>
        {
            o.Tls = Trusting();
            o.Tls.Protocols = protocol;
        });
        AssertAccepted(await c.Client.PublishAsync("t", B("x"), MqttQoS.AtLeastOnce));
    }

    [Fact]
    public async Task Pfx_certificate_with_password_serves_tls()
    {
        using var cert = X509Certificate2.CreateFromPemFile(_pki.ServerCertFile, _pki.ServerKeyFile);
        string pfx = Path.Combine(_pki.Directory, "server.pfx");
        await File.WriteAllBytesAsync(pfx, cert.Export(X509ContentType.Pkcs12, "pfx-secret"));
        await using var broker = await StartAsync(t =>
        {
            t.CertificateFile = t.KeyFile = null;
            t.PfxFile = pfx;
            t.PfxPassword = "pfx-secret";
        });
        await using var c = await TestClient.ConnectAsync(broker.TlsPort, "c", configure: o => o.Tls = Trusting());
        Assert.True(c.Client.IsConnected);
        Assert.DoesNotContain("pfx-secret", _log.All, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Plain_bytes_to_the_tls_port_are_logged_and_the_broker_keeps_running()
    {
        await using var broker = await StartAsync();
        using (var tcp = new TcpClient())
        {
            await tcp.ConnectAsync(IPAddress.Loopback, broker.TlsPort);
            var connect = new MqttPacketWriter(MqttProtocolVersion.V500).ToArray(new MqttConnectPacket { ProtocolVersion = MqttProtocolVersion.V500, ClientId = "plain-on-tls" });
            await tcp.GetStream().WriteAsync(connect);
            await Wait.UntilAsync(() => broker.Stats.TlsHandshakeFailures == 1, "the failed handshake to be counted");
            var answer = await ReadToEndAsync(tcp.GetStream()); // closed by the broker; at most a TLS alert, never MQTT
            Assert.True(answer.Length == 0 || answer[0] == 0x15, $"expected nothing or a TLS alert, got {Convert.ToHexString(answer)}");
        }
        Assert.True(_log.Any(5112, "failed"), _log.All);
        await Wait.UntilAsync(() => broker.ConnectionCount == 0, "the connection to be gone");
        await using var good = await TestClient.ConnectAsync(broker.TlsPort, "good", configure: o => o.Tls = Trusting());
        AssertAccepted(await good.Client.PublishAsync("t", B("x"), MqttQoS.AtLeastOnce));
    }

    [Fact]
    public async Task Client_trusting_another_ca_refuses_the_server_and_the_broker_keeps_running()
    {
        await using var broker = await StartAsync();
        var (strangerCa, _, _) = _pki.Stranger();
        var ex = await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "doubter", configure: o =>
        {
            o.Tls = Trusting(strangerCa);
            o.AutoReconnect = false;
        }));
        Assert.Contains("TLS handshake", ex.Message, StringComparison.Ordinal);
        Assert.False(ex.IsTransient);
        // the client checks our certificate when its side of the handshake is done, then hangs up without a word
        await Wait.UntilAsync(() => broker.Stats.TlsHandshakeFailures == 1, "the broker to count the dropped TLS connection");
        await Wait.UntilAsync(() => _log.Any(5112, "before CONNECT"), "the broker to log it");
        await using var good = await TestClient.ConnectAsync(broker.TlsPort, "good", configure: o => o.Tls = Trusting());
        Assert.True(good.Client.IsConnected);
    }

    [Fact]
    public async Task Client_checks_the_server_name()
    {
        await using var broker = await StartAsync();
        var ex = await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "sni", configure: o =>
        {
            o.Tls = Trusting();
            o.Tls.TargetHost = "broker.example.com"; // the certificate is for localhost / 127.0.0.1
            o.AutoReconnect = false;
        }));
        Assert.Contains("broker.example.com", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trust_callback_decides_about_the_server_certificate()
    {
        await using var broker = await StartAsync();
        string? seen = null;
        await using var c = await TestClient.ConnectAsync(broker.TlsPort, "pinned", configure: o => o.Tls = new MqttClientTlsOptions
        {
            ValidateServerCertificate = (_, cert, _, _) =>
            {
                seen = cert?.Subject;
                return seen == "CN=localhost"; // e.g. pinning a subject
            },
        });
        Assert.Equal("CN=localhost", seen);
    }

    [Fact]
    public async Task Silent_connection_is_closed_after_the_handshake_timeout()
    {
        await using var broker = await StartAsync(t => t.HandshakeTimeout = TimeSpan.FromMilliseconds(300));
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, broker.TlsPort);
        Assert.Empty(await ReadToEndAsync(tcp.GetStream()));
        Assert.True(_log.Any(5112, "no handshake within 0.3 s"), _log.All);
        Assert.Equal(1, broker.Stats.TlsHandshakeFailures);
    }

    [Fact]
    public async Task Client_certificate_common_name_is_the_user_name_for_the_acl()
    {
        var plc7 = _pki.Issue("plc-7", "CN=plc-7, O=Plant 1");
        await using var broker = await StartAsync(
            t =>
            {
                t.ClientCertificateMode = MqttClientCertificateMode.Required;
                t.ClientCaFile = _pki.CaFile;
            },
            o =>
            {
                o.Authenticator = new MqttPasswordAuthenticator().Add("operator", "pw"); // not asked for certificate clients
                o.Acl = new MqttAcl().Allow(MqttAclAccess.All, "plant/%u/#");
            });
        await using var c = await TestClient.ConnectAsync(broker.TlsPort, "any-id", configure: o =>
        {
            o.Tls = Trusting(clientCert: plc7);
            o.UserName = "someone-else"; // the certificate's identity wins
        });
        AssertAccepted(await c.Client.PublishAsync("plant/plc-7/temp", B("21.5"), MqttQoS.AtLeastOnce));
        Assert.Equal(MqttReasonCode.NotAuthorized, await c.Client.PublishAsync("plant/someone-else/temp", B("1"), MqttQoS.AtLeastOnce));
        Assert.Equal([MqttReasonCode.NotAuthorized], await c.Client.SubscribeAsync("plant/plc-8/#"));
    }

    [Fact]
    public async Task Mapping_turns_a_certificate_into_another_user_name()
    {
        var cert = _pki.Issue("gw", "CN=gateway-3, OU=line-2");
        await using var broker = await StartAsync(t =>
        {
            t.ClientCertificateMode = MqttClientCertificateMode.Required;
            t.ClientCaFile = _pki.CaFile;
            t.UserNameFromCertificate = c => c.SubjectName.EnumerateRelativeDistinguishedNames()
                .First(n => n.GetSingleElementType().FriendlyName == "OU").GetSingleElementValue();
        }, o => o.Acl = new MqttAcl().Allow(MqttAclAccess.Publish, "%u/#"));
        await using var c = await TestClient.ConnectAsync(broker.TlsPort, "gw", configure: o => o.Tls = Trusting(clientCert: cert));
        AssertAccepted(await c.Client.PublishAsync("line-2/x", B("1"), MqttQoS.AtLeastOnce));
        Assert.Equal(MqttReasonCode.NotAuthorized, await c.Client.PublishAsync("gateway-3/x", B("1"), MqttQoS.AtLeastOnce));
    }

    [Fact]
    public async Task Missing_required_client_certificate_is_refused_and_logged()
    {
        await using var broker = await StartAsync(t =>
        {
            t.ClientCertificateMode = MqttClientCertificateMode.Required;
            t.ClientCaFile = _pki.CaFile;
        });
        await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "anonymous", configure: o =>
        {
            o.Tls = Trusting();
            o.AutoReconnect = false;
        }));
        await Wait.UntilAsync(() => _log.Any(5113, "no client certificate"), "the refusal to be logged");
        Assert.Equal(0, broker.ConnectedClientCount);
        await using var ok = await TestClient.ConnectAsync(broker.TlsPort, "ok", configure: o => o.Tls = Trusting(clientCert: _pki.Issue("ok", "CN=ok")));
        Assert.True(ok.Client.IsConnected);
    }

    [Fact]
    public async Task Client_certificate_from_another_ca_is_refused_with_subject_and_thumbprint_logged()
    {
        await using var broker = await StartAsync(t =>
        {
            t.ClientCertificateMode = MqttClientCertificateMode.Optional;
            t.ClientCaFile = _pki.CaFile;
        });
        var (_, certFile, keyFile) = _pki.Stranger();
        var strangers = new X509Certificate2Collection();
        strangers.ImportFromPemFile(certFile);
        using var stranger = strangers[0];
        var ex = await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "impostor", configure: o =>
        {
            o.Tls = Trusting(clientCert: (certFile, keyFile));
            o.AutoReconnect = false;
        }));
        await Wait.UntilAsync(() => _log.Any(5113, stranger.Thumbprint), "the refusal with the thumbprint to be logged: " + ex);
        Assert.True(_log.Any(5113, "CN=plc-7"), _log.All);
        Assert.True(_log.Any(5113, "CN=Stranger CA"), _log.All);
        Assert.DoesNotContain("PRIVATE KEY", _log.All, StringComparison.Ordinal);
        Assert.Equal(0, broker.ConnectedClientCount);
    }

    [Fact]
    public async Task Optional_client_certificate_falls_back_to_password()
    {
        await using var broker = await StartAsync(
            t =>
            {
                t.ClientCertificateMode = MqttClientCertificateMode.Optional;
                t.ClientCaFile = _pki.CaFile;
            },
            o => o.Authenticator = new MqttPasswordAuthenticator().Add("operator", "pw"));
        await using var withPassword = await TestClient.ConnectAsync(broker.TlsPort, "pw", configure: o =>
        {
            o.Tls = Trusting();
            o.UserName = "operator";
            o.Password = "pw";
        });
        Assert.True(withPassword.Client.IsConnected);
        var ex = await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "nothing", configure: o =>
        {
            o.Tls = Trusting();
            o.AutoReconnect = false;
        }));
        Assert.Equal(MqttReasonCode.NotAuthorized, ex.ReasonCode);
        await using var withCert = await TestClient.ConnectAsync(broker.TlsPort, "cert", configure: o => o.Tls = Trusting(clientCert: _pki.Issue("c", "CN=sensor-1")));
        Assert.True(withCert.Client.IsConnected);
    }

    [Fact]
    public async Task Missing_certificate_file_fails_the_start_naming_the_file()
    {
        string missing = Path.Combine(_pki.Directory, "nope.pem");
        var broker = new MqttBroker(new MqttBrokerOptions { Port = 0, Tls = new MqttBrokerTlsOptions { Port = 0, CertificateFile = missing, KeyFile = missing } });
        var ex = await Assert.ThrowsAsync<FileNotFoundException>(() => broker.StartAsync());
        Assert.Contains(missing, ex.Message, StringComparison.Ordinal);
        await broker.DisposeAsync();
    }

    [Fact]
    public async Task Key_that_does_not_match_fails_the_start_naming_the_file()
    {
        var other = _pki.Issue("other", "CN=other");
        var broker = new MqttBroker(new MqttBrokerOptions { Port = 0, Tls = new MqttBrokerTlsOptions { Port = 0, CertificateFile = _pki.ServerCertFile, KeyFile = other.KeyFile } });
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => broker.StartAsync());
        Assert.Contains(_pki.ServerCertFile, ex.Message, StringComparison.Ordinal);
        await broker.DisposeAsync();
    }

    [Fact]
    public async Task Required_client_certificates_without_a_ca_is_a_configuration_error()
    {
        var broker = new MqttBroker(new MqttBrokerOptions
        {
            Port = 0,
            Tls = new MqttBrokerTlsOptions { Port = 0, CertificateFile = _pki.ServerCertFile, KeyFile = _pki.ServerKeyFile, ClientCertificateMode = MqttClientCertificateMode.Required },
        });
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => broker.StartAsync());
        Assert.Contains("ClientCaFile", ex.Message, StringComparison.Ordinal);
        await broker.DisposeAsync();
    }

    [Fact]
    public async Task Client_with_an_unreadable_ca_file_gets_an_error_naming_it()
    {
        await using var broker = await StartAsync();
        string bad = Path.Combine(_pki.Directory, "garbage.pem");
        await File.WriteAllTextAsync(bad, "not a certificate");
        var ex = await Assert.ThrowsAsync<MqttClientException>(() => TestClient.ConnectAsync(broker.TlsPort, "c", configure: o =>
        {
            o.Tls = Trusting(bad);
            o.AutoReconnect = false;
        }));
        Assert.Contains(bad, ex.Message, StringComparison.Ordinal);
    }

    /// <summary>Success, or (v5) No matching subscribers: the broker accepted the message.</summary>
    private static void AssertAccepted(MqttReasonCode code) =>
        Assert.True(code is MqttReasonCode.Success or MqttReasonCode.NoMatchingSubscribers, $"publish refused: {code}");

    /// <summary>Reads until the peer closes; returns what it sent.</summary>
    private static async Task<byte[]> ReadToEndAsync(NetworkStream stream)
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
        var all = new MemoryStream();
        var buffer = new byte[4096];
        try
        {
            while (true)
            {
                int n = await stream.ReadAsync(buffer, cts.Token);
                if (n == 0)
                    return all.ToArray();
                all.Write(buffer, 0, n);
            }
        }
        catch (IOException)
        {
            return all.ToArray();
        }
    }
}
