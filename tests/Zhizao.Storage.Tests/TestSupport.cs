using Zhizao.Core;

namespace Zhizao.Storage.Tests;

internal sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "zhizao-storage-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    public string Copy()
    {
        string target = Path + "-copy-" + Guid.NewGuid().ToString("N")[..6];
        Directory.CreateDirectory(target);
        foreach (string f in Directory.EnumerateFiles(Path))
        {
            File.Copy(f, System.IO.Path.Combine(target, System.IO.Path.GetFileName(f)));
        }

        return target;
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}

internal static class T
{
    public const long S = 1_000_000_000L;
    public const long Base = 1_700_000_000L * S; // 2023-11-14

    public static StorageOptions Quiet(FsyncPolicy fsync = FsyncPolicy.Always) =>
        new() { BackgroundMaintenance = false, Fsync = fsync };

    public static double Value(DataPoint p) => p.Value.AsDouble;
}
