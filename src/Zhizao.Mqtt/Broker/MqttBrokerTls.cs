using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Zhizao.Mqtt.Broker;

/// <summary>Whether the TLS listener asks for a client certificate.</summary>
public enum MqttClientCertificateMode
{
    /// <summary>No certificate is requested; clients authenticate with user name and password (if configured).</summary>
    None,

    /// <summary>A certificate is requested; a client without one falls back to user name / password, a client with one
    /// that does not chain to <see cref="MqttBrokerTlsOptions.ClientCaFile"/> is refused.</summary>
    Optional,

    /// <summary>A client without a certificate that chains to the configured CA is refused during the handshake.</summary>
    Required,
}

/// <summary>
/// The TLS listener of <see cref="MqttBroker"/> (MQTT over TLS, port 8883 by default), beside the plain one. The server
/// certificate comes from <see cref="Certificate"/>, or PEM files (<see cref="CertificateFile"/> + <see cref="KeyFile"/>;
/// further certificates in the certificate file are sent as the chain), or a PKCS#12 file (<see cref="PfxFile"/> +
/// <see cref="PfxPassword"/>). Client certificates are checked against <see cref="ClientCaFile"/> (or
/// <see cref="ClientCaCertificates"/>) only — the system's roots are not trusted for clients.
/// </summary>
public sealed class MqttBrokerTlsOptions
{
    /// <summary>TCP port of the TLS listener; 0 picks a free port (read it back from <see cref="MqttBroker.TlsPort"/>).</summary>
    public int Port { get; set; } = 8883;

    /// <summary>Address of the TLS listener; null = <see cref="MqttBrokerOptions.Address"/> (loopback by default).</summary>
    public IPAddress? Address { get; set; }

    public X509Certificate2? Certificate { get; set; }

    /// <summary>PEM file with the server certificate (and optionally its intermediates after it).</summary>
    public string? CertificateFile { get; set; }

    /// <summary>PEM file with the server's private key (PKCS#8, RSA or EC; may be the same file as the certificate).</summary>
    public string? KeyFile { get; set; }

    public string? PfxFile { get; set; }

    /// <summary>Password of <see cref="PfxFile"/>; never logged.</summary>
    public string? PfxPassword { get; set; }

    /// <summary>TLS 1.2 and 1.3 by default.</summary>
    public SslProtocols Protocols { get; set; } = SslProtocols.Tls12 | SslProtocols.Tls13;

    public MqttClientCertificateMode ClientCertificateMode { get; set; }

    /// <summary>PEM file with the CA certificate(s) client certificates must chain to.</summary>
    public string? ClientCaFile { get; set; }

    public X509Certificate2Collection? ClientCaCertificates { get; set; }

    /// <summary>
    /// The MQTT user name (ACL <c>%u</c>) of a client that presented a valid certificate; the default is the subject's
    /// common name (CN). Returning null or empty refuses the client. A certificate-authenticated client skips the
    /// password authenticator, whatever user name it put in CONNECT.
    /// </summary>
    public Func<X509Certificate2, string?>? UserNameFromCertificate { get; set; }

