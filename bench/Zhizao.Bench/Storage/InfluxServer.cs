using System.Diagnostics;
using System.Text;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>
/// A private InfluxDB 1.x: generated config, data/WAL/meta in the workspace, HTTP and RPC on 127.0.0.1 only,
/// reporting, monitor store, subscriber and continuous queries off. WAL fsync on every write (wal-fsync-delay 0s, the default).
/// </summary>
internal sealed class InfluxServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private InfluxServer(Process process, string root, int port)
    {
        _process = process;
        Root = root;
        Port = port;
    }

    public string Root { get; }
    public int Port { get; }
    public string DataDir => Path.Combine(Root, "data");
    public string WalDir => Path.Combine(Root, "wal");
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}/");

    public static string? FindBinary() =>
        Environment.GetEnvironmentVariable("ZHIZAO_INFLUXD") is { Length: > 0 } env && File.Exists(env)
            ? env
            : Proc.FindBinary("influxd", "/usr/bin/influxd");

    public static async Task<InfluxServer> StartAsync(string binary, Workspace workspace, CancellationToken ct)
    {
        string root = workspace.Sub("influx");
        int port = Proc.FreeLoopbackPort();
        int rpcPort = Proc.FreeLoopbackPort();
        string config = Path.Combine(root, "influxdb.conf");
        // Only the cold-durations differ from the defaults: they decide when an idle shard's cache is snapshotted and
        // fully compacted (not how), so the bytes on disk can be measured in seconds instead of 10 min / 4 h later.
        await File.WriteAllTextAsync(config, $"""
            reporting-enabled = false
            bind-address = "127.0.0.1:{rpcPort}"

            [meta]
              dir = "{root}/meta"
              logging-enabled = false

            [data]
              dir = "{root}/data"
              wal-dir = "{root}/wal"
              wal-fsync-delay = "0s"
              index-version = "inmem"
              query-log-enabled = false
              cache-snapshot-write-cold-duration = "2s"
              compact-full-write-cold-duration = "5s"

            [monitor]
              store-enabled = false

            [subscriber]
              enabled = false

            [continuous_queries]
              enabled = false

            [http]
              enabled = true
              bind-address = "127.0.0.1:{port}"
              log-enabled = false
              pprof-enabled = false

            [logging]
              level = "warn"
              suppress-logo = true
            """, ct);

        var psi = new ProcessStartInfo(binary)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-config");
        psi.ArgumentList.Add(config);
        var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {binary}");
        var server = new InfluxServer(process, root, port);
        process.OutputDataReceived += (_, e) => server.Log(e.Data);
        process.ErrorDataReceived += (_, e) => server.Log(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await server.WaitReadyAsync(ct);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }

        return server;
    }

    public string LogTail()
    {
        lock (_log)
        {
            return Proc.Tail(_log.ToString());
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync(CancellationToken.None).WaitAsync(TimeSpan.FromSeconds(30));
            }
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            Console.Error.WriteLine($"warning: stopping influxd: {ex.Message}");
        }

        _process.Dispose();
    }

    private void Log(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length < 1_000_000)
            {
                _log.AppendLine(line);
            }
        }
    }

    private async Task WaitReadyAsync(CancellationToken ct)
    {
        using var http = new HttpClient { BaseAddress = BaseAddress, Timeout = TimeSpan.FromSeconds(2) };
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(60))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"influxd exited with {_process.ExitCode}: {LogTail()}");
            }

            try
            {
                using var r = await http.GetAsync(new Uri("ping", UriKind.Relative), ct);
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // not listening yet
            }
            catch (TaskCanceledException) when (!ct.IsCancellationRequested)
            {
                // the 2 s request timeout
            }

            await Task.Delay(100, ct);
        }

        throw new TimeoutException($"influxd did not answer /ping within 60 s: {LogTail()}");
    }
}
