using System.Buffers;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Client;
using Zhizao.Mqtt.Sparkplug;

namespace Zhizao.Bench.Mqtt;

/// <summary>
/// MQTT → stored points, end to end: a `zhizao` process (Release, its own data directory, fsync as shipped) with its
/// embedded broker; N publishers (our MqttClient, QoS 1, a window of unacknowledged PUBLISHes each) send batched JSON
/// (zhizao/json) and then Sparkplug B (DDATA with aliases); the node acknowledges a QoS 1 PUBLISH only once its points
/// are stored, so points are counted at the last PUBACK and then checked against the node's stored-point counter. The
/// node's HTTP line-protocol ingest is measured in the same run on the same process as the reference.
/// </summary>
internal static class MqttIngestBench
{
    public const string Usage = """
        zhizao-bench mqtt-ingest [--seconds 10] [--publishers 4] [--inflight 16] [--machines 1000] [--fields 10] [--batch 100] [--server-dll PATH] [--quick]
          Starts zhizao (Release) with --no-demo and its MQTT broker on free loopback ports; phases: HTTP line protocol,
          MQTT JSON (--batch machines × --fields values per message), Sparkplug B (one DDATA per device of --fields
          metrics, devices grouped --batch per edge node). Reports points/s stored and acknowledged per phase.
        """;

    private const long T0 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z

