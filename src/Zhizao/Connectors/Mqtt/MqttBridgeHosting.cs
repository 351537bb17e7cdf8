using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Zhizao.Hosting;
using Zhizao.Mqtt.Broker;

namespace Zhizao.Connectors.Mqtt;

/// <summary>The node's MQTT over TLS listener (options --mqtt-cert, --mqtt-key, --mqtt-ca, --mqtt-tls-port, --mqtt-listen).</summary>
public sealed class MqttTlsSettings
{
    /// <summary>PEM server certificate (intermediates may follow it); setting it turns the TLS listener on.</summary>
    public string? CertificateFile { get; set; }

    public string? KeyFile { get; set; }

    /// <summary>PEM CA that client certificates must chain to; when set, every TLS client needs a certificate and its
    /// subject CN is its MQTT user name.</summary>
    public string? CaFile { get; set; }

    /// <summary>Null = 8883 when a certificate is configured; 0 = off.</summary>
    public int? Port { get; set; }

    /// <summary>Address of the TLS listener. Anything but loopback requires <see cref="CaFile"/> (client certificates).
    /// The plain listener (--mqtt-port) always stays on 127.0.0.1.</summary>
    public string ListenAddress { get; set; } = "127.0.0.1";

    public bool Enabled => CertificateFile is not null && EffectivePort > 0;

    public int EffectivePort => Port ?? (CertificateFile is null ? 0 : 8883);
}

/// <summary>The node's bridge to an external broker (options --mqtt-bridge, --mqtt-bridge-topic, --mqtt-bridge-ca,
/// --mqtt-bridge-cert, --mqtt-bridge-key).</summary>
public sealed class MqttBridgeSettings
{
    /// <summary>mqtt[s]://user:pass@host:port; null = no bridge.</summary>
    public string? Url { get; set; }

    /// <summary>Empty = $share/zhizao/zhizao/#.</summary>
    public IList<string> Topics { get; } = [];

    public string? CaFile { get; set; }
    public string? CertificateFile { get; set; }
    public string? KeyFile { get; set; }

    /// <summary>Null = zhizao-bridge-{machine}; must differ per node.</summary>
    public string? ClientId { get; set; }
}

/// <summary>Checks and wires the MQTT TLS listener and the bridge; the node refuses to start on a bad setting.</summary>
public static class MqttNodeSecurity
{
    /// <summary>Throws <see cref="InvalidOperationException"/> naming the option when the settings cannot work or would
    /// expose the broker without credentials.</summary>
    public static void Validate(PlatformOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var tls = options.MqttTls;
        if (tls.Port is < 0 or > 65535)
        {
            throw new InvalidOperationException($"--mqtt-tls-port {tls.Port} is not a TCP port (1-65535, 0 = off)");
        }

        if (tls.CertificateFile is null)
        {
            if (tls.Port is > 0)
            {
                throw new InvalidOperationException("--mqtt-tls-port needs a server certificate: --mqtt-cert FILE --mqtt-key FILE (PEM)");
            }

            if (tls.KeyFile is not null || tls.CaFile is not null)
            {
                throw new InvalidOperationException("--mqtt-key and --mqtt-ca need the TLS listener's certificate: --mqtt-cert FILE");
            }
        }
        else
        {
            if (tls.KeyFile is null)
            {
                throw new InvalidOperationException($"--mqtt-cert '{tls.CertificateFile}' needs its private key: --mqtt-key FILE (PEM)");
            }

            foreach (var (option, file) in new[] { ("--mqtt-cert", tls.CertificateFile), ("--mqtt-key", tls.KeyFile), ("--mqtt-ca", tls.CaFile) })
            {
                if (file is not null && !File.Exists(file))
                {
                    throw new InvalidOperationException($"{option}: file '{file}' does not exist");
                }
            }
        }

        if (!IPAddress.TryParse(tls.ListenAddress, out var address))
        {
            throw new InvalidOperationException($"--mqtt-listen: '{tls.ListenAddress}' is not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)");
        }

        if (!IPAddress.IsLoopback(address))
        {
            if (!tls.Enabled)
            {
                throw new InvalidOperationException($"--mqtt-listen {tls.ListenAddress}: only the TLS listener leaves loopback; configure it with --mqtt-cert, --mqtt-key and --mqtt-ca");
            }

            if (tls.CaFile is null)
            {
                throw new InvalidOperationException(
                    $"refusing to listen for MQTT on {tls.ListenAddress} without credentials: require client certificates with --mqtt-ca FILE, or keep --mqtt-listen 127.0.0.1");
            }
        }

        if (options.MqttBridge.Url is not null)
        {
            _ = BridgeOptions(options.MqttBridge);
        }
    }

