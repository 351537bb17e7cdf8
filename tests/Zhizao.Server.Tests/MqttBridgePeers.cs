using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Zhizao.Server.Tests;

/// <summary>A fact skipped, saying why, when Debian's mosquitto is not installed.</summary>
public sealed class MosquittoBridgeFactAttribute : FactAttribute
{
    public MosquittoBridgeFactAttribute()
    {
        if (!File.Exists(MosquittoPeer.Exe) || !File.Exists("/usr/bin/mosquitto_pub"))
        {
            Skip = "mosquitto or mosquitto_pub not installed: the MQTT bridge tests need apt-get install -y mosquitto mosquitto-clients";
        }
    }
}

/// <summary>A private mosquitto on a fixed loopback port that a test can stop and start again.</summary>
internal sealed class MosquittoPeer : IAsyncDisposable
{
    public const string Exe = "/usr/sbin/mosquitto";
    private readonly string _dir;
    private Process? _process;

    private MosquittoPeer(string dir, int port, string extraConfig)
    {
        _dir = dir;
        Port = port;
        File.WriteAllText(Path.Combine(dir, "mosquitto.conf"),
            $"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\nlog_type all\n{extraConfig}");
    }

    public int Port { get; }

    public static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public static async Task<MosquittoPeer> StartAsync(string extraConfig = "") => await StartAsync(FreePort(), extraConfig);

    public static async Task<MosquittoPeer> StartAsync(int port, string extraConfig = "")
    {
        var peer = new MosquittoPeer(Directory.CreateTempSubdirectory("zz-mosq-").FullName, port, extraConfig);
        await peer.StartAsync();
        return peer;
    }

    public async Task StartAsync()
    {
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var log = new StringBuilder();
        var p = new Process { StartInfo = new ProcessStartInfo(Exe, ["-c", Path.Combine(_dir, "mosquitto.conf")]) { RedirectStandardError = true, RedirectStandardOutput = true } };
        p.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null)
            {
                return;
            }

            lock (log)
            {
                log.AppendLine(e.Data);
            }

            if (e.Data.Contains(" running", StringComparison.Ordinal))
            {
                ready.TrySetResult();
            }
        };
        p.EnableRaisingEvents = true;
        p.Exited += (_, _) => ready.TrySetException(new InvalidOperationException($"mosquitto exited:\n{log}"));
        p.Start();
        p.BeginErrorReadLine();
        p.BeginOutputReadLine();
        _process = p;
        await ready.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public async Task StopAsync()
    {
        if (_process is { } p)
        {
            _process = null;
            if (!p.HasExited)
            {
                p.Kill();
                await p.WaitForExitAsync();
            }

            p.Dispose();
        }
    }

    /// <summary>mosquitto_pub -q 1 -l: one message per line of stdin, so N messages cost one process.</summary>
    public Task PublishLinesAsync(string topic, IEnumerable<string> lines) =>
        RunAsync("/usr/bin/mosquitto_pub", ["-h", "127.0.0.1", "-p", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-t", topic, "-l"],
            string.Join('\n', lines) + "\n");

    public static async Task RunAsync(string exe, string[] args, string? stdin = null)
    {
        var psi = new ProcessStartInfo(exe, args) { RedirectStandardError = true, RedirectStandardInput = stdin is not null };
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }

        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(p.ExitCode == 0, $"{exe} exited {p.ExitCode}: {await p.StandardError.ReadToEndAsync()}");
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        Directory.Delete(_dir, recursive: true);
    }
}

/// <summary>CA, server (localhost / 127.0.0.1) and client certificates as PEM files in a temp directory.</summary>
internal sealed class BridgeTestPki : IDisposable
{
    private readonly ECDsa _caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly X509Certificate2 _ca;

    public BridgeTestPki()
    {
        Directory = System.IO.Directory.CreateTempSubdirectory("zz-pki-").FullName;
        var req = new CertificateRequest("CN=Zhizao Node Test CA", _caKey, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        _ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        Issue("server", "CN=localhost", san.Build());
    }

    public string Directory { get; }
    public string CaFile => Path.Combine(Directory, "ca.pem");
    public string ServerCert => Path.Combine(Directory, "server.pem");
    public string ServerKey => Path.Combine(Directory, "server.key");

    public (string Cert, string Key) Issue(string name, string subject, X509Extension? san = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        if (san is not null)
        {
            req.CertificateExtensions.Add(san);
        }

        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = req.Create(_ca.SubjectName, X509SignatureGenerator.CreateForECDsa(_caKey), DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        string c = Path.Combine(Directory, name + ".pem"), k = Path.Combine(Directory, name + ".key");
        File.WriteAllText(c, cert.ExportCertificatePem());
        File.WriteAllText(k, key.ExportPkcs8PrivateKeyPem());
        return (c, k);
    }

    /// <summary>Test keys only: mosquitto started as root reads its files after dropping to its own user.</summary>
    public void MakeReadableByAll()
    {
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        File.SetUnixFileMode(Directory, (UnixFileMode)0x1ED); // 0755
        foreach (string f in System.IO.Directory.GetFiles(Directory))
        {
            File.SetUnixFileMode(f, (UnixFileMode)0x1A4); // 0644
        }
    }

    public void Dispose()
    {
        _ca.Dispose();
        _caKey.Dispose();
        System.IO.Directory.Delete(Directory, recursive: true);
    }
}
