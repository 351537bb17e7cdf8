using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Reflection;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// A real OPC UA peer: node-opcua (npm) running peers/server.js on a free loopback port. The first use runs
/// <c>npm ci</c> in peers/ when node_modules is missing. Without node and npm the interop tests are skipped with a
/// message saying what to install.
/// </summary>
public sealed class NodeOpcUaServer : IAsyncDisposable
{
    private static readonly SemaphoreSlim s_install = new(1, 1);
    private static bool s_installed;
    private Process? _process;
    private readonly int _benchItems;

    private NodeOpcUaServer(int port, string pki, int benchItems)
    {
        Port = port;
        PkiDirectory = pki;
        _benchItems = benchItems;
    }

    public static string PeersDirectory { get; } = typeof(NodeOpcUaServer).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
        .First(a => a.Key == "PeersDirectory").Value!;

    /// <summary>Why interop tests cannot run here, or null when node and npm are installed.</summary>
    public static string? MissingReason { get; } = FindMissing();

    public int Port { get; }
    public string PkiDirectory { get; }
    public string Version { get; private set; } = "";
    public string EndpointUrl => $"opc.tcp://127.0.0.1:{Port}/UA/Zhizao";
    public Process Process => _process ?? throw new InvalidOperationException("server not running");

    private static string? FindMissing()
    {
        foreach (string tool in new[] { "node", "npm" })
        {
            bool found = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':')
                .Any(dir => dir.Length > 0 && File.Exists(Path.Combine(dir, tool)));
            if (!found)
                return $"OPC UA interop tests need {tool} on PATH (apt-get install -y nodejs npm); skipped";
        }
        return null;
    }

    public static async Task<NodeOpcUaServer> StartAsync(int benchItems = 0, int? port = null, string? pki = null)
    {
        await EnsureInstalledAsync();
        var server = new NodeOpcUaServer(port ?? FreePort(), pki ?? Directory.CreateTempSubdirectory("zhizao-opcua-peer-").FullName, benchItems);
        await server.StartProcessAsync();
        return server;
    }

    /// <summary>Installs node-opcua in peers/ once; concurrent callers, in this process or another, wait for the one install.</summary>
    internal static async Task EnsureInstalledAsync()
    {
        if (MissingReason is not null)
            throw new InvalidOperationException(MissingReason);
        await s_install.WaitAsync();
        FileStream? crossProcess = null;
        try
        {
            string marker = Path.Combine(PeersDirectory, "node_modules", ".zhizao-installed");
            if (s_installed || File.Exists(marker))
            {
                s_installed = true;
                return;
            }
            // three test projects share peers/ and dotnet test runs them in parallel: npm ci (which first deletes
            // node_modules) must run once, and nobody may start node while it runs — a lock file across processes,
            // and a marker written only after a complete install (CI found "Cannot find module 'node-opcua'")
            string lockPath = Path.Combine(PeersDirectory, ".npm-install.lock");
            for (var deadline = DateTime.UtcNow.AddMinutes(10); crossProcess is null;)
            {
                try
                {
                    crossProcess = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
                }
                catch (IOException) when (DateTime.UtcNow < deadline)
                {
                    await Task.Delay(500);
                }
            }
            if (!File.Exists(marker))
            {
                using var npm = Process.Start(new ProcessStartInfo("npm", ["ci", "--no-audit", "--no-fund"])
                {
                    WorkingDirectory = PeersDirectory,
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                })!;
                var stdout = npm.StandardOutput.ReadToEndAsync();
                string err = await npm.StandardError.ReadToEndAsync();
                await npm.WaitForExitAsync();
                if (npm.ExitCode != 0)
                    throw new InvalidOperationException($"npm ci in {PeersDirectory} failed ({npm.ExitCode}): {err}{await stdout}");
                await File.WriteAllTextAsync(marker, DateTime.UtcNow.ToString("O"));
            }
            s_installed = true;
        }
        finally
        {
            crossProcess?.Dispose();
            s_install.Release();
        }
    }

    /// <summary>Kills the node process (SIGKILL) and starts a fresh one on the same port with the same PKI folder.</summary>
    public async Task RestartAsync()
    {
        Kill();
        await StartProcessAsync();
    }

    public void Kill()
    {
        if (_process is null)
            return;
        try
        {
            _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
        }
        _process.WaitForExit();
        _process.Dispose();
        _process = null;
    }

    public async Task StartProcessAsync()
    {
        string script = Path.Combine(PeersDirectory, "server.js");
        var stderr = new System.Text.StringBuilder();
        for (int attempt = 0; ; attempt++)
        {
            var process = Process.Start(new ProcessStartInfo("node", [script, Port.ToString(), PkiDirectory, _benchItems.ToString()])
            {
                WorkingDirectory = PeersDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string? line;
            try
            {
                do
                {
                    line = await process.StandardOutput.ReadLineAsync(timeout.Token);
                }
                while (line is not null && !line.StartsWith("READY", StringComparison.Ordinal));
            }
            catch (OperationCanceledException)
            {
                line = null;
            }
            if (line is not null)
            {
                Version = line.Split(' ')[2];
                _process = process;
                _ = DrainAsync(process);
                return;
            }
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            if (attempt >= 20) // the port may linger for a moment after a kill
                throw new InvalidOperationException($"node-opcua server did not start on port {Port}: {stderr}");
            await Task.Delay(300);
        }
    }

    private static async Task DrainAsync(Process process)
    {
        try
        {
            while (await process.StandardOutput.ReadLineAsync() is not null)
            {
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or ObjectDisposedException)
        {
        }
    }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public ValueTask DisposeAsync()
    {
        Kill();
        try
        {
            Directory.Delete(PkiDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
        return ValueTask.CompletedTask;
    }
}

/// <summary>A test that needs node-opcua: skipped (with the reason) where node or npm is missing.</summary>
public sealed class NodeFactAttribute : FactAttribute
{
    public NodeFactAttribute()
    {
        if (NodeOpcUaServer.MissingReason is { } reason)
            Skip = reason;
    }
}

/// <summary>One node-opcua server shared by the interop tests that do not restart it.</summary>
public sealed class NodeServerFixture : IAsyncLifetime
{
    public NodeOpcUaServer? Server { get; private set; }

    public async Task InitializeAsync()
    {
        if (NodeOpcUaServer.MissingReason is null)
            Server = await NodeOpcUaServer.StartAsync();
    }

    public async Task DisposeAsync()
    {
        if (Server is not null)
            await Server.DisposeAsync();
    }
}

[CollectionDefinition("node-opcua")]
public sealed class NodeServerCollection : ICollectionFixture<NodeServerFixture>;
