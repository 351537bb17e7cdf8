using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Zhizao.EndToEnd;

/// <summary>Runs the real `zhizao` executable as a child process on a free loopback port.</summary>
internal sealed class ZhizaoProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ZhizaoProcess(Process process, string url)
    {
        _process = process;
        Url = url;
        process.OutputDataReceived += (_, e) => Append(e.Data);
        process.ErrorDataReceived += (_, e) => Append(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string Url { get; }

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    public bool HasExited => _process.HasExited;

    public static string RepoRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Zhizao.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root (Zhizao.slnx) above " + AppContext.BaseDirectory);
    }

    /// <summary>The built zhizao.dll of the same configuration as this test assembly.</summary>
    public static string ServerDll()
    {
        string config = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
        string dll = Path.Combine(RepoRoot(), "src", "Zhizao", "bin", config, "net10.0", "zhizao.dll");
        return File.Exists(dll) ? dll : throw new FileNotFoundException("build src/Zhizao first", dll);
    }

    public static int FreePort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        return ((IPEndPoint)l.LocalEndpoint).Port;
    }

    public static async Task<ZhizaoProcess> StartAsync(string dataDir, string extraArgs = "--no-demo", TimeSpan? timeout = null)
    {
        string url = $"http://127.0.0.1:{FreePort()}";
        var psi = new ProcessStartInfo("dotnet", $"\"{ServerDll()}\" serve --urls {url} --data-dir \"{dataDir}\" {extraArgs}")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.Environment["DOTNET_gcServer"] = "0";
        var p = Process.Start(psi) ?? throw new InvalidOperationException("could not start dotnet");
        var z = new ZhizaoProcess(p, url);
        await z.WaitHealthyAsync(timeout ?? TimeSpan.FromSeconds(60));
        return z;
    }

    private async Task WaitHealthyAsync(TimeSpan timeout)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"zhizao exited with {_process.ExitCode} during start:\n{Log}");
            }

            try
            {
                using var r = await http.GetAsync($"{Url}/healthz");
                if (r.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }
            catch (TaskCanceledException)
            {
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"zhizao did not become healthy in {timeout}:\n{Log}");
    }

    /// <summary>SIGKILL: no chance to flush anything.</summary>
    public void Kill9()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }

        _process.WaitForExit();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_log)
        {
            if (_log.Length < 200_000)
            {
                _log.AppendLine(line);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }
}
