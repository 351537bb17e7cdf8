using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Zhizao.Mqtt;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// Interop against a real peer: a private mosquitto on a free loopback port, our writer on a raw socket, mosquitto_pub
/// publishing with v5 properties, our reader decoding what arrives. Needs the Debian packages mosquitto and
/// mosquitto-clients (apt-get install -y mosquitto mosquitto-clients).
/// </summary>
public class MosquittoInteropTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task Mqtt5_subscriber_decodes_a_publish_with_properties_from_mosquitto_pub()
    {
        await using var broker = await Mosquitto.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V500);

        await client.SendAsync(new MqttConnectPacket
        {
            ProtocolVersion = MqttProtocolVersion.V500,
            ClientId = "zhizao-v5",
            CleanStart = true,
            KeepAliveSeconds = 30,
            Properties = new MqttProperties { ReceiveMaximum = 10, MaximumPacketSize = 65536, UserProperties = [new("client", "zhizao")] },
        });
        var connack = Assert.IsType<MqttConnAckPacket>(await client.ReceiveAsync());
        Assert.Equal(MqttReasonCode.Success, connack.ReasonCode);

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 1,
            Properties = new MqttProperties { SubscriptionIdentifiers = [42] },
            Subscriptions = [new MqttSubscription { TopicFilter = "zhizao/interop/#", MaximumQoS = MqttQoS.AtLeastOnce }],
        });
        var suback = Assert.IsType<MqttSubAckPacket>(await client.ReceiveAsync());
        Assert.Equal(1, suback.PacketId);
        Assert.Equal([MqttReasonCode.GrantedQoS1], suback.ReasonCodes);

        await Mosquitto.PublishAsync(broker.Port, "-V", "mqttv5", "-q", "1", "-t", "zhizao/interop/温度", "-m", "21.5",
            "-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type", "text/plain",
            "-D", "publish", "message-expiry-interval", "60");

        var publish = Assert.IsType<MqttPublishPacket>(await client.ReceiveAsync());
        Assert.Equal("zhizao/interop/温度", publish.Topic);
        Assert.Equal("21.5", Encoding.UTF8.GetString(publish.Payload.Span));
        Assert.Equal(MqttQoS.AtLeastOnce, publish.QoS);
        Assert.Contains(new MqttUserProperty("k", "v"), publish.Properties!.UserProperties!);
        Assert.Equal("text/plain", publish.Properties.ContentType);
        Assert.Equal([42u], publish.Properties.SubscriptionIdentifiers!);
        Assert.InRange(publish.Properties.MessageExpiryInterval!.Value, 1u, 60u);
        await client.SendAsync(new MqttPubAckPacket { PacketId = publish.PacketId });

        await client.SendAsync(new MqttPingReqPacket());
        Assert.IsType<MqttPingRespPacket>(await client.ReceiveAsync());
        await client.SendAsync(new MqttDisconnectPacket());
    }

    [Fact]
    public async Task Mqtt311_subscriber_decodes_a_publish_from_mosquitto_pub()
    {
        await using var broker = await Mosquitto.StartAsync();
        await using var client = await RawClient.ConnectAsync(broker.Port, MqttProtocolVersion.V311);

        await client.SendAsync(new MqttConnectPacket
        {
            ProtocolVersion = MqttProtocolVersion.V311,
            ClientId = "zhizao-v311",
            CleanStart = true,
            KeepAliveSeconds = 30,
            Will = new MqttWill { Topic = "zhizao/interop/will", Payload = "gone"u8.ToArray() },
        });
        Assert.Equal(MqttReasonCode.Success, Assert.IsType<MqttConnAckPacket>(await client.ReceiveAsync()).ReasonCode);

        await client.SendAsync(new MqttSubscribePacket
        {
            PacketId = 7,
            Subscriptions = [new MqttSubscription { TopicFilter = "zhizao/+/x", MaximumQoS = MqttQoS.ExactlyOnce }],
        });
        Assert.Equal([MqttReasonCode.GrantedQoS2], Assert.IsType<MqttSubAckPacket>(await client.ReceiveAsync()).ReasonCodes);

        await Mosquitto.PublishAsync(broker.Port, "-V", "mqttv311", "-q", "2", "-t", "zhizao/interop/x", "-m", "hello");

        var publish = Assert.IsType<MqttPublishPacket>(await client.ReceiveAsync());
        Assert.Equal("zhizao/interop/x", publish.Topic);
        Assert.Equal("hello", Encoding.UTF8.GetString(publish.Payload.Span));
        Assert.Equal(MqttQoS.ExactlyOnce, publish.QoS);
        Assert.Null(publish.Properties);
        await client.SendAsync(new MqttPubRecPacket { PacketId = publish.PacketId });
        Assert.Equal(publish.PacketId, Assert.IsType<MqttPubRelPacket>(await client.ReceiveAsync()).PacketId);
        await client.SendAsync(new MqttPubCompPacket { PacketId = publish.PacketId });

        await client.SendAsync(new MqttUnsubscribePacket { PacketId = 8, TopicFilters = ["zhizao/+/x"] });
        Assert.Equal(8, Assert.IsType<MqttUnsubAckPacket>(await client.ReceiveAsync()).PacketId);
        await client.SendAsync(new MqttDisconnectPacket());
    }

    private sealed class RawClient : IAsyncDisposable
    {
        private readonly TcpClient _tcp;
        private readonly NetworkStream _stream;
        private readonly MqttPacketWriter _writer;
        private readonly MqttPacketReader _reader;
        private byte[] _buffer = new byte[4096];
        private int _count;

        private RawClient(TcpClient tcp, MqttProtocolVersion version)
        {
            _tcp = tcp;
            _stream = tcp.GetStream();
            _writer = new MqttPacketWriter(version);
            _reader = new MqttPacketReader(version);
        }

        public static async Task<RawClient> ConnectAsync(int port, MqttProtocolVersion version)
        {
            var tcp = new TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, port);
            return new RawClient(tcp, version);
        }

        public async Task SendAsync(MqttPacket packet) => await _stream.WriteAsync(_writer.ToArray(packet));

        public async Task<MqttPacket> ReceiveAsync()
        {
            using var cts = new CancellationTokenSource(Timeout);
            while (true)
            {
                if (_reader.TryRead(_buffer.AsSpan(0, _count), out var packet, out int consumed))
                {
                    _buffer.AsSpan(consumed, _count - consumed).CopyTo(_buffer);
                    _count -= consumed;
                    return packet;
                }
                if (_count == _buffer.Length)
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                int n = await _stream.ReadAsync(_buffer.AsMemory(_count), cts.Token);
                if (n == 0)
                    throw new IOException("mosquitto closed the connection");
                _count += n;
            }
        }

        public ValueTask DisposeAsync()
        {
            _tcp.Dispose();
            return ValueTask.CompletedTask;
        }
    }

    private sealed class Mosquitto : IAsyncDisposable
    {
        private readonly Process _process;
        private readonly string _dir;

        private Mosquitto(Process process, string dir, int port)
        {
            _process = process;
            _dir = dir;
            Port = port;
        }

        public int Port { get; }

        public static async Task<Mosquitto> StartAsync()
        {
            string exe = Find("mosquitto");
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            listener.Stop();
            string dir = Directory.CreateTempSubdirectory("zhizao-mosquitto-").FullName;
            string conf = Path.Combine(dir, "mosquitto.conf");
            await File.WriteAllTextAsync(conf, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n");
            var psi = new ProcessStartInfo(exe, ["-c", conf]) { RedirectStandardError = true, RedirectStandardOutput = true };
            var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new StringBuilder();
            var process = new Process { StartInfo = psi };
            process.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null)
                    return;
                lock (log)
                    log.AppendLine(e.Data);
                if (e.Data.Contains(" running", StringComparison.Ordinal))
                    ready.TrySetResult();
            };
            process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"mosquitto exited:\n{log}"));
            process.EnableRaisingEvents = true;
            process.Start();
            process.BeginErrorReadLine();
            process.BeginOutputReadLine();
            try
            {
                await ready.Task.WaitAsync(Timeout);
            }
            catch (TimeoutException)
            {
                process.Kill();
                throw new TimeoutException($"mosquitto did not report running within {Timeout}:\n{log}");
            }
            return new Mosquitto(process, dir, port);
        }

        public static async Task PublishAsync(int port, params string[] args)
        {
            var psi = new ProcessStartInfo(Find("mosquitto_pub"), ["-h", "127.0.0.1", "-p", port.ToString(), .. args])
            {
                RedirectStandardError = true,
                RedirectStandardOutput = true,
            };
            using var p = Process.Start(psi)!;
            using var cts = new CancellationTokenSource(Timeout);
            string err = await p.StandardError.ReadToEndAsync(cts.Token);
            await p.WaitForExitAsync(cts.Token);
            Assert.True(p.ExitCode == 0, $"mosquitto_pub exited {p.ExitCode}: {err}");
        }

        private static string Find(string name)
        {
            var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/local/sbin", "/usr/bin"]);
            foreach (var d in dirs)
            {
                string path = Path.Combine(d, name);
                if (File.Exists(path))
                    return path;
            }
            throw new InvalidOperationException(
                $"{name} is not installed: the MQTT interop tests need it (apt-get install -y mosquitto mosquitto-clients)");
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            Directory.Delete(_dir, recursive: true);
        }
    }
}
