using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Zhizao.OpcUa.Security;

/// <summary>
/// A PKI folder: <c>own/</c> holds this application's certificate (created on first use, RSA 2048, SHA-256, the
/// ApplicationUri in the SubjectAltName) and its key; <c>trusted/</c> holds DER server certificates we trust;
/// <c>rejected/</c> receives server certificates we refused, so an operator can move one to <c>trusted/</c>.
/// </summary>
public sealed class CertificateStore
{
    private readonly object _lock = new();
    private X509Certificate2? _own;

    public CertificateStore(string path, string applicationUri, string applicationName = "Zhizao OPC UA client")
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(applicationUri);
        Path = path;
        ApplicationUri = applicationUri;
        ApplicationName = applicationName;
    }

    public string Path { get; }
    public string ApplicationUri { get; }
    public string ApplicationName { get; }

    /// <summary>Accept any server certificate (saving it to trusted/). For demos only.</summary>
    public bool AutoAcceptUntrusted { get; init; }

    public string TrustedFolder => System.IO.Path.Combine(Path, "trusted");
    public string RejectedFolder => System.IO.Path.Combine(Path, "rejected");
    private string OwnPfx => System.IO.Path.Combine(Path, "own", "private", "client.pfx");
    private string OwnDer => System.IO.Path.Combine(Path, "own", "certs", "client.der");

    /// <summary>This application's certificate with its private key; created and saved on first call.</summary>
    public X509Certificate2 ApplicationCertificate
    {
        get
        {
            lock (_lock)
                return _own ??= LoadOrCreate();
        }
    }

    private X509Certificate2 LoadOrCreate()
    {
        if (File.Exists(OwnPfx))
        {
            var loaded = X509CertificateLoader.LoadPkcs12FromFile(OwnPfx, null, X509KeyStorageFlags.Exportable);
            if (loaded.NotAfter > DateTime.Now.AddDays(1) && UriOf(loaded) == ApplicationUri)
                return loaded;
            loaded.Dispose();
        }
        using var rsa = RSA.Create(2048);
        var request = new CertificateRequest(
            new X500DistinguishedName($"CN={ApplicationName}, O=Zhizao, DC={Dns.GetHostName()}"), rsa, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.NonRepudiation | X509KeyUsageFlags.KeyEncipherment
            | X509KeyUsageFlags.DataEncipherment | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], false));
        var san = new SubjectAlternativeNameBuilder();
        san.AddUri(new Uri(ApplicationUri));
        san.AddDnsName(Dns.GetHostName());
        san.AddDnsName("localhost");
        request.CertificateExtensions.Add(san.Build());
        var ski = new X509SubjectKeyIdentifierExtension(request.PublicKey, false);
        request.CertificateExtensions.Add(ski);
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromSubjectKeyIdentifier(ski));
        var now = DateTimeOffset.UtcNow;
        using X509Certificate2 created = request.CreateSelfSigned(now.AddDays(-1), now.AddYears(5));
        byte[] pfx = created.Export(X509ContentType.Pkcs12);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(OwnPfx)!);
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(OwnDer)!);
        WritePrivate(OwnPfx, pfx);
        File.WriteAllBytes(OwnDer, created.RawData);
        return X509CertificateLoader.LoadPkcs12(pfx, null, X509KeyStorageFlags.Exportable);
    }

    private static void WritePrivate(string path, byte[] data)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        using var stream = new FileStream(path, options);
        stream.Write(data);
    }

    internal static string? UriOf(X509Certificate2 cert)
    {
        foreach (var ext in cert.Extensions)
        {
            if (ext is X509SubjectAlternativeNameExtension)
            {
                // the BCL enumerates DNS names and IPs only; read URIs from the raw ASN.1
                var reader = new System.Formats.Asn1.AsnReader(ext.RawData, System.Formats.Asn1.AsnEncodingRules.DER);
                var seq = reader.ReadSequence();
                while (seq.HasData)
                {
                    var tag = seq.PeekTag();
                    if (tag.TagClass == System.Formats.Asn1.TagClass.ContextSpecific && tag.TagValue == 6)
                        return seq.ReadCharacterString(System.Formats.Asn1.UniversalTagNumber.IA5String, new System.Formats.Asn1.Asn1Tag(System.Formats.Asn1.TagClass.ContextSpecific, 6));
                    seq.ReadEncodedValue();
                }
            }
        }
        return null;
    }

    /// <summary>Trusts a server certificate (writes its DER into trusted/).</summary>
    public void Trust(byte[] certificateDer)
    {
        Directory.CreateDirectory(TrustedFolder);
        using var cert = X509CertificateLoader.LoadCertificate(certificateDer);
        File.WriteAllBytes(System.IO.Path.Combine(TrustedFolder, cert.Thumbprint + ".der"), certificateDer);
    }

    /// <summary>
    /// Checks a server certificate: it must parse, be within its validity period, and be in trusted/ (or be accepted
    /// because <see cref="AutoAcceptUntrusted"/> is on). Untrusted ones are written to rejected/ and refused with an
    /// error naming the thumbprint.
    /// </summary>
    public X509Certificate2 ValidateServerCertificate(byte[]? certificateDer)
    {
        if (certificateDer is null || certificateDer.Length == 0)
            throw new OpcUaSecurityException("the server sent no certificate", StatusCodes.BadCertificateInvalid);
        X509Certificate2 cert;
        try
        {
            cert = X509CertificateLoader.LoadCertificate(certificateDer);
        }
        catch (CryptographicException e)
        {
            throw new OpcUaSecurityException($"the server certificate ({certificateDer.Length} bytes) does not parse: {e.Message}", StatusCodes.BadCertificateInvalid, e);
        }
        var now = DateTime.Now;
        if (now < cert.NotBefore || now > cert.NotAfter)
        {
            string thumb = cert.Thumbprint;
            cert.Dispose();
            throw new OpcUaSecurityException($"server certificate {thumb} is outside its validity period", StatusCodes.BadCertificateTimeInvalid);
        }
        if (IsTrusted(cert))
            return cert;
        if (AutoAcceptUntrusted)
        {
            Trust(certificateDer);
            return cert;
        }
        Directory.CreateDirectory(RejectedFolder);
        Directory.CreateDirectory(TrustedFolder);
        File.WriteAllBytes(System.IO.Path.Combine(RejectedFolder, cert.Thumbprint + ".der"), certificateDer);
        string subject = cert.Subject;
        string thumbprint = cert.Thumbprint;
        cert.Dispose();
        throw new OpcUaSecurityException(
            $"server certificate {thumbprint} ({subject}) is not trusted; it was saved to {RejectedFolder} — move it to {TrustedFolder} to trust it",
            StatusCodes.BadCertificateUntrusted);
    }

    private bool IsTrusted(X509Certificate2 cert)
    {
        if (!Directory.Exists(TrustedFolder))
            return false;
        foreach (string file in Directory.EnumerateFiles(TrustedFolder))
        {
            try
            {
                using var trusted = X509CertificateLoader.LoadCertificateFromFile(file);
                if (trusted.RawData.AsSpan().SequenceEqual(cert.RawData))
                    return true;
            }
            catch (CryptographicException)
            {
                // not a certificate: ignore the file
            }
        }
        return false;
    }
}
