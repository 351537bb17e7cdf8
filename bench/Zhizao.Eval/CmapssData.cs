using System.Globalization;
using Zhizao.Analytics.Rul;

namespace Zhizao.Eval;

internal sealed record CmapssSubset(string Name, List<RunHistory> Train, List<RunHistory> Test, double[] TrueRul);

/// <summary>NASA C-MAPSS text files: unit, cycle, 3 settings, 21 sensors, space-separated.</summary>
internal static class CmapssData
{
    public static readonly string[] SensorNames =
    [
        "T2", "T24", "T30", "T50", "P2", "P15", "P30", "Nf", "Nc", "epr", "Ps30", "phi", "NRf", "NRc", "BPR",
        "farB", "htBleed", "Nf_dmd", "PCNfR_dmd", "W31", "W32",
    ];

    public static CmapssSubset Load(string dir, string subset)
    {
        var train = ReadRuns(Path.Combine(dir, $"train_{subset}.txt"));
        var test = ReadRuns(Path.Combine(dir, $"test_{subset}.txt"));
        var rulPath = Path.Combine(dir, $"RUL_{subset}.txt");
        var rul = File.ReadLines(rulPath).Where(l => l.Trim().Length > 0)
            .Select((l, i) => double.TryParse(l.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var v)
                ? v : throw new InvalidDataException($"{rulPath}:{i + 1}: not a number: '{l.Trim()}'"))
            .ToArray();
        if (rul.Length != test.Count)
            throw new InvalidDataException($"{rulPath}: {rul.Length} RUL values for {test.Count} test units");
        return new CmapssSubset(subset, train, test, rul);
    }

    private static List<RunHistory> ReadRuns(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"C-MAPSS file not found: {path}", path);
        var units = new SortedDictionary<int, List<(int Cycle, double[] Settings, double[] Sensors)>>();
        var lineNo = 0;
        foreach (var line in File.ReadLines(path))
        {
            lineNo++;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) continue;
            if (parts.Length != 26) throw new InvalidDataException($"{path}:{lineNo}: {parts.Length} columns, expected 26");
            var v = new double[26];
            for (var j = 0; j < 26; j++)
            {
                if (!double.TryParse(parts[j], NumberStyles.Float, CultureInfo.InvariantCulture, out v[j]) || !double.IsFinite(v[j]))
                    throw new InvalidDataException($"{path}:{lineNo}: column {j + 1} is not a number: '{parts[j]}'");
            }
            var unit = (int)v[0];
            if (!units.TryGetValue(unit, out var list)) units[unit] = list = [];
            list.Add(((int)v[1], v[2..5], v[5..26]));
        }
        return units.Select(u =>
        {
            var rows = u.Value.OrderBy(r => r.Cycle).ToList();
            return new RunHistory(u.Key, rows.Select(r => r.Settings).ToArray(), rows.Select(r => r.Sensors).ToArray());
        }).ToList();
    }

    /// <summary>The first <paramref name="cycles"/> cycles of a run (a test-like truncation).</summary>
    public static RunHistory Truncate(RunHistory run, int cycles) =>
        new(run.Unit, run.Settings[..cycles], run.Sensors[..cycles]);
}
