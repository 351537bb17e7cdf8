using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Zhizao.Connectors.Mqtt;
using Zhizao.Hosting;

namespace Zhizao.Server.Tests;

/// <summary>The node's MQTT over TLS listener (--mqtt-cert/--mqtt-key/--mqtt-ca/--mqtt-tls-port/--mqtt-listen) and the
/// start-up refusals; publishing with Debian's mosquitto_pub.</summary>
public sealed class MqttBridgeTlsNodeTests : IDisposable
{
    private readonly BridgeTestPki _pki = new();

    public void Dispose() => _pki.Dispose();

    private static async Task<double?> LatestAsync(HttpClient http, string series)
    {
        var v = await http.GetFromJsonAsync<JsonElement>($"api/latest?series={Uri.EscapeDataString(series)}");
        return v.GetArrayLength() > 0 ? v[0].GetProperty("value").GetDouble() : null;
    }

    private static async Task WaitForAsync(HttpClient http, string series, double value)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (await LatestAsync(http, series) == value)
            {
                return;
            }

            await Task.Delay(100);
        }

        Assert.Fail($"{series} did not reach {value} over MQTT/TLS within 30 s");
    }

    [MosquittoBridgeFact]
    public async Task Node_ingests_over_tls_from_mosquitto_pub_with_a_client_certificate()
    {
        int tlsPort = MosquittoPeer.FreePort(), plainPort = MosquittoPeer.FreePort();
        await using var node = await Node.StartAsync(o =>
        {
            o.MqttPort = plainPort;
            o.MqttTls.CertificateFile = _pki.ServerCert;
            o.MqttTls.KeyFile = _pki.ServerKey;
            o.MqttTls.CaFile = _pki.CaFile;
            o.MqttTls.Port = tlsPort;
        });
        var broker = node.Services.GetRequiredService<MqttTlsBrokerHostedService>().Broker!;
        Assert.Equal((plainPort, tlsPort), (broker.Port, broker.TlsPort));
        var (cert, key) = _pki.Issue("plc", "CN=plc-1");
        await MosquittoPeer.RunAsync("/usr/bin/mosquitto_pub", ["-h", "localhost", "-p", tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cafile", _pki.CaFile, "--cert", cert, "--key", key, "-q", "1", "-t", "zhizao/v/tls-01/temp", "-m", "36.6"]);
        // QoS 1: mosquitto_pub has its PUBACK, and the node sends it only once the point is stored
        Assert.Equal(36.6, await LatestAsync(node.Http, "tls-01/temp"));

        // the plain listener on loopback keeps working beside it
        await MosquittoPeer.RunAsync("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", plainPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-q", "1", "-t", "zhizao/v/tls-01/temp", "-m", "37.1"]);
        await WaitForAsync(node.Http, "tls-01/temp", 37.1);

        // without a certificate the TLS listener refuses, the node keeps running
        var psi = new ProcessStartInfo("/usr/bin/mosquitto_pub", ["-h", "localhost", "-p", tlsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--cafile", _pki.CaFile, "-q", "1", "-t", "zhizao/v/tls-01/temp", "-m", "99"]) { RedirectStandardError = true };
        using (var p = Process.Start(psi)!)
        {
            await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
            Assert.NotEqual(0, p.ExitCode);
        }

        Assert.Equal(37.1, await LatestAsync(node.Http, "tls-01/temp"));
        Assert.True(broker.Stats.TlsHandshakeFailures >= 1);
    }

    private PlatformOptions Options(Action<PlatformOptions> configure)
    {
        var o = new PlatformOptions { DataDirectory = Path.Combine(_pki.Directory, "data"), Urls = "http://127.0.0.1:0", Demo = false, MqttPort = 0 };
        configure(o);
        return o;
    }

    [Fact]
    public void Non_loopback_tls_listener_without_client_certificates_refuses_to_start()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ServerHost.Build(Options(o =>
        {
            o.MqttTls.CertificateFile = _pki.ServerCert;
            o.MqttTls.KeyFile = _pki.ServerKey;
            o.MqttTls.ListenAddress = "0.0.0.0";
        })));
        Assert.Contains("without credentials", ex.Message, StringComparison.Ordinal);
        Assert.Contains("--mqtt-ca", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Non_loopback_listen_without_tls_refuses_to_start()
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ServerHost.Build(Options(o => o.MqttTls.ListenAddress = "0.0.0.0")));
        Assert.Contains("--mqtt-cert", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("port-without-cert", "--mqtt-tls-port needs a server certificate")]
    [InlineData("cert-without-key", "needs its private key")]
    [InlineData("missing-cert", "does not exist")]
    [InlineData("bad-address", "is not an IP address")]
    [InlineData("bad-bridge", "not an mqtt:// or mqtts:// URL")]
    public void Bad_mqtt_settings_refuse_to_start_naming_the_option(string case_, string expected)
    {
        var ex = Assert.Throws<InvalidOperationException>(() => ServerHost.Build(Options(o =>
        {
            switch (case_)
            {
                case "port-without-cert":
                    o.MqttTls.Port = 8883;
                    break;
                case "cert-without-key":
                    o.MqttTls.CertificateFile = _pki.ServerCert;
                    break;
                case "missing-cert":
                    o.MqttTls.CertificateFile = Path.Combine(_pki.Directory, "nope.pem");
                    o.MqttTls.KeyFile = _pki.ServerKey;
                    break;
                case "bad-address":
                    o.MqttTls.ListenAddress = "my-host";
                    break;
                case "bad-bridge":
                    o.MqttBridge.Url = "http://user:hunter2@broker";
                    break;
            }
        })));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Tls_port_defaults_to_8883_when_a_certificate_is_configured()
    {
        var tls = new MqttTlsSettings();
        Assert.Equal((0, false), (tls.EffectivePort, tls.Enabled));
        tls.CertificateFile = "server.pem";
        Assert.Equal((8883, true), (tls.EffectivePort, tls.Enabled));
        tls.Port = 0;
        Assert.False(tls.Enabled);
    }
}
