using System.Runtime.InteropServices;

namespace Zhizao.Bench.Infrastructure;

/// <summary>What the figures were measured on.</summary>
internal sealed record MachineInfo(string Cpu, int Cores, string Os, string Runtime, string LoadAtStart)
{
    public string Summary => $"{Cores} cores ({Cpu}), {Os}, {Runtime}, load average at start {LoadAtStart}";

    public static MachineInfo Capture() => new(CpuModel(), Environment.ProcessorCount, RuntimeInformation.OSDescription,
        RuntimeInformation.FrameworkDescription, LoadAverage());

    /// <summary>The 1/5/15-minute load averages from /proc/loadavg, or "n/a".</summary>
    public static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return $"{parts[0]} {parts[1]} {parts[2]}";
        }
        catch (IOException)
        {
            return "n/a";
        }
        catch (UnauthorizedAccessException)
        {
            return "n/a";
        }
    }

    private static string CpuModel()
    {
        try
        {
            string? line = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("model name", StringComparison.Ordinal));
            return line is null ? RuntimeInformation.ProcessArchitecture.ToString() : line[(line.IndexOf(':', StringComparison.Ordinal) + 1)..].Trim();
        }
        catch (IOException)
        {
            return RuntimeInformation.ProcessArchitecture.ToString();
        }
    }
}
