using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace Zhizao.Modbus.Tests;

/// <summary>
/// A real Modbus TCP peer: pymodbus from Debian (python3-pymodbus) running peers/modbus_server.py on a free loopback port.
/// Missing Python or pymodbus fails the test with what to install; it never skips silently.
/// </summary>
public sealed class PymodbusServer : IAsyncDisposable
{
    /// <summary>Debian's interpreter (where python3-pymodbus installs); ZHIZAO_PYTHON overrides it.</summary>
    public static readonly string Python = Environment.GetEnvironmentVariable("ZHIZAO_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";
    private Process? _process;

    private PymodbusServer(int port) => Port = port;

    public int Port { get; }
    public string Version { get; private set; } = "";
    public Process Process => _process ?? throw new InvalidOperationException("server not running");

    public static async Task<PymodbusServer> StartAsync()
    {
        EnsureInstalled();
        var server = new PymodbusServer(FreePort());
        await server.StartProcessAsync();
        return server;
    }

    public static void EnsureInstalled()
    {
        if (!File.Exists(Python))
            throw new InvalidOperationException($"Modbus interop tests need Debian's {Python} with pymodbus: apt-get install -y python3-pymodbus");
        using var probe = Process.Start(new ProcessStartInfo(Python, ["-c", "import pymodbus.server, pymodbus.datastore; print(pymodbus.__version__)"])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        string err = probe.StandardError.ReadToEnd();
        probe.WaitForExit();
        if (probe.ExitCode != 0)
            throw new InvalidOperationException($"Modbus interop tests need pymodbus for {Python}: apt-get install -y python3-pymodbus ({err.Trim()})");
    }

    /// <summary>Kills the server and starts a fresh one on the same port (its datastore back to the preloaded values).</summary>
    public async Task RestartAsync()
    {
        Stop();
        await StartProcessAsync();
    }

    public void Stop()
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

    private async Task StartProcessAsync()
    {
        string script = Path.Combine(AppContext.BaseDirectory, "peers", "modbus_server.py");
        for (int attempt = 0; ; attempt++)
        {
            var process = Process.Start(new ProcessStartInfo(Python, [script, Port.ToString()])
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            })!;
            var stderr = new System.Text.StringBuilder();
            process.ErrorDataReceived += (_, e) => { lock (stderr) stderr.AppendLine(e.Data); };
            process.BeginErrorReadLine();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            string? line = await process.StandardOutput.ReadLineAsync(timeout.Token);
            if (line is not null && line.StartsWith("READY", StringComparison.Ordinal))
            {
                Version = line.Split(' ')[2];
                _process = process;
                return;
            }
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            process.Dispose();
            if (attempt >= 20) // the port may linger for a moment after a restart
                throw new InvalidOperationException($"pymodbus server did not start on port {Port}: {stderr}");
            await Task.Delay(250);
        }
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public ValueTask DisposeAsync()
    {
        Stop();
        return ValueTask.CompletedTask;
    }
}
