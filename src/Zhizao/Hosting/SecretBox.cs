using System.Security.Cryptography;
using System.Text;

namespace Zhizao.Hosting;

/// <summary>
/// Seals secrets the node must store to use them later (an OPC UA connector's password) with AES-256-GCM under a key
/// kept beside the data: <c>{data directory}/secrets.key</c>, 32 random bytes created at first use, readable by the
/// node's user only (0600). A sealed value reads <c>enc:v1:</c> + base64(nonce ‖ tag ‖ ciphertext); a copy of
/// metadata.db without the key file does not give the password away. A value without the prefix (stored before this
/// existed) is read as clear text and sealed on its next save.
/// </summary>
public sealed class SecretBox
{
    public const string Prefix = "enc:v1:";
    private const int KeySize = 32, NonceSize = 12, TagSize = 16;
    private static readonly byte[] Context = "zhizao secret v1"u8.ToArray();

    private readonly byte[] _key;

    public SecretBox(string keyFile)
    {
        KeyFile = Path.GetFullPath(keyFile);
        _key = LoadOrCreate(KeyFile);
    }

    public string KeyFile { get; }

    public static SecretBox ForDataDirectory(string dataDirectory) => new(Path.Combine(dataDirectory, "secrets.key"));

    public static bool IsSealed(string? value) => value is not null && value.StartsWith(Prefix, StringComparison.Ordinal);

    public string Seal(string plain)
    {
        ArgumentNullException.ThrowIfNull(plain);
        byte[] data = Encoding.UTF8.GetBytes(plain);
        byte[] blob = new byte[NonceSize + TagSize + data.Length];
        var nonce = blob.AsSpan(0, NonceSize);
        RandomNumberGenerator.Fill(nonce);
        using var gcm = new AesGcm(_key, TagSize);
        gcm.Encrypt(nonce, data, blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), Context);
        return Prefix + Convert.ToBase64String(blob);
    }

    /// <summary>The clear text of a sealed value; a value without the prefix is returned as it is.</summary>
    /// <exception cref="CryptographicException">the value was sealed with another key, or altered.</exception>
    public string Open(string stored)
    {
        ArgumentNullException.ThrowIfNull(stored);
        if (!IsSealed(stored))
        {
            return stored;
        }

        byte[] blob;
        try
        {
            blob = Convert.FromBase64String(stored[Prefix.Length..]);
        }
        catch (FormatException)
        {
            throw new CryptographicException("the sealed secret is not valid base64");
        }

        if (blob.Length < NonceSize + TagSize)
        {
            throw new CryptographicException($"the sealed secret is {blob.Length} bytes, shorter than nonce and tag");
        }

        byte[] plain = new byte[blob.Length - NonceSize - TagSize];
        using var gcm = new AesGcm(_key, TagSize);
        try
        {
            gcm.Decrypt(blob.AsSpan(0, NonceSize), blob.AsSpan(NonceSize + TagSize), blob.AsSpan(NonceSize, TagSize), plain, Context);
        }
        catch (AuthenticationTagMismatchException)
        {
            throw new CryptographicException($"the secret was sealed with another key than {KeyFile} (or altered)");
        }

        return Encoding.UTF8.GetString(plain);
    }

    private static byte[] LoadOrCreate(string path)
    {
        if (File.Exists(path))
        {
            byte[] key = File.ReadAllBytes(path);
            return key.Length == KeySize
                ? key
                : throw new InvalidOperationException($"{path} holds {key.Length} bytes, not a {KeySize}-byte key; restore it from a backup or delete it (stored secrets then have to be entered again)");
        }

        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        byte[] created = RandomNumberGenerator.GetBytes(KeySize);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            using var f = new FileStream(path, options);
            f.Write(created);
            f.Flush(flushToDisk: true);
            return created;
        }
        catch (IOException) when (File.Exists(path))
        {
            return LoadOrCreate(path); // created by another process meanwhile
        }
    }
}