    /// <summary>Time a new connection has to complete the TLS handshake.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Loads the certificates once, at start; a missing or unreadable file is an error naming the file.</summary>
    internal MqttTlsContext Load()
    {
        X509Certificate2 cert;
        var chain = new X509Certificate2Collection();
        if (Certificate is not null)
        {
            cert = Certificate;
        }
        else if (CertificateFile is not null)
        {
            if (KeyFile is null)
                throw new ArgumentException($"TLS: certificate file '{CertificateFile}' is set but no key file (KeyFile)");
            cert = LoadFile(CertificateFile, () => X509Certificate2.CreateFromPemFile(CertificateFile, KeyFile), "certificate or key");
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(CertificateFile);
            foreach (var c in all)
            {
                if (c.Thumbprint != cert.Thumbprint)
                    chain.Add(c);
            }
        }
        else if (PfxFile is not null)
        {
            cert = LoadFile(PfxFile, () => X509CertificateLoader.LoadPkcs12FromFile(PfxFile, PfxPassword), "PKCS#12 file (or its password)");
        }
        else
        {
            throw new ArgumentException("TLS: no server certificate: set Certificate, CertificateFile + KeyFile, or PfxFile");
        }
        if (!cert.HasPrivateKey)
            throw new ArgumentException($"TLS: the server certificate '{cert.Subject}' has no private key");

        X509Certificate2Collection? ca = ClientCaCertificates;
        if (ClientCaFile is not null)
        {
            ca = [];
            LoadFile(ClientCaFile, () => { ca.ImportFromPemFile(ClientCaFile); return ca; }, "CA certificate");
            if (ca.Count == 0)
                throw new ArgumentException($"TLS: client CA file '{ClientCaFile}' holds no PEM certificate");
        }
        if (ClientCertificateMode != MqttClientCertificateMode.None && (ca is null || ca.Count == 0))
            throw new ArgumentException($"TLS: client certificates are {ClientCertificateMode} but no client CA is configured (ClientCaFile)");

        var trust = ClientCertificateMode != MqttClientCertificateMode.None ? SslCertificateTrust.CreateForX509Collection(ca!, sendTrustInHandshake: true) : null;
        var context = SslStreamCertificateContext.Create(cert, chain, offline: true, trust);
        return new MqttTlsContext(this, context, ClientCertificateMode == MqttClientCertificateMode.None ? null : ca);
    }

    private static T LoadFile<T>(string path, Func<T> load, string what)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"TLS: {what} file '{path}' does not exist", path);
        try
        {
            return load();
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or ArgumentException or IOException)
        {
            throw new ArgumentException($"TLS: cannot read the {what} from '{path}': {ex.Message}", ex);
        }
    }
}

/// <summary>What the TLS listener needs per connection, loaded once.</summary>
internal sealed class MqttTlsContext(MqttBrokerTlsOptions options, SslStreamCertificateContext certificate, X509Certificate2Collection? clientCa)
{
    public MqttBrokerTlsOptions Options { get; } = options;

    public TimeSpan HandshakeTimeout => Options.HandshakeTimeout;

    public SslServerAuthenticationOptions CreateServerOptions(RemoteCertificateValidationCallback validate)
    {
        var o = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = certificate,
            EnabledSslProtocols = Options.Protocols,
            ClientCertificateRequired = clientCa is not null,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = validate,
        };
        if (clientCa is not null)
        {
            o.CertificateChainPolicy = new X509ChainPolicy
            {
                TrustMode = X509ChainTrustMode.CustomRootTrust,
                RevocationMode = X509RevocationMode.NoCheck,
            };
            o.CertificateChainPolicy.CustomTrustStore.AddRange(clientCa);
        }
        return o;
    }

    /// <summary>Checks a client certificate (already chain-checked by SslStream against the client CA). Returns the
    /// user name, or null with <paramref name="reason"/> saying why the client is refused.</summary>
    public string? CheckClient(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors, out string? reason, out bool accepted)
    {
        reason = null;
        accepted = true;
        if (clientCa is null)
            return null;
        if (certificate is null)
        {
            if (Options.ClientCertificateMode == MqttClientCertificateMode.Required)
            {
                accepted = false;
                reason = "no client certificate";
            }
            return null;
        }
        // the chain is checked against the configured CA only; the server name check does not apply to clients
        errors &= ~SslPolicyErrors.RemoteCertificateNameMismatch;
        if (errors != SslPolicyErrors.None)
        {
            accepted = false;
            var status = chain?.ChainStatus.Where(s => s.Status != X509ChainStatusFlags.NoError).Select(s => s.Status.ToString()).ToList();
            reason = status is { Count: > 0 } ? $"{errors}: {string.Join(", ", status)}" : errors.ToString();
            return null;
        }
        var cert2 = certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        string? user = Options.UserNameFromCertificate is { } map ? map(cert2) : cert2.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (string.IsNullOrEmpty(user))
        {
            accepted = false;
            reason = "no user name from the certificate (empty common name or mapping)";
            return null;
        }
        return user;
    }
}
