using System.Globalization;
using Zhizao.Bench.Infrastructure;

namespace Zhizao.Bench.Storage;

/// <summary>
/// A private PostgreSQL cluster: initdb into the workspace, default settings (fsync on, synchronous_commit on),
/// TCP on 127.0.0.1 only, no Unix socket. Runs as the `postgres` OS user when we are root.
/// </summary>
internal sealed class PostgresServer : IAsyncDisposable
{
    private readonly string _bin;
    private readonly string _dataDir;
    private readonly string? _user;
    private bool _started;

    private PostgresServer(string bin, string dataDir, string? user, int port)
    {
        _bin = bin;
        _dataDir = dataDir;
        _user = user;
        Port = port;
    }

    public int Port { get; }
    public string Version { get; private set; } = "";

    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=true;Maximum Pool Size=32;Command Timeout=600;Timeout=30";

    /// <summary>The directory holding initdb/pg_ctl, or null when PostgreSQL is not installed.</summary>
    public static string? FindBinDirectory()
    {
        string? env = Environment.GetEnvironmentVariable("ZHIZAO_PG_BIN");
        if (!string.IsNullOrEmpty(env) && File.Exists(Path.Combine(env, "pg_ctl")))
        {
            return env;
        }

        const string debian = "/usr/lib/postgresql";
        if (Directory.Exists(debian))
        {
            var best = Directory.GetDirectories(debian)
                .Select(d => (Dir: Path.Combine(d, "bin"), Version: int.TryParse(Path.GetFileName(d), out int v) ? v : 0))
                .Where(x => File.Exists(Path.Combine(x.Dir, "pg_ctl")))
                .OrderByDescending(x => x.Version == 15 ? int.MaxValue : x.Version)
                .FirstOrDefault();
            if (best.Dir is not null)
            {
                return best.Dir;
            }
        }

        string? onPath = Proc.FindBinary("pg_ctl");
        return onPath is null ? null : Path.GetDirectoryName(onPath);
    }

    public static async Task<PostgresServer> StartAsync(string bin, Workspace workspace, CancellationToken ct)
    {
        string root = workspace.Sub("postgres");
        string dataDir = Path.Combine(root, "data");
        Directory.CreateDirectory(dataDir);
        string? user = null;
        if (Proc.IsRoot)
        {
            // initdb refuses to run as root; the Debian package creates the `postgres` user.
            user = "postgres";
            await Proc.RunAsync("chown", ["-R", "postgres:", root], TimeSpan.FromSeconds(30), ct);
        }

        var server = new PostgresServer(bin, dataDir, user, Proc.FreeLoopbackPort());
        await Proc.RunAsync(Path.Combine(bin, "initdb"),
            ["-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"],
            TimeSpan.FromSeconds(120), ct, user);
        await File.AppendAllTextAsync(Path.Combine(dataDir, "postgresql.conf"), string.Create(CultureInfo.InvariantCulture, $"""

            # zhizao bench: private instance, loopback only; everything else is the default
            listen_addresses = '127.0.0.1'
            port = {server.Port}
            unix_socket_directories = ''
            """), ct);
        server._started = true;
        await Proc.RunAsync(Path.Combine(bin, "pg_ctl"),
            ["start", "-D", dataDir, "-w", "-t", "60", "-l", Path.Combine(root, "server.log")],
            TimeSpan.FromSeconds(90), ct, user);
        server.Version = (await Proc.RunAsync(Path.Combine(bin, "postgres"), ["--version"], TimeSpan.FromSeconds(10), ct)).Trim();
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_started)
        {
            return;
        }

        _started = false;
        try
        {
            await Proc.RunAsync(Path.Combine(_bin, "pg_ctl"), ["stop", "-D", _dataDir, "-m", "fast", "-w", "-t", "60"],
                TimeSpan.FromSeconds(90), CancellationToken.None, _user);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            Console.Error.WriteLine($"warning: pg_ctl stop failed ({ex.Message}); killing the postmaster");
            KillPostmaster();
        }
    }

    private void KillPostmaster()
    {
        try
        {
            string pidFile = Path.Combine(_dataDir, "postmaster.pid");
            if (File.Exists(pidFile) && int.TryParse(File.ReadLines(pidFile).First(), out int pid))
            {
                using var p = System.Diagnostics.Process.GetProcessById(pid);
                p.Kill(entireProcessTree: true);
            }
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException)
        {
            Console.Error.WriteLine($"warning: could not kill the postmaster: {ex.Message}");
        }
    }
}
