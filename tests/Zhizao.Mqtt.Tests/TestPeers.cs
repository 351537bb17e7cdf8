using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Mqtt.Tests;

/// <summary>A fact that is skipped, saying why, when the mosquitto binaries are not installed.</summary>
public sealed class MosquittoFactAttribute : FactAttribute
{
    public MosquittoFactAttribute()
    {
        if (Mosquitto.MissingReason is { } why)
            Skip = why;
    }
}

public sealed class MosquittoTheoryAttribute : TheoryAttribute
{
    public MosquittoTheoryAttribute()
    {
        if (Mosquitto.MissingReason is { } why)
            Skip = why;
    }
}

internal static class Wait
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after the timeout.</summary>
    public static async Task UntilAsync(Func<bool> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = Stopwatch.StartNew();
        var limit = timeout ?? Timeout;
        while (!condition())
        {
            if (deadline.Elapsed > limit)
                Assert.Fail($"timed out after {limit.TotalSeconds} s waiting for {what}");
            await Task.Delay(10);
        }
    }
}

/// <summary>Our broker on a free loopback port.</summary>
internal static class TestBroker
{
    public static async Task<MqttBroker> StartAsync(Action<MqttBrokerOptions>? configure = null)
    {
        var options = new MqttBrokerOptions { Port = 0, SysInterval = TimeSpan.Zero };
        configure?.Invoke(options);
        var broker = new MqttBroker(options);
        await broker.StartAsync();
        return broker;
    }
}

/// <summary>Our client with its received messages in a channel.</summary>
internal sealed class TestClient : IAsyncDisposable
{
    private readonly Channel<MqttPublishPacket> _received = Channel.CreateUnbounded<MqttPublishPacket>();

    private TestClient(MqttClient client) => Client = client;

    public MqttClient Client { get; }

    public MqttConnAckPacket? ConnAck { get; private set; }

    public static async Task<TestClient> ConnectAsync(int port, string clientId, MqttProtocolVersion version = MqttProtocolVersion.V500,
        Action<MqttClientOptions>? configure = null)
    {
        var options = new MqttClientOptions { Port = port, ClientId = clientId, ProtocolVersion = version };
        configure?.Invoke(options);
        var tc = new TestClient(new MqttClient(options));
        tc.Client.MessageReceived = p => tc._received.Writer.TryWrite(p);
        tc.ConnAck = await tc.Client.ConnectAsync();
        return tc;
    }

    public async Task<MqttPublishPacket> ReceiveAsync()
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
        try
        {
            return await _received.Reader.ReadAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"client '{Client.ClientId}' received nothing within {Wait.Timeout.TotalSeconds} s");
        }
    }

    public bool TryReceive(out MqttPublishPacket? packet) => _received.Reader.TryRead(out packet);

    public int Pending => _received.Reader.Count;

    public ValueTask DisposeAsync() => Client.DisposeAsync();
}