    internal static MqttBridgeOptions BridgeOptions(MqttBridgeSettings s)
    {
        MqttBridgeOptions o;
        try
        {
            o = MqttBridgeOptions.Parse(s.Url!, [.. s.Topics], s.CaFile, s.CertificateFile, s.KeyFile);
        }
        catch (ArgumentException e)
        {
            throw new InvalidOperationException(e.Message, e);
        }

        foreach (var (option, file) in new[] { ("--mqtt-bridge-ca", s.CaFile), ("--mqtt-bridge-cert", s.CertificateFile), ("--mqtt-bridge-key", s.KeyFile) })
        {
            if (file is not null && !File.Exists(file))
            {
                throw new InvalidOperationException($"{option}: file '{file}' does not exist");
            }
        }

        if (s.ClientId is { } id)
        {
            o = new MqttBridgeOptions
            {
                Host = o.Host, Port = o.Port, Tls = o.Tls, UserName = o.UserName, Password = o.Password, Topics = o.Topics,
                CaFile = o.CaFile, CertificateFile = o.CertificateFile, KeyFile = o.KeyFile, ClientId = id,
            };
        }

        return o;
    }

    /// <summary>Registers the TLS broker (in place of the plain-only one) and the bridge, as configured.</summary>
    public static void AddMqttTlsAndBridge(this IServiceCollection services, PlatformOptions options, string dataDirectory)
    {
        var tls = options.MqttTls;
        bool needSink = tls.Enabled || options.MqttBridge.Url is not null;
        if (!needSink)
        {
            return;
        }

        int plainPort = options.MqttPort is > 0 and <= 65535 ? options.MqttPort.Value : 0;
        services.TryAddSingleton(new MqttNodeOptions { Enabled = plainPort > 0 || tls.Enabled, Port = plainPort });
        services.TryAddSingleton<MqttIngestBridge>();
        if (tls.Enabled)
        {
            services.AddSingleton(sp => new MqttTlsBrokerHostedService(options, sp.GetRequiredService<MqttIngestBridge>(), dataDirectory,
                sp.GetRequiredService<ILogger<MqttBroker>>()));
            services.AddHostedService(sp => sp.GetRequiredService<MqttTlsBrokerHostedService>());
        }

        if (options.MqttBridge.Url is not null)
        {
            var bridge = BridgeOptions(options.MqttBridge);
            services.AddSingleton(sp => new MqttBridgeService(bridge, sp.GetRequiredService<MqttIngestBridge>(), sp.GetRequiredService<ILogger<MqttBridgeService>>()));
            services.AddHostedService(sp => sp.GetRequiredService<MqttBridgeService>());
        }
    }
}

/// <summary>The embedded broker with its TLS listener (plain listener on 127.0.0.1 beside it when --mqtt-port is set),
/// feeding the same ingest sink as the plain-only broker.</summary>
public sealed class MqttTlsBrokerHostedService(PlatformOptions options, MqttIngestBridge sink, string dataDirectory, ILogger<MqttBroker> brokerLog)
    : IHostedService, IAsyncDisposable
{
    public MqttBroker? Broker { get; private set; }

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var tls = options.MqttTls;
        int plainPort = options.MqttPort is > 0 and <= 65535 ? options.MqttPort.Value : 0;
        var broker = new MqttBroker(new MqttBrokerOptions
        {
            Address = IPAddress.Loopback,
            Port = plainPort,
            ListenPlain = plainPort > 0,
            DataDirectory = Path.Combine(dataDirectory, "mqtt"),
            MessageSink = sink,
            Tls = new MqttBrokerTlsOptions
            {
                Address = IPAddress.Parse(tls.ListenAddress),
                Port = tls.EffectivePort,
                CertificateFile = tls.CertificateFile,
                KeyFile = tls.KeyFile,
                ClientCaFile = tls.CaFile,
                ClientCertificateMode = tls.CaFile is null ? MqttClientCertificateMode.None : MqttClientCertificateMode.Required,
            },
        }, brokerLog);
        try
        {
            await broker.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is ArgumentException or IOException or System.Net.Sockets.SocketException)
        {
            await broker.DisposeAsync();
            throw new InvalidOperationException($"MQTT broker with TLS not started: {e.Message}", e);
        }

        Broker = broker;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Broker is { } b)
        {
            Broker = null;
            await b.DisposeAsync();
        }
    }

    public async ValueTask DisposeAsync() => await StopAsync(CancellationToken.None);
}
