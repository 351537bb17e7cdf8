using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Zhizao.OpcUa.Security;

/// <summary>The primitives of SecurityPolicy Basic256Sha256 (Part 7), all from the BCL.</summary>
internal static class CryptoUtils
{
    public const string RsaSha256SignatureUri = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    public const string RsaOaepEncryptionUri = "http://www.w3.org/2001/04/xmlenc#rsa-oaep";
    public const int NonceLength = 32;
    public const int SymmetricSignatureSize = 32;
    public const int SymmetricKeySize = 32;
    public const int SymmetricBlockSize = 16;
    public const int OaepSha1Overhead = 42;

    public static byte[] Nonce(int length = NonceLength) => RandomNumberGenerator.GetBytes(length);

    /// <summary>P_SHA256 from RFC 5246 section 5: HMAC_SHA256(secret, A(i) + seed) with A(0) = seed.</summary>
    public static byte[] PSha256(byte[] secret, byte[] seed, int length)
    {
        var output = new byte[length];
        byte[] a = seed;
        int written = 0;
        Span<byte> block = stackalloc byte[32];
        var buffer = new byte[32 + seed.Length];
        while (written < length)
        {
            a = HMACSHA256.HashData(secret, a);
            a.CopyTo(buffer, 0);
            seed.CopyTo(buffer, 32);
            HMACSHA256.HashData(secret, buffer, block);
            int n = Math.Min(32, length - written);
            block[..n].CopyTo(output.AsSpan(written));
            written += n;
        }
        return output;
    }

#pragma warning disable CA5350 // the receiver thumbprint is SHA-1 by definition (Part 6, 6.7.2.3)
    public static byte[] Thumbprint(byte[] certificateDer) => SHA1.HashData(certificateDer);
#pragma warning restore CA5350

    public static byte[] RsaSign(X509Certificate2 own, ReadOnlySpan<byte> data)
    {
        using RSA rsa = own.GetRSAPrivateKey() ?? throw new OpcUaSecurityException("own certificate has no RSA private key", StatusCodes.BadCertificateInvalid);
        return rsa.SignData(data.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public static bool RsaVerify(X509Certificate2 peer, ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        using RSA rsa = peer.GetRSAPublicKey() ?? throw new OpcUaSecurityException("peer certificate has no RSA public key", StatusCodes.BadCertificateInvalid);
        return rsa.VerifyData(data, signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
    }

    public static int KeySizeBytes(X509Certificate2 cert)
    {
        using RSA rsa = cert.GetRSAPublicKey() ?? throw new OpcUaSecurityException($"certificate {cert.Thumbprint} has no RSA key", StatusCodes.BadCertificateInvalid);
        return rsa.KeySize / 8;
    }

    /// <summary>RSA-OAEP (SHA-1) over as many blocks as needed; the input length must be a multiple of the plaintext block.</summary>
    public static byte[] RsaEncrypt(X509Certificate2 peer, ReadOnlySpan<byte> plain)
    {
        using RSA rsa = peer.GetRSAPublicKey() ?? throw new OpcUaSecurityException("peer certificate has no RSA public key", StatusCodes.BadCertificateInvalid);
        int keyBytes = rsa.KeySize / 8;
        int plainBlock = keyBytes - OaepSha1Overhead;
        int blocks = (plain.Length + plainBlock - 1) / plainBlock;
        var output = new byte[blocks * keyBytes];
        for (int i = 0; i < blocks; i++)
        {
            var chunk = plain.Slice(i * plainBlock, Math.Min(plainBlock, plain.Length - i * plainBlock));
            if (!rsa.TryEncrypt(chunk, output.AsSpan(i * keyBytes, keyBytes), RSAEncryptionPadding.OaepSHA1, out _))
                throw new OpcUaSecurityException("RSA encryption failed", StatusCodes.BadSecurityChecksFailed);
        }
        return output;
    }

    public static byte[] RsaDecrypt(X509Certificate2 own, ReadOnlySpan<byte> cipher)
    {
        using RSA rsa = own.GetRSAPrivateKey() ?? throw new OpcUaSecurityException("own certificate has no RSA private key", StatusCodes.BadCertificateInvalid);
        int keyBytes = rsa.KeySize / 8;
        if (cipher.Length % keyBytes != 0)
            throw new OpcUaSecurityException($"encrypted block of {cipher.Length} bytes is not a multiple of the {keyBytes}-byte RSA block", StatusCodes.BadSecurityChecksFailed);
        using var output = new MemoryStream();
        var block = new byte[keyBytes];
        for (int i = 0; i < cipher.Length; i += keyBytes)
        {
            try
            {
                if (!rsa.TryDecrypt(cipher.Slice(i, keyBytes), block, RSAEncryptionPadding.OaepSHA1, out int n))
                    throw new OpcUaSecurityException("RSA decryption failed", StatusCodes.BadSecurityChecksFailed);
                output.Write(block, 0, n);
            }
            catch (CryptographicException e)
            {
                throw new OpcUaSecurityException("RSA decryption failed: " + e.Message, StatusCodes.BadSecurityChecksFailed, e);
            }
        }
        return output.ToArray();
    }
}

/// <summary>Keys of one direction of one security token (Part 6, 6.7.5).</summary>
internal sealed class SymmetricKeys : IDisposable
{
    private readonly Aes _aes;

    public SymmetricKeys(byte[] secret, byte[] seed)
    {
        byte[] material = CryptoUtils.PSha256(secret, seed, CryptoUtils.SymmetricKeySize * 2 + CryptoUtils.SymmetricBlockSize);
        SigningKey = material[..32];
        EncryptingKey = material[32..64];
        Iv = material[64..80];
        _aes = Aes.Create();
        _aes.Key = EncryptingKey;
    }

    public byte[] SigningKey { get; }
    public byte[] EncryptingKey { get; }
    public byte[] Iv { get; }

    public void Sign(ReadOnlySpan<byte> data, Span<byte> signature) => HMACSHA256.HashData(SigningKey, data, signature);

    public bool Verify(ReadOnlySpan<byte> data, ReadOnlySpan<byte> signature)
    {
        Span<byte> expected = stackalloc byte[32];
        HMACSHA256.HashData(SigningKey, data, expected);
        return CryptographicOperations.FixedTimeEquals(expected, signature);
    }

    public void Encrypt(Span<byte> data) => _aes.EncryptCbc(data, Iv, data, PaddingMode.None);

    public void Decrypt(Span<byte> data) => _aes.DecryptCbc(data, Iv, data, PaddingMode.None);

    public void Dispose() => _aes.Dispose();
}
