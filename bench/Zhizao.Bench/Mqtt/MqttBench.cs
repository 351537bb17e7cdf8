using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Broker;
using Zhizao.Mqtt.Client;

namespace Zhizao.Bench.Mqtt;

/// <summary>
/// `mqtt` verb: our broker (in its own process, this executable with --serve) against mosquitto, same run, same load
/// generator (our MqttClient). N publishers fan in to one subscriber at QoS 0 and QoS 1; then p50/p99
/// publish-to-deliver latency at 50% of mosquitto's QoS 0 peak; then resident memory of each broker holding 10,000
/// idle connections.
/// </summary>
internal static class MqttBench
{
    /// <summary>Messages queued per client in both brokers (our QoS 0 outbound queue and QoS 1/2 session queue,
    /// mosquitto's max_queued_messages): large, so that neither broker's overflow policy decides the fan-in figure;
    /// the subscriber's drain rate does.</summary>
    private const int QueueLimit = 5_000_000;

    public const string Usage = """
        mqtt [--publishers N=100] [--seconds S=5] [--payload BYTES=64] [--idle N=10000] [--quick]
             N publishers -> 1 subscriber on bench/#, QoS 0 and 1, our broker vs mosquitto (both in their own process,
             loopback, no persistence, max 100 in flight and 5,000,000 queued per client), then latency at 50% of
             mosquitto's QoS 0 peak, then RSS with N idle connections. --quick: 10 publishers, 1 s, 500 idle (CI smoke).
             --qos 0|1: only the fan-in of that QoS (no latency or memory phase). --flow-control N: our broker's
             FlowControlQueue (default 1,000; 0 = off, as before 2026-12-03).
        """;

