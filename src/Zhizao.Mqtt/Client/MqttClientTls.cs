using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;

namespace Zhizao.Mqtt.Client;

/// <summary>
/// MQTT over TLS for <see cref="MqttClient"/>. The server certificate is checked against <see cref="CaFile"/> /
/// <see cref="TrustedCertificates"/> when set (then only those roots are trusted), else against the system's roots;
/// its name must match <see cref="TargetHost"/> (default: <see cref="MqttClientOptions.Host"/>), which is also sent as
/// SNI. <see cref="ValidateServerCertificate"/> replaces all of that with the caller's decision.
/// </summary>
public sealed class MqttClientTlsOptions
{
    /// <summary>PEM file with the CA certificate(s) the server's certificate must chain to.</summary>
    public string? CaFile { get; set; }

    public X509Certificate2Collection? TrustedCertificates { get; set; }

    /// <summary>Own decision on the server certificate (e.g. pinning); when set, the CA and name checks above are not made.</summary>
    public RemoteCertificateValidationCallback? ValidateServerCertificate { get; set; }

    /// <summary>Client certificate with its private key, for brokers that authenticate clients by certificate.</summary>
    public X509Certificate2? ClientCertificate { get; set; }

    /// <summary>PEM client certificate file (with <see cref="ClientKeyFile"/>), instead of <see cref="ClientCertificate"/>.</summary>
    public string? ClientCertificateFile { get; set; }

    public string? ClientKeyFile { get; set; }

    /// <summary>Server name for SNI and the certificate name check; null = the host connected to.</summary>
    public string? TargetHost { get; set; }

    /// <summary>None = what the system allows (TLS 1.2 and 1.3).</summary>
    public SslProtocols Protocols { get; set; } = SslProtocols.None;

    private SslClientAuthenticationOptions? _cached;

    /// <summary>Builds the SslStream options once (files read at the first connect; a bad file is an error naming it).</summary>
    internal SslClientAuthenticationOptions Build(string host)
    {
        if (_cached is { } c)
            return c;
        var o = new SslClientAuthenticationOptions
        {
            TargetHost = TargetHost ?? host,
            EnabledSslProtocols = Protocols,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
        };
        var trusted = TrustedCertificates;
        if (CaFile is not null)
        {
            trusted = [];
            try
            {
                trusted.ImportFromPemFile(CaFile);
            }
            catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or UnauthorizedAccessException)
            {
                throw new MqttClientException($"TLS: cannot read the CA file '{CaFile}': {ex.Message}", MqttReasonCode.UnspecifiedError, ex);
            }
            if (trusted.Count == 0)
                throw new MqttClientException($"TLS: the CA file '{CaFile}' holds no PEM certificate");
        }
        if (ValidateServerCertificate is not null)
        {
            o.RemoteCertificateValidationCallback = ValidateServerCertificate;
        }
        else if (trusted is not null)
        {
            o.CertificateChainPolicy = new X509ChainPolicy { TrustMode = X509ChainTrustMode.CustomRootTrust, RevocationMode = X509RevocationMode.NoCheck };
            o.CertificateChainPolicy.CustomTrustStore.AddRange(trusted);
        }
        var cert = ClientCertificate;
        if (cert is null && ClientCertificateFile is not null)
        {
            try
            {
                cert = X509Certificate2.CreateFromPemFile(ClientCertificateFile, ClientKeyFile);
            }
            catch (Exception ex) when (ex is IOException or System.Security.Cryptography.CryptographicException or ArgumentException or UnauthorizedAccessException)
            {
                throw new MqttClientException($"TLS: cannot read the client certificate '{ClientCertificateFile}' / key '{ClientKeyFile}': {ex.Message}", MqttReasonCode.UnspecifiedError, ex);
            }
        }
        if (cert is not null)
            o.ClientCertificateContext = SslStreamCertificateContext.Create(cert, additionalCertificates: null, offline: true);
        _cached = o;
        return o;
    }
}