/// <summary>Our codec on a bare socket: sends exactly what a test builds, returns exactly what arrives.</summary>
internal sealed class RawClient : IAsyncDisposable
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
        _reader = new MqttPacketReader(version, new MqttLimits { MaximumPacketSize = 64 * 1024 * 1024 });
    }

    /// <summary>The server end of an accepted connection (a scripted fake server).</summary>
    public static RawClient FromAccepted(TcpClient accepted, MqttProtocolVersion version) => new(accepted, version);

    public static async Task<RawClient> ConnectAsync(int port, MqttProtocolVersion version, int receiveBufferSize = 0)
    {
        var tcp = new TcpClient();
        if (receiveBufferSize > 0)
            tcp.ReceiveBufferSize = receiveBufferSize;
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        return new RawClient(tcp, version);
    }

    /// <summary>Connects and sends CONNECT; returns the CONNACK.</summary>
    public static async Task<(RawClient Client, MqttConnAckPacket ConnAck)> ConnectAsync(int port, MqttConnectPacket connect, int receiveBufferSize = 0)
    {
        var c = await ConnectAsync(port, connect.ProtocolVersion, receiveBufferSize);
        await c.SendAsync(connect);
        return (c, Assert.IsType<MqttConnAckPacket>(await c.ReceiveAsync()));
    }

    public async Task SendAsync(MqttPacket packet) => await _stream.WriteAsync(_writer.ToArray(packet));

    public async Task SendRawAsync(byte[] bytes) => await _stream.WriteAsync(bytes);

    public async Task<MqttPacket> ReceiveAsync() =>
        await ReceiveOrCloseAsync() ?? throw new IOException("the peer closed the connection");

    /// <summary>The next packet, or null when the peer closed the connection.</summary>
    public async Task<MqttPacket?> ReceiveOrCloseAsync()
    {
        using var cts = new CancellationTokenSource(Wait.Timeout);
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
            int n;
            try
            {
                n = await _stream.ReadAsync(_buffer.AsMemory(_count), cts.Token);
            }
            catch (IOException)
            {
                return null;
            }
            if (n == 0)
                return null;
            _count += n;
        }
    }

    public ValueTask DisposeAsync()
    {
        _tcp.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>A private mosquitto broker on a free loopback port, and the mosquitto_pub / mosquitto_sub tools.</summary>
internal sealed class Mosquitto : IAsyncDisposable
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);
    private readonly Process _process;
    private readonly string _dir;

    private Mosquitto(Process process, string dir, int port)
    {
        _process = process;
        _dir = dir;
        Port = port;
    }

    public int Port { get; }

    /// <summary>Null when mosquitto, mosquitto_pub and mosquitto_sub are all installed; otherwise what is missing.</summary>
    public static string? MissingReason { get; } = FindMissing();

    private static string? FindMissing()
    {
        var missing = new[] { "mosquitto", "mosquitto_pub", "mosquitto_sub" }.Where(n => TryFind(n) is null).ToList();
        return missing.Count == 0 ? null
            : $"{string.Join(", ", missing)} not installed: the MQTT interop tests need apt-get install -y mosquitto mosquitto-clients";
    }

    public static int FreePort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    public static async Task<Mosquitto> StartAsync(string extraConfig = "", int port = 0)
    {
        string exe = Find("mosquitto");
        if (port == 0)
            port = FreePort();
        string dir = Directory.CreateTempSubdirectory("zhizao-mosquitto-").FullName;
        string conf = Path.Combine(dir, "mosquitto.conf");
        await File.WriteAllTextAsync(conf, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n{extraConfig}");
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
        var (code, _, err) = await RunAsync("mosquitto_pub", ["-h", "127.0.0.1", "-p", port.ToString(), .. args]);
        Assert.True(code == 0, $"mosquitto_pub exited {code}: {err}");
    }

    /// <summary>Runs a tool to completion; returns exit code, stdout and stderr.</summary>
    public static async Task<(int Code, string Out, string Err)> RunAsync(string tool, string[] args)
    {
        using var p = Start(tool, args);
        using var cts = new CancellationTokenSource(Timeout);
        var stdout = p.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = p.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill();
            throw new TimeoutException($"{tool} {string.Join(' ', args)} did not finish within {Timeout}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    public static Process Start(string tool, string[] args)
    {
        var psi = new ProcessStartInfo(Find(tool), args) { RedirectStandardError = true, RedirectStandardOutput = true };
        return Process.Start(psi)!;
    }

    private static string? TryFind(string name)
    {
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/usr/local/sbin", "/usr/bin"]);
        foreach (var d in dirs)
        {
            if (d.Length == 0)
                continue;
            string path = Path.Combine(d, name);
            if (File.Exists(path))
                return path;
        }
        return null;
    }

    public static string Find(string name) => TryFind(name) ?? throw new InvalidOperationException(
        $"{name} is not installed: the MQTT interop tests need it (apt-get install -y mosquitto mosquitto-clients)");

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
