namespace Zhizao.Bench.Infrastructure;

/// <summary>A private temporary directory for one run; removed on dispose unless asked to keep it.</summary>
internal sealed class Workspace : IDisposable
{
    private readonly bool _keep;

    public Workspace(bool keep)
    {
        _keep = keep;
        Root = Path.Combine(Path.GetTempPath(), $"zhizao-bench-{Environment.ProcessId}-{Guid.NewGuid():N}"[..40]);
        Directory.CreateDirectory(Root);
        // Traversable by the postgres OS user when we run as root.
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(Root, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        }
    }

    public string Root { get; }

    public string Sub(string name)
    {
        string p = Path.Combine(Root, name);
        Directory.CreateDirectory(p);
        return p;
    }

    public void Dispose()
    {
        if (_keep)
        {
            Console.WriteLine($"kept temporary data in {Root}");
            return;
        }

        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException ex)
        {
            Console.Error.WriteLine($"warning: could not remove {Root}: {ex.Message}");
        }
        catch (UnauthorizedAccessException ex)
        {
            Console.Error.WriteLine($"warning: could not remove {Root}: {ex.Message}");
        }
    }
}
