using System.CommandLine;
using Zhizao.Hosting;

namespace Zhizao.Connectors.Mqtt;

/// <summary>`zhizao serve` options of the MQTT TLS listener and the bridge (documented in src/Zhizao.Mqtt/README.md).</summary>
internal sealed class MqttCliOptions
{
    private readonly Option<int?> _tlsPort = new("--mqtt-tls-port") { Description = "MQTT over TLS port (default 8883 when --mqtt-cert is set, else off; 0 turns it off)" };
    private readonly Option<string?> _cert = new("--mqtt-cert") { Description = "PEM server certificate of the MQTT TLS listener (intermediates may follow)" };
    private readonly Option<string?> _key = new("--mqtt-key") { Description = "PEM private key of --mqtt-cert" };
    private readonly Option<string?> _ca = new("--mqtt-ca") { Description = "PEM CA for MQTT client certificates: TLS clients must present one; its CN is the MQTT user name" };
    private readonly Option<string> _listen = new("--mqtt-listen") { Description = "Address of the MQTT TLS listener; anything but loopback requires --mqtt-ca", DefaultValueFactory = _ => "127.0.0.1" };
    private readonly Option<string?> _bridge = new("--mqtt-bridge") { Description = "Subscribe to an external broker, mqtt[s]://user:pass@host:port, and ingest what arrives" };
    private readonly Option<string[]> _bridgeTopics = new("--mqtt-bridge-topic") { Description = "Topic filter for --mqtt-bridge (repeatable; default $share/zhizao/zhizao/#)" };
    private readonly Option<string?> _bridgeCa = new("--mqtt-bridge-ca") { Description = "PEM CA of the external broker's certificate (mqtts; default: the system's roots)" };
    private readonly Option<string?> _bridgeCert = new("--mqtt-bridge-cert") { Description = "PEM client certificate for the external broker (mqtts)" };
    private readonly Option<string?> _bridgeKey = new("--mqtt-bridge-key") { Description = "PEM private key of --mqtt-bridge-cert" };
    private readonly Option<string?> _bridgeClientId = new("--mqtt-bridge-client-id") { Description = "Client id at the external broker (default zhizao-bridge-{machine}; unique per node, stable across restarts so its session survives)" };

    public void AddTo(Command cmd)
    {
        foreach (var o in new Option[] { _tlsPort, _cert, _key, _ca, _listen, _bridge, _bridgeTopics, _bridgeCa, _bridgeCert, _bridgeKey, _bridgeClientId })
        {
            cmd.Options.Add(o);
        }
    }

    public void Apply(ParseResult pr, PlatformOptions options)
    {
        var tls = options.MqttTls;
        tls.Port = pr.GetValue(_tlsPort);
        tls.CertificateFile = pr.GetValue(_cert);
        tls.KeyFile = pr.GetValue(_key);
        tls.CaFile = pr.GetValue(_ca);
        tls.ListenAddress = pr.GetValue(_listen)!;
        var bridge = options.MqttBridge;
        bridge.Url = pr.GetValue(_bridge);
        foreach (string t in pr.GetValue(_bridgeTopics) ?? [])
        {
            bridge.Topics.Add(t);
        }

        bridge.CaFile = pr.GetValue(_bridgeCa);
        bridge.CertificateFile = pr.GetValue(_bridgeCert);
        bridge.KeyFile = pr.GetValue(_bridgeKey);
        bridge.ClientId = pr.GetValue(_bridgeClientId);
    }
}
