using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging;

namespace Zhizao.Mqtt.Tests;

/// <summary>
/// A private PKI made in the test with CertificateRequest: a CA, a server certificate for localhost / 127.0.0.1 and
/// client certificates, written as PEM files to a temporary directory (deleted on dispose).
/// </summary>
internal sealed class TlsTestCertificates : IDisposable
{
    private TlsTestCertificates(string dir) => Directory = dir;

    public string Directory { get; }

    public required X509Certificate2 Ca { get; init; }
    public required ECDsa CaKey { get; init; }
    public string CaFile => Path.Combine(Directory, "ca.pem");
    public string ServerCertFile => Path.Combine(Directory, "server.pem");
    public string ServerKeyFile => Path.Combine(Directory, "server.key");

    public static TlsTestCertificates Create()
    {
        string dir = System.IO.Directory.CreateTempSubdirectory("zhizao-tls-").FullName;
        var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caReq = new CertificateRequest("CN=Zhizao Test CA", caKey, HashAlgorithmName.SHA256);
        caReq.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caReq.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caReq.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caReq.PublicKey, false));
        var ca = caReq.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        var pki = new TlsTestCertificates(dir) { Ca = ca, CaKey = caKey };
        File.WriteAllText(pki.CaFile, ca.ExportCertificatePem());
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        san.AddIpAddress(IPAddress.Loopback);
        pki.Issue("server", "CN=localhost", serverAuth: true, san.Build());
        return pki;
    }

    /// <summary>Issues a certificate signed by <paramref name="issuer"/> (default: this CA); writes {name}.pem and {name}.key.</summary>
    public (string CertFile, string KeyFile) Issue(string name, string subject, bool serverAuth = false, X509Extension? san = null,
        X509Certificate2? issuer = null, ECDsa? issuerKey = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        req.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(serverAuth ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (san is not null)
            req.CertificateExtensions.Add(san);
        var signer = issuer ?? Ca;
        var gen = X509SignatureGenerator.CreateForECDsa(issuerKey ?? CaKey);
        var serial = RandomNumberGenerator.GetBytes(12);
        serial[0] &= 0x7F;
        using var cert = req.Create(signer.SubjectName, gen, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        string certFile = Path.Combine(Directory, name + ".pem"), keyFile = Path.Combine(Directory, name + ".key");
        File.WriteAllText(certFile, cert.ExportCertificatePem());
        File.WriteAllText(keyFile, key.ExportPkcs8PrivateKeyPem());
        return (certFile, keyFile);
    }

    /// <summary>Another CA, unrelated to this one (for "wrong CA" cases): its PEM file and a client certificate it signed.</summary>
    public (string CaFile, string CertFile, string KeyFile) Stranger()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var req = new CertificateRequest("CN=Stranger CA", key, HashAlgorithmName.SHA256);
        req.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        req.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign, true));
        using var ca = req.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        string caFile = Path.Combine(Directory, "stranger-ca.pem");
        File.WriteAllText(caFile, ca.ExportCertificatePem());
        var (c, k) = Issue("stranger-client", "CN=plc-7", issuer: ca, issuerKey: key);
        return (caFile, c, k);
    }

    /// <summary>Test keys only: lets a broker that drops privileges (mosquitto started as root) read the files.</summary>
    public void MakeReadableByAll()
    {
        if (OperatingSystem.IsWindows())
            return;
        File.SetUnixFileMode(Directory, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
            | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        foreach (var f in System.IO.Directory.GetFiles(Directory))
            File.SetUnixFileMode(f, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
    }

    public void Dispose()
    {
        Ca.Dispose();
        CaKey.Dispose();
        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // a tool may still hold a file; the temp dir is cleaned later
        }
    }
}

/// <summary>Collects log lines so a test can assert what was logged (and what never was).</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Entries.Enqueue((logLevel, eventId, formatter(state, exception)));

    public bool Any(int eventId, string contains) => Entries.Any(e => e.Id.Id == eventId && e.Message.Contains(contains, StringComparison.Ordinal));

    public string All => string.Join("\n", Entries.Select(e => $"{e.Id.Id} {e.Message}"));
}