    public static async Task<int> RunAsync(string[] args)
    {
        bool quick = args.Contains("--quick");
        int seconds = Int(args, "--seconds", quick ? 2 : 10);
        int publishers = Int(args, "--publishers", 4);
        int inflight = Int(args, "--inflight", 16);
        int machines = Int(args, "--machines", quick ? 200 : 1000);
        int fields = Int(args, "--fields", 10);
        int batch = Int(args, "--batch", 100);
        string dll = Str(args, "--server-dll") ?? Path.Combine(RepoRoot(), "src", "Zhizao", "bin", "Release", "net10.0", "zhizao.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"server not built: {dll} (run: dotnet build -c Release src/Zhizao)");
            return 2;
        }

        string dir = Directory.CreateTempSubdirectory("zz-mqttbench-").FullName;
        int httpPort = FreePort(), mqttPort = FreePort();
        string url = $"http://127.0.0.1:{httpPort}";
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" serve --no-demo --urls {url} --mqtt-port {mqttPort} --data-dir \"{dir}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var server = Process.Start(psi)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        Console.WriteLine($"{Environment.ProcessorCount} cores; load average at start {LoadAverage()}; {publishers} publishers × {inflight} in flight, QoS 1; {machines} machines × {fields} fields, {batch} machines per message");
        try
        {
            using var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
            await WaitHealthyAsync(http, server);
            var results = new List<(string Name, Phase Result)>
            {
                ("HTTP line protocol (reference)", await HttpPhaseAsync(http, server, seconds, publishers, machines, fields, batch)),
                ("MQTT JSON (zhizao/json)", await MqttPhaseAsync(http, server, mqttPort, seconds, publishers, inflight, JsonMessages(machines, fields, batch, publishers))),
                ("MQTT Sparkplug B (DDATA, aliases)", await SparkplugPhaseAsync(http, server, mqttPort, seconds, publishers, inflight, machines, fields, batch)),
            };
            double reference = results[0].Result.Rate;
            Console.WriteLine();
            Console.WriteLine("| path | points stored and acknowledged | points/s | vs HTTP | server CPU (cores) | points per server CPU-second | checked in storage |");
            Console.WriteLine("|---|---|---|---|---|---|---|");
            foreach (var (name, r) in results)
            {
                Console.WriteLine($"| {name} | {r.Points:N0} in {r.Wall:0.00} s | **{r.Rate:N0}** | {r.Rate / reference:0.00}× | {r.ServerCpu / r.Wall:0.00} | {r.Points / r.ServerCpu:N0} | {(r.Verified ? "yes" : "NO")} |");
            }

            Console.WriteLine($"load average at end {LoadAverage()}");
            return results.All(r => r.Result.Verified) ? 0 : 1;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync();
            }

            try
            {
                Directory.Delete(dir, true);
            }
            catch (IOException)
            {
            }
        }
    }

    private sealed record Phase(long Points, double Wall, double ServerCpu, bool Verified)
    {
        public double Rate => Points / Wall;
    }

    private static async Task<Phase> MeasureAsync(HttpClient http, Process server, long expectedBefore, Func<Task<long>> run)
    {
        server.Refresh();
        var cpu0 = server.TotalProcessorTime;
        var clock = Stopwatch.StartNew();
        long points = await run();
        double wall = clock.Elapsed.TotalSeconds;
        server.Refresh();
        double cpu = (server.TotalProcessorTime - cpu0).TotalSeconds;
        long stored = await StoredPointsAsync(http);
        bool verified = stored - expectedBefore == points;
        if (!verified)
        {
            Console.WriteLine($"  check: the node holds {stored - expectedBefore:N0} new points, the publishers counted {points:N0}");
        }

        return new Phase(points, wall, Math.Max(cpu, 1e-3), verified);
    }

    private static async Task<long> StoredPointsAsync(HttpClient http) =>
        (await http.GetFromJsonAsync<JsonElement>("/healthz")).GetProperty("points").GetInt64();

    // ---- HTTP line protocol ----

    private static async Task<Phase> HttpPhaseAsync(HttpClient http, Process server, int seconds, int connections, int machines, int fields, int batch)
    {
        var bodies = new List<byte[]>();
        var sb = new StringBuilder();
        for (int step = 0; step < 1 + (seconds * 3_000_000 / (machines * fields)); step++)
        {
            for (int m0 = 0; m0 < machines; m0 += batch)
            {
                sb.Clear();
                for (int m = m0; m < Math.Min(machines, m0 + batch); m++)
                {
                    sb.Append('h').Append(m.ToString("D5", CultureInfo.InvariantCulture)).Append(' ');
                    for (int f = 0; f < fields; f++)
                    {
                        sb.Append(f > 0 ? "," : "").Append('f').Append(f).Append('=').Append(Value(step, m, f).ToString("R", CultureInfo.InvariantCulture));
                    }

                    sb.Append(' ').Append(T0 + (step * 1_000_000_000L)).Append('\n');
                }

                bodies.Add(Encoding.UTF8.GetBytes(sb.ToString()));
            }
        }

        int pointsPer = Math.Min(batch, machines) * fields;
        int next = 0;
        for (; next < Math.Min(bodies.Count / 10, machines / batch + 1); next++)
        {
            await PostAsync(http, bodies[next]); // warm-up: series created, JIT
        }

        long before = await StoredPointsAsync(http);
        return await MeasureAsync(http, server, before, async () =>
        {
            long points = 0;
            var deadline = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
            {
                while (deadline.Elapsed.TotalSeconds < seconds)
                {
                    int i = Interlocked.Increment(ref next) - 1;
                    if (i >= bodies.Count)
                    {
                        return;
                    }

                    await PostAsync(http, bodies[i]);
                    Interlocked.Add(ref points, pointsPer);
                }
            })));
            return points;
        });
    }

    private static async Task PostAsync(HttpClient http, byte[] body)
    {
        using var content = new ByteArrayContent(body);
        using var resp = await http.PostAsync("/api/v2/write?precision=ns", content);
        if (resp.StatusCode != HttpStatusCode.NoContent)
        {
            throw new InvalidOperationException($"write answered {(int)resp.StatusCode}: {await resp.Content.ReadAsStringAsync()}");
        }
    }

    // ---- MQTT JSON ----

    /// <summary>Per publisher, an endless sequence of zhizao/json batches over its share of the machines.</summary>
    private static Func<int, int, (string Topic, byte[] Payload, int Points)> JsonMessages(int machines, int fields, int batch, int publishers)
    {
        return (publisher, n) =>
        {
            int share = Math.Max(1, machines / publishers);
            int groups = Math.Max(1, (share + batch - 1) / batch);
            int step = n / groups, m0 = (publisher * share) + (n % groups * batch);
            int count = Math.Min(batch, (publisher * share) + share - m0);
            var buffer = new ArrayBufferWriter<byte>(count * fields * 24);
            using (var w = new Utf8JsonWriter(buffer))
            {
                w.WriteStartObject();
                w.WriteStartArray("points");
                for (int m = m0; m < m0 + count; m++)
                {
                    w.WriteStartObject();
                    w.WriteString("equipment", "j" + m.ToString("D5", CultureInfo.InvariantCulture));
                    w.WriteNumber("t", T0 + (step * 1_000_000_000L));
                    w.WriteStartObject("values");
                    for (int f = 0; f < fields; f++)
                    {
                        w.WriteNumber("f" + f.ToString(CultureInfo.InvariantCulture), Value(step, m, f));
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                w.WriteEndArray();
                w.WriteEndObject();
            }

            return ("zhizao/json", buffer.WrittenSpan.ToArray(), count * fields);
        };
    }

    /// <summary>
    /// Publishers pre-render their messages (so the load generator costs little CPU while measured), warm up, then
    /// send for <paramref name="seconds"/> with <paramref name="inflight"/> unacknowledged PUBLISHes each.
    /// </summary>
    private static async Task<Phase> MqttPhaseAsync(HttpClient http, Process server, int port, int seconds, int publishers, int inflight,
        Func<int, int, (string Topic, byte[] Payload, int Points)> message, Func<MqttClient, int, Task>? setup = null, int firstMessage = 0)
    {
        var clients = new MqttClient[publishers];
        var rendered = new List<(string, byte[], int)>[publishers];
        for (int p = 0; p < publishers; p++)
        {
            clients[p] = new MqttClient(new MqttClientOptions { Port = port, ClientId = $"bench-{Guid.NewGuid():N}", MaxInflight = inflight, KeepAliveSeconds = 60 });
            await clients[p].ConnectAsync();
            if (setup is not null)
            {
                await setup(clients[p], p);
            }

            rendered[p] = [];
            long pts = 0;
            for (int n = firstMessage; pts < seconds * 3_000_000L / publishers; n++)
            {
                var m = message(p, n);
                rendered[p].Add(m);
                pts += m.Item3;
            }
        }

        // warm-up: a few messages per publisher (series created, JIT)
        int warm = Math.Max(1, rendered[0].Count / 20);
        await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => SendAsync(clients[p], rendered[p], 0, warm, inflight, TimeSpan.MaxValue)));
        long before = await StoredPointsAsync(http);
        try
        {
            return await MeasureAsync(http, server, before, async () =>
            {
                var sent = await Task.WhenAll(Enumerable.Range(0, publishers).Select(p => SendAsync(clients[p], rendered[p], warm, rendered[p].Count, inflight, TimeSpan.FromSeconds(seconds))));
                return sent.Sum();
            });
        }
        finally
        {
            foreach (var c in clients)
            {
                await c.DisposeAsync();
            }
        }
    }

    /// <summary>Sends messages [from, to) keeping a window of PUBACK tasks; returns the points of acknowledged messages.</summary>
    private static async Task<long> SendAsync(MqttClient client, List<(string Topic, byte[] Payload, int Points)> messages, int from, int to, int inflight, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        var window = new Queue<(Task<MqttReasonCode> Ack, int Points)>();
        long points = 0;
        for (int i = from; i < to && clock.Elapsed < limit; i++)
        {
            var (topic, payload, n) = messages[i];
            window.Enqueue((client.PublishAsync(topic, payload, MqttQoS.AtLeastOnce), n));
            if (window.Count >= inflight)
            {
                points += await AckAsync(window.Dequeue());
            }
        }

        while (window.Count > 0)
        {
            points += await AckAsync(window.Dequeue());
        }

        return points;
    }

    private static async Task<long> AckAsync((Task<MqttReasonCode> Ack, int Points) pending)
    {
        var code = await pending.Ack;
        if ((int)code >= 0x80)
        {
            throw new InvalidOperationException($"the node refused a PUBLISH: {code}");
        }

        return pending.Points;
    }

    // ---- Sparkplug B ----

    private static Task<Phase> SparkplugPhaseAsync(HttpClient http, Process server, int port, int seconds, int publishers, int inflight, int machines, int fields, int batch)
    {
        int share = Math.Max(1, machines / publishers);
        string Device(int m) => "s" + m.ToString("D5", CultureInfo.InvariantCulture);
        byte[] Encode(ulong seq, int m, int step, bool birth)
        {
            var payload = new SparkplugPayload { Timestamp = (ulong)((T0 / 1_000_000) + (step * 1000L)), Seq = seq };
            for (int f = 0; f < fields; f++)
            {
                var metric = SparkplugMetric.Of(birth ? "f" + f.ToString(CultureInfo.InvariantCulture) : null, (ulong)((m * fields) + f + 1), SparkplugDataType.Double, Value(step, m, f));
                if (!birth)
                {
                    metric.DataType = null;
                }

                payload.Metrics.Add(metric);
            }

            return SparkplugCodec.Encode(payload);
        }

        // one edge node per publisher; its devices are its share of the machines; seq runs over all its messages
        var seqs = new int[publishers];
        async Task Births(MqttClient client, int p)
        {
            var nbirth = new SparkplugPayload { Timestamp = (ulong)(T0 / 1_000_000), Seq = 0 };
            nbirth.Metrics.Add(SparkplugMetric.Of("bdSeq", null, SparkplugDataType.Int64, 0L));
            await client.PublishAsync($"spBv1.0/bench/NBIRTH/edge{p}", SparkplugCodec.Encode(nbirth), MqttQoS.AtLeastOnce);
            seqs[p] = 1;
            for (int m = p * share; m < (p + 1) * share; m++)
            {
                await client.PublishAsync($"spBv1.0/bench/DBIRTH/edge{p}/{Device(m)}", Encode((ulong)(seqs[p]++ & 255), m, 0, birth: true), MqttQoS.AtLeastOnce);
            }
        }

        return MqttPhaseAsync(http, server, port, seconds, publishers, inflight, (p, n) =>
        {
            int m = (p * share) + (n % share), step = 1 + (n / share);
            return ($"spBv1.0/bench/DDATA/edge{p}/{Device(m)}", Encode((ulong)(seqs[p]++ & 255), m, step, birth: false), fields);
        }, Births);
    }

    private static double Value(int step, int machine, int field) => Math.Round(20 + (10 * Math.Sin((step + field + machine) / 60.0)), 2);

    private static async Task WaitHealthyAsync(HttpClient http, Process server)
    {
        var until = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < until)
        {
            if (server.HasExited)
            {
                throw new InvalidOperationException($"zhizao exited with {server.ExitCode}");
            }

            try
            {
                using var r = await http.GetAsync("/healthz");
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100);
        }

        throw new TimeoutException("zhizao did not become healthy in 60 s");
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    private static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Zhizao.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? Directory.GetCurrentDirectory();
    }

    private static int Int(string[] args, string name, int dflt)
    {
        string? s = Str(args, name);
        return s is null ? dflt : int.Parse(s, CultureInfo.InvariantCulture);
    }

    private static string? Str(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
