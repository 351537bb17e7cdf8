using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Zhizao.Bench.Http;

/// <summary>
/// End-to-end ingest: InfluxDB line protocol over HTTP into a running `zhizao` process (Release build, its own data
/// directory, fsync on every group commit as shipped), from several concurrent connections on loopback.
/// Bodies are rendered before the clock starts so the load generator costs little CPU; the client and the server
/// share the machine's cores, and both CPU times are reported.
/// </summary>
internal static class HttpIngestBench
{
    public const string Usage = """
        zhizao-bench http [--seconds 15] [--connections 4] [--machines 1000] [--fields 10] [--lines 1000] [--server-dll PATH]
          Starts zhizao (Release) with --no-demo on a free loopback port and a temp data dir, posts line protocol
          (each request: --lines lines of --fields fields, one line per machine per second) and reports points/s.
        """;

    public static async Task<int> RunAsync(string[] args, CancellationToken ct)
    {
        int seconds = Int(args, "--seconds", 15);
        int connections = Int(args, "--connections", 4);
        int machines = Int(args, "--machines", 1000);
        int fields = Int(args, "--fields", 10);
        int lines = Int(args, "--lines", 1000);
        string dll = Str(args, "--server-dll") ?? Path.Combine(RepoRoot(), "src", "Zhizao", "bin", "Release", "net10.0", "zhizao.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"server not built: {dll} (run: dotnet build -c Release src/Zhizao)");
            return 2;
        }

        // ~seconds × 3.5M points/s worth of bodies, so the run cannot run out at the goal rate
        long pointsPerRequest = (long)lines * fields;
        int requests = (int)Math.Min(40_000, Math.Max(100, seconds * 3_500_000L / pointsPerRequest));
        Console.WriteLine($"rendering {requests} requests of {lines} lines × {fields} fields ({pointsPerRequest:N0} points each) for {machines} machines…");
        var bodies = Render(requests, machines, fields, lines);
        Console.WriteLine($"body size {bodies[0].Length / 1024.0:0} KiB; {bodies.Sum(b => (long)b.Length) / 1048576.0:0} MiB in all");

        string dir = Directory.CreateTempSubdirectory("zz-httpbench-").FullName;
        int port = FreePort();
        string url = $"http://127.0.0.1:{port}";
        var psi = new ProcessStartInfo("dotnet", $"\"{dll}\" serve --no-demo --urls {url} --data-dir \"{dir}\"")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var server = Process.Start(psi)!;
        server.OutputDataReceived += (_, _) => { };
        server.ErrorDataReceived += (_, e) => { if (e.Data is not null) { Console.Error.WriteLine("server: " + e.Data); } };
        server.BeginOutputReadLine();
        server.BeginErrorReadLine();
        try
        {
            using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = connections, PooledConnectionLifetime = Timeout.InfiniteTimeSpan };
            using var http = new HttpClient(handler) { BaseAddress = new Uri(url), Timeout = TimeSpan.FromMinutes(2) };
            await WaitHealthyAsync(http, server, ct);

            // warm-up: create the series, JIT the paths
            int next = 0;
            for (int i = 0; i < Math.Min(20, requests / 10); i++)
            {
                await PostAsync(http, bodies[next++], ct);
            }

            var serverCpu0 = server.TotalProcessorTime;
            var clientCpu0 = Process.GetCurrentProcess().TotalProcessorTime;
            long points = 0;
            var clock = Stopwatch.StartNew();
            var deadline = TimeSpan.FromSeconds(seconds);
            var tasks = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
            {
                while (clock.Elapsed < deadline)
                {
                    int i = Interlocked.Increment(ref next) - 1;
                    if (i >= bodies.Length)
                    {
                        return;
                    }

                    await PostAsync(http, bodies[i], ct);
                    Interlocked.Add(ref points, pointsPerRequest);
                }
            }, ct)).ToArray();
            await Task.WhenAll(tasks);
            double wall = clock.Elapsed.TotalSeconds;
            server.Refresh();
            double serverCpu = (server.TotalProcessorTime - serverCpu0).TotalSeconds;
            double clientCpu = (Process.GetCurrentProcess().TotalProcessorTime - clientCpu0).TotalSeconds;
            if (next >= bodies.Length)
            {
                Console.WriteLine("note: all pre-rendered requests were sent before the time was up");
            }

            double rate = points / wall;
            Console.WriteLine();
            Console.WriteLine("| measure | value |");
            Console.WriteLine("|---|---|");
            Console.WriteLine($"| points stored and acknowledged | {points:N0} in {wall:0.00} s |");
            Console.WriteLine($"| **HTTP line-protocol ingest** | **{rate:N0} points/s** ({rate / 1e6:0.00} M; goal ≥ 1.00 M) |");
            Console.WriteLine($"| server CPU | {serverCpu:0.0} s ({serverCpu / wall:0.00} cores) → {points / serverCpu:N0} points per server CPU-second |");
            Console.WriteLine($"| load generator CPU | {clientCpu:0.0} s ({clientCpu / wall:0.00} cores), same machine |");
            Console.WriteLine($"| connections × lines × fields | {connections} × {lines} × {fields}; {machines * fields:N0} series |");
            return 0;
        }
        finally
        {
            if (!server.HasExited)
            {
                server.Kill(entireProcessTree: true);
                await server.WaitForExitAsync(CancellationToken.None);
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

    private static byte[][] Render(int requests, int machines, int fields, int lines)
    {
        const long T0 = 1_767_225_600_000_000_000; // 2026-01-01T00:00:00Z
        var bodies = new byte[requests][];
        var sb = new StringBuilder(lines * fields * 16);
        var rng = new Random(7);
        int line = 0;
        for (int r = 0; r < requests; r++)
        {
            sb.Clear();
            for (int l = 0; l < lines; l++, line++)
            {
                int machine = line % machines;
                long second = line / machines;
                sb.Append('m').Append(machine.ToString("D5", CultureInfo.InvariantCulture)).Append(' ');
                for (int f = 0; f < fields; f++)
                {
                    if (f > 0)
                    {
                        sb.Append(',');
                    }

                    double v = Math.Round(20 + (10 * Math.Sin((second + f) / 60.0)) + rng.NextDouble(), 2);
                    sb.Append('f').Append(f).Append('=').Append(v.ToString("R", CultureInfo.InvariantCulture));
                }

                sb.Append(' ').Append(T0 + (second * 1_000_000_000L)).Append('\n');
            }

            bodies[r] = Encoding.UTF8.GetBytes(sb.ToString());
        }

        return bodies;
    }

    private static async Task PostAsync(HttpClient http, byte[] body, CancellationToken ct)
    {
        using var content = new ByteArrayContent(body);
        using var resp = await http.PostAsync("/api/v2/write?precision=ns", content, ct);
        if (resp.StatusCode != HttpStatusCode.NoContent)
        {
            throw new InvalidOperationException($"write answered {(int)resp.StatusCode}: {await resp.Content.ReadAsStringAsync(ct)}");
        }
    }

    private static async Task WaitHealthyAsync(HttpClient http, Process server, CancellationToken ct)
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
                using var r = await http.GetAsync("/healthz", ct);
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(100, ct);
        }

        throw new TimeoutException("zhizao did not become healthy in 60 s");
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