    /// <param name="FlowControl">our broker's <see cref="MqttBrokerOptions.FlowControlQueue"/> (--flow-control; 0 = off).</param>
    private sealed record Options(int Publishers, double Seconds, int Payload, int Idle, int Qos = -1, int FlowControl = 1_000);

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length >= 2 && args[0] == "--serve")
            return await ServeAsync(int.Parse(args[1], CultureInfo.InvariantCulture),
                args.Length >= 3 ? int.Parse(args[2], CultureInfo.InvariantCulture) : new MqttBrokerOptions().FlowControlQueue);
        var o = new Options(100, 5, 64, 10_000);
        for (int i = 0; i < args.Length; i++)
        {
            string Next() => i + 1 < args.Length ? args[++i] : throw new ArgumentException($"{args[i]} needs a value");
            o = args[i] switch
            {
                "--publishers" => o with { Publishers = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--seconds" => o with { Seconds = double.Parse(Next(), CultureInfo.InvariantCulture) },
                "--payload" => o with { Payload = Math.Max(16, int.Parse(Next(), CultureInfo.InvariantCulture)) },
                "--idle" => o with { Idle = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--flow-control" => o with { FlowControl = int.Parse(Next(), CultureInfo.InvariantCulture) },
                "--qos" => o with { Qos = int.Parse(Next(), CultureInfo.InvariantCulture) is var q and (0 or 1) ? q : throw new ArgumentException("--qos is 0 or 1") },
                "--quick" => new Options(10, 1, 64, 500),
                _ => throw new ArgumentException($"unknown option {args[i]}\n{Usage}"),
            };
        }
        Console.WriteLine($"MQTT fan-in: {o.Publishers} publishers -> 1 subscriber, {o.Payload} B payload, {o.Seconds} s per run; " +
            $"{Environment.ProcessorCount} cores, load average {LoadAverage()}");

        // every phase gets freshly started brokers: a backlog left by one phase (mosquitto was seen refusing the next
        // phase's 1,000 connections while it still drained the last) must not decide the next one
        var results = new Dictionary<(string, MqttQoS), double>();
        foreach (var qos in new[] { MqttQoS.AtMostOnce, MqttQoS.AtLeastOnce }.Where(q => o.Qos < 0 || (int)q == o.Qos))
        {
            foreach (bool isOurs in new[] { false, true })
            {
                await using var b = isOurs ? await BrokerProcess.StartOursAsync(o.FlowControl) : await BrokerProcess.StartMosquittoAsync();
                double rate, accepted = double.NaN;
                try
                {
                    (rate, _, accepted) = await FanInAsync(b.Port, o, qos, targetRate: 0);
                }
                catch (MqttClientException ex)
                {
                    Console.WriteLine($"  QoS {(int)qos} {b.Name,-10} failed: {ex.Message}");
                    rate = double.NaN;
                }
                results[(b.Name, qos)] = rate;
                Console.WriteLine($"  QoS {(int)qos} {b.Name,-10} {rate,12:N0} msg/s delivered" +
                    (qos == MqttQoS.AtMostOnce ? "" : $", {accepted,12:N0} msg/s accepted from the publishers (PUBACKs)"));
            }
            Console.WriteLine($"  QoS {(int)qos} ratio zhizao/mosquitto: {results[("zhizao", qos)] / results[("mosquitto", qos)]:F2}");
        }
        if (o.Qos >= 0)
            return 0;
        double half = results[("mosquitto", MqttQoS.AtMostOnce)] / 2;
        Console.WriteLine($"Latency at {half:N0} msg/s (50% of mosquitto's QoS 0 peak), QoS 0:");
        foreach (bool isOurs in new[] { false, true })
        {
            if (double.IsNaN(half))
                break;
            await using var b = isOurs ? await BrokerProcess.StartOursAsync(o.FlowControl) : await BrokerProcess.StartMosquittoAsync();
            var (rate, lat, _) = await FanInAsync(b.Port, o, MqttQoS.AtMostOnce, targetRate: half);
            Console.WriteLine($"  {b.Name,-10} delivered {rate,10:N0} msg/s  p50 {lat.P50:F2} ms  p99 {lat.P99:F2} ms  ({lat.Count:N0} samples)");
        }
        Console.WriteLine($"Memory with {o.Idle:N0} idle connections (RSS of a freshly started broker process):");
        foreach (bool isOurs in new[] { false, true })
        {
            await using var b = isOurs ? await BrokerProcess.StartOursAsync(o.FlowControl) : await BrokerProcess.StartMosquittoAsync();
            long before = b.RssBytes();
            var sockets = await OpenIdleAsync(b.Port, o.Idle);
            await Task.Delay(1000);
            long after = b.RssBytes();
            Console.WriteLine($"  {b.Name,-10} {before / 1048576.0,7:F1} MiB before, {after / 1048576.0,7:F1} MiB with {sockets.Count:N0} connections " +
                $"({(after - before) / (double)sockets.Count / 1024:F1} KiB each)");
            foreach (var s in sockets)
                s.Dispose();
        }
        return 0;
    }

    private static string LoadAverage()
    {
        try
        {
            return File.ReadAllText("/proc/loadavg").Split(' ')[0];
        }
        catch (IOException)
        {
            return "?";
        }
    }

    private readonly record struct Latency(double P50, double P99, int Count);

    /// <summary>Publishers send for the run time (as fast as they can, or at <paramref name="targetRate"/> in total);
    /// returns what the subscriber received per second and the latency distribution of what it received.</summary>
    /// <returns>Accepted: QoS 1 PUBLISHes the publishers had acknowledged per second (the broker may accept faster than
    /// the subscriber drains, queueing the rest).</returns>
    private static async Task<(double Rate, Latency Latency, double Accepted)> FanInAsync(int port, Options o, MqttQoS qos, double targetRate)
    {
        long received = 0;
        var acked = new long[1];
        bool measuring = false;
        var latencies = new List<double>(1 << 20);
        await using var sub = new MqttClient(new MqttClientOptions { Port = port, ClientId = "bench-sub", ReceiveMaximum = 65535 });
        sub.MessageReceived = p =>
        {
            if (!Volatile.Read(ref measuring))
                return;
            received++;
            if (targetRate > 0 && p.Payload.Length >= 8)
            {
                long sent = BitConverter.ToInt64(p.Payload.Span);
                latencies.Add((Stopwatch.GetTimestamp() - sent) * 1000.0 / Stopwatch.Frequency);
            }
        };
        await sub.ConnectAsync();
        await sub.SubscribeAsync("bench/#", qos);

        var pubs = new List<MqttClient>();
        for (int i = 0; i < o.Publishers; i++)
        {
            var c = new MqttClient(new MqttClientOptions { Port = port, ClientId = $"bench-pub-{i}", MaxInflight = 16, SendQueueCapacity = 256 });
            await c.ConnectAsync();
            pubs.Add(c);
        }
        using var stop = new CancellationTokenSource();
        double perPublisher = targetRate / o.Publishers;
        var tasks = pubs.Select((c, i) => Task.Run(() => PublishLoopAsync(c, $"bench/p{i}", o.Payload, qos, perPublisher, acked, stop.Token))).ToList();
        await Task.Delay(1000); // warm-up
        long start = Interlocked.Read(ref received);
        long acked0 = Interlocked.Read(ref acked[0]);
        Volatile.Write(ref measuring, true);
        var sw = Stopwatch.StartNew();
        await Task.Delay(TimeSpan.FromSeconds(o.Seconds));
        long count = Interlocked.Read(ref received) - start;
        long acceptedCount = Interlocked.Read(ref acked[0]) - acked0;
        double elapsed = sw.Elapsed.TotalSeconds;
        Volatile.Write(ref measuring, false);
        await stop.CancelAsync();
        await Task.WhenAll(tasks).ContinueWith(_ => { }, TaskScheduler.Default);
        foreach (var c in pubs)
            await c.DisposeAsync();
        Latency lat = default;
        lock (latencies)
        {
            if (latencies.Count > 0)
            {
                latencies.Sort();
                lat = new Latency(latencies[latencies.Count / 2], latencies[(int)(latencies.Count * 0.99)], latencies.Count);
            }
        }
        if (sub.ReconnectCount > 0 || !sub.IsConnected)
            Console.WriteLine($"  (subscriber reconnected {sub.ReconnectCount} times, last server reason {sub.LastDisconnectReason})");
        return (count / elapsed, lat, acceptedCount / elapsed);
    }

    private static async Task PublishLoopAsync(MqttClient c, string topic, int payloadSize, MqttQoS qos, double rate, long[] acked, CancellationToken ct)
    {
        var window = new List<Task>(16);
        var sw = Stopwatch.StartNew();
        long n = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (rate > 0)
                {
                    double due = n / rate;
                    double wait = due - sw.Elapsed.TotalSeconds;
                    if (wait > 0.001)
                        await Task.Delay(TimeSpan.FromSeconds(wait), ct);
                }
                var payload = new byte[payloadSize];
                BitConverter.TryWriteBytes(payload, Stopwatch.GetTimestamp());
                var t = c.PublishAsync(topic, payload, qos, cancellationToken: ct);
                n++;
                if (qos == MqttQoS.AtMostOnce)
                {
                    await t;
                    continue;
                }
                window.Add(t);
                if (window.Count >= 16)
                {
                    await Task.WhenAny(window);
                    Interlocked.Add(ref acked[0], window.RemoveAll(x => x.IsCompleted));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // run over
        }
        catch (MqttClientException)
        {
            // disconnected at the end of the run
        }
    }

    private static async Task<List<Socket>> OpenIdleAsync(int port, int count)
    {
        var sockets = new List<Socket>(count);
        var writer = new MqttPacketWriter(MqttProtocolVersion.V311);
        var buffer = new byte[64];
        for (int i = 0; i < count; i++)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await s.ConnectAsync(IPAddress.Loopback, port);
                await s.SendAsync(writer.ToArray(new MqttConnectPacket
                {
                    ProtocolVersion = MqttProtocolVersion.V311, ClientId = $"idle-{i}", CleanStart = true, KeepAliveSeconds = 0,
                }), SocketFlags.None);
                int got = await s.ReceiveAsync(buffer, SocketFlags.None);
                if (got < 4 || buffer[0] != 0x20 || buffer[3] != 0)
                    throw new InvalidOperationException($"connection {i} was refused");
            }
            catch (Exception ex) when (ex is SocketException or InvalidOperationException)
            {
                Console.WriteLine($"  stopped at {i:N0} connections: {ex.Message}");
                s.Dispose();
                break;
            }
            sockets.Add(s);
        }
        return sockets;
    }

    private static async Task<int> ServeAsync(int port, int flowControl)
    {
        await using var broker = new MqttBroker(new MqttBrokerOptions
        {
            Port = port, SysInterval = TimeSpan.Zero, MaxQueuedMessages = QueueLimit, MaxOutboundPackets = QueueLimit, FlowControlQueue = flowControl,
        });
        await broker.StartAsync();
        Console.WriteLine("ready");
        await Console.In.ReadLineAsync(); // the parent closes stdin to stop us
        return 0;
    }

    /// <summary>A broker in its own process.</summary>
    private sealed class BrokerProcess : IAsyncDisposable
    {
        private static readonly string[] MosquittoPaths = ["/usr/sbin/mosquitto", "/usr/bin/mosquitto", "/usr/local/sbin/mosquitto"];

        private readonly Process _process;
        private readonly string? _dir;

        private BrokerProcess(string name, Process process, int port, string? dir)
        {
            Name = name;
            _process = process;
            Port = port;
            _dir = dir;
        }

        public string Name { get; }

        public int Port { get; }

        public long RssBytes()
        {
            foreach (var line in File.ReadLines($"/proc/{_process.Id}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            }
            return 0;
        }

        private static int FreePort()
        {
            using var l = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            l.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)l.LocalEndPoint!).Port;
        }

        public static async Task<BrokerProcess> StartOursAsync(int flowControl)
        {
            int port = FreePort();
            string host = Environment.ProcessPath!;
            var psi = new ProcessStartInfo(host) { RedirectStandardInput = true, RedirectStandardOutput = true, UseShellExecute = false };
            if (Path.GetFileNameWithoutExtension(host) == "dotnet")
                psi.ArgumentList.Add(typeof(MqttBench).Assembly.Location);
            psi.ArgumentList.Add("mqtt");
            psi.ArgumentList.Add("--serve");
            psi.ArgumentList.Add(port.ToString(CultureInfo.InvariantCulture));
            psi.ArgumentList.Add(flowControl.ToString(CultureInfo.InvariantCulture));
            psi.Environment["DOTNET_gcServer"] = "0";
            var p = Process.Start(psi)!;
            string? line = await p.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
            if (line != "ready")
                throw new InvalidOperationException($"our broker did not start: {line}");
            return new BrokerProcess("zhizao", p, port, null);
        }

        public static async Task<BrokerProcess> StartMosquittoAsync()
        {
            int port = FreePort();
            string dir = Directory.CreateTempSubdirectory("zhizao-bench-mosquitto-").FullName;
            string conf = Path.Combine(dir, "mosquitto.conf");
            await File.WriteAllTextAsync(conf, $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n" +
                $"max_inflight_messages 100\nmax_queued_messages {QueueLimit}\nlog_type error\n");
            string exe = MosquittoPaths.FirstOrDefault(File.Exists)
                ?? throw new InvalidOperationException("mosquitto is not installed (apt-get install -y mosquitto)");
            var p = Process.Start(new ProcessStartInfo(exe, ["-c", conf]) { UseShellExecute = false, RedirectStandardError = true })!;
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                try
                {
                    using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    await probe.ConnectAsync(IPAddress.Loopback, port);
                    break;
                }
                catch (SocketException) when (deadline.Elapsed < TimeSpan.FromSeconds(10))
                {
                    await Task.Delay(50);
                }
            }
            return new BrokerProcess("mosquitto", p, port, dir);
        }

        public async ValueTask DisposeAsync()
        {
            if (!_process.HasExited)
            {
                if (Name == "zhizao")
                    _process.StandardInput.Close();
                else
                    _process.Kill();
                if (!_process.WaitForExit(5000))
                    _process.Kill();
                await _process.WaitForExitAsync();
            }
            _process.Dispose();
            if (_dir is not null)
                Directory.Delete(_dir, recursive: true);
        }
    }
}
