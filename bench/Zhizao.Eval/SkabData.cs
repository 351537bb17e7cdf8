using System.Globalization;

namespace Zhizao.Eval;

internal sealed record SkabFile(string Name, string[] FeatureNames, DateTime[] Times, double[][] Features, bool[] Anomaly, bool[] Changepoint);

internal static class SkabData
{
    public const int TrainRows = 400;

    /// <summary>Every labelled CSV under DIR/data (or DIR), anomaly-free.csv excluded, in group then numeric order.</summary>
    public static List<SkabFile> Load(string dir)
    {
        var dataDir = Directory.Exists(Path.Combine(dir, "data")) ? Path.Combine(dir, "data") : dir;
        var files = Directory.EnumerateFiles(dataDir, "*.csv", SearchOption.AllDirectories)
            .Where(f => !Path.GetFileName(f).Equals("anomaly-free.csv", StringComparison.OrdinalIgnoreCase))
            .Select(f => (Group: Path.GetFileName(Path.GetDirectoryName(f)!), Path: f,
                Number: int.TryParse(Path.GetFileNameWithoutExtension(f), out var n) ? n : int.MaxValue))
            .OrderBy(f => f.Group, StringComparer.Ordinal).ThenBy(f => f.Number).ThenBy(f => f.Path, StringComparer.Ordinal)
            .ToList();
        return files.Select(f => Read(f.Path, $"{f.Group}/{Path.GetFileName(f.Path)}")).ToList();
    }

    private static SkabFile Read(string path, string name)
    {
        using var reader = new StreamReader(path);
        var header = (reader.ReadLine() ?? throw new InvalidDataException($"{name}: empty file")).Split(';');
        var anomalyCol = Array.IndexOf(header, "anomaly");
        var cpCol = Array.IndexOf(header, "changepoint");
        if (header[0] != "datetime" || anomalyCol < 0 || cpCol < 0)
            throw new InvalidDataException($"{name}: expected columns datetime;...;anomaly;changepoint");
        var featureCols = Enumerable.Range(1, header.Length - 1).Where(c => c != anomalyCol && c != cpCol).ToArray();
        var times = new List<DateTime>();
        var rows = new List<double[]>();
        var anomaly = new List<bool>();
        var cps = new List<bool>();
        var lineNo = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNo++;
            if (line.Length == 0) continue;
            var parts = line.Split(';');
            if (parts.Length != header.Length)
                throw new InvalidDataException($"{name} line {lineNo}: {parts.Length} fields, header has {header.Length}");
            times.Add(DateTime.ParseExact(parts[0], "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture));
            rows.Add(featureCols.Select(c => Number(parts[c], name, lineNo)).ToArray());
            anomaly.Add(Number(parts[anomalyCol], name, lineNo) != 0);
            cps.Add(Number(parts[cpCol], name, lineNo) != 0);
        }
        return new SkabFile(name, featureCols.Select(c => header[c]).ToArray(), [.. times], [.. rows], [.. anomaly], [.. cps]);
    }

    private static double Number(string s, string name, int line) =>
        double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) && double.IsFinite(v)
            ? v
            : throw new InvalidDataException($"{name} line {line}: '{s}' is not a number");
}
