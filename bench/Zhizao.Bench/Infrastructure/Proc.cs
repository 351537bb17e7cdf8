using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Zhizao.Bench.Infrastructure;

/// <summary>Runs helper programs (initdb, pg_ctl, chown) and finds binaries and free ports.</summary>
internal static class Proc
{
    public static bool IsRoot => string.Equals(Environment.UserName, "root", StringComparison.Ordinal);

    /// <summary>Runs a program to completion; throws with its output when it fails or exceeds <paramref name="timeout"/>.</summary>
    public static async Task<string> RunAsync(string file, IEnumerable<string> args, TimeSpan timeout, CancellationToken ct, string? asUser = null)
    {
        var psi = new ProcessStartInfo
        {
            FileName = asUser is null ? file : "runuser",
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        if (asUser is not null)
        {
            psi.ArgumentList.Add("-u");
            psi.ArgumentList.Add(asUser);
            psi.ArgumentList.Add("--");
            psi.ArgumentList.Add(file);
        }

        foreach (string a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        p.StandardInput.Close();
        var output = new StringBuilder();
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Describe(psi)} did not finish within {timeout.TotalSeconds:0} s");
        }

        output.Append(await stdout).Append(await stderr);
        if (p.ExitCode != 0)
        {
            throw new InvalidOperationException($"{Describe(psi)} exited with {p.ExitCode}: {Tail(output.ToString())}");
        }

        return output.ToString();
    }

    /// <summary>The first existing candidate path, or the name found on PATH, or null.</summary>
    public static string? FindBinary(string name, params string[] candidates)
    {
        foreach (string c in candidates)
        {
            if (File.Exists(c))
            {
                return c;
            }
        }

        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            string p = Path.Combine(dir, name);
            if (File.Exists(p))
            {
                return p;
            }
        }

        return null;
    }

    /// <summary>A currently free TCP port on 127.0.0.1 (the OS picks it; a tiny race with other processes remains).</summary>
    public static int FreeLoopbackPort()
    {
        using var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static long DirectorySize(string path)
    {
        if (!Directory.Exists(path))
        {
            return 0;
        }

        long total = 0;
        foreach (var f in new DirectoryInfo(path).EnumerateFiles("*", SearchOption.AllDirectories))
        {
            try
            {
                total += f.Length;
            }
            catch (FileNotFoundException)
            {
                // compaction removed it between listing and stat
            }
        }

        return total;
    }

    public static string Tail(string text, int max = 2_000) => text.Length <= max ? text.Trim() : "…" + text[^max..].Trim();

    private static string Describe(ProcessStartInfo psi) => psi.FileName + " " + string.Join(' ', psi.ArgumentList);
}
