using System.Diagnostics;
using System.Globalization;
using System.Text;
using Zhizao.Analytics.Anomaly;
using Zhizao.Eval;

var root = EvalCommand.FindRepoRoot();
return args.FirstOrDefault() switch
{
    "cmapss" => CmapssCommand.Run(args[1..], root),
    "ai4i" => Ai4iCommand.Run(args[1..], root),
    "train-speed" => TrainSpeedCommand.Run(args[1..]),
    "skab" => EvalCommand.Run(args[1..]),
    "all" => AllCommand.Run(args[1..], root),
    _ => EvalCommand.Run(args),
};

/// <summary>`all [--datasets DIR] [--out DIR]`: every benchmark of issue 4 in one command (SKAB, C-MAPSS, AI4I), each on
/// DIR/skab, DIR/cmapss, DIR/ai4i2020, predictions under OUT/skab, OUT/cmapss, OUT/ai4i; a data set that is missing is
/// reported and skipped, the exit code says whether every one ran.</summary>
internal static class AllCommand
{
    public static int Run(string[] args, string? root)
    {
        string? datasets = null, outDir = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--datasets" when i + 1 < args.Length: datasets = args[++i]; break;
                case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
                default:
                    Console.Error.WriteLine("usage: Zhizao.Eval all [--datasets DIR (holding skab/, cmapss/, ai4i2020/; default ../shared/datasets)] [--out DIR]");
                    return 2;
            }
        }

        string Data(string name) => datasets is null ? EvalCommand.DefaultDataDir(root, name) ?? name : Path.Combine(datasets, name);
        string Out(string name) => Path.Combine(outDir ?? Path.Combine(root ?? ".", "bench", "Zhizao.Eval", "out"), name);
        var runs = new (string Name, Func<int> Run)[]
        {
            ("SKAB", () => EvalCommand.Run(["--data", Data("skab"), "--out", Out("skab")])),
            ("C-MAPSS", () => CmapssCommand.Run(["--data", Data("cmapss"), "--out", Out("cmapss")], root)),
            ("AI4I 2020", () => Ai4iCommand.Run(["--data", Data("ai4i2020"), "--out", Out("ai4i")], root)),
        };
        var failed = new List<string>();
        foreach (var (name, run) in runs)
        {
            Console.WriteLine($"==== {name} ====");
            var sw = Stopwatch.StartNew();
            int rc = run();
            Console.WriteLine($"==== {name}: {(rc == 0 ? "done" : $"exit code {rc}")} in {sw.Elapsed.TotalSeconds:0} s ====");
            if (rc != 0)
            {
                failed.Add(name);
            }
        }

        Console.WriteLine(failed.Count == 0 ? "all benchmarks ran" : $"did not run: {string.Join(", ", failed)}");
        return failed.Count == 0 ? 0 : 1;
    }
}

internal static class EvalCommand
{
    private const string Usage =
        "usage: Zhizao.Eval [--data DIR] [--out DIR] [--models t2,pca,mset,ensemble-all,ensemble]\n" +
        "  --data    SKAB folder (with data/); default ../shared/datasets/skab from the repository root\n" +
        "  --out     where the prediction CSVs go; default bench/Zhizao.Eval/out\n" +
        "  --models  comma-separated subset; default all";

    public static int Run(string[] args)
    {
        string? data = null, outDir = null, models = null;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--data" when i + 1 < args.Length: data = args[++i]; break;
                case "--out" when i + 1 < args.Length: outDir = args[++i]; break;
                case "--models" when i + 1 < args.Length: models = args[++i]; break;
                case "-h" or "--help": Console.WriteLine(Usage); return 0;
                default: Console.Error.WriteLine($"unknown or incomplete argument '{args[i]}'\n{Usage}"); return 2;
            }
        }
        var root = FindRepoRoot();
        data ??= DefaultDataDir(root, "skab");
        if (data is null || !Directory.Exists(data))
        {
            Console.Error.WriteLine($"SKAB data not found at '{data ?? "(no repository root found)"}'; pass --data DIR " +
                                    "(the folder holding SKAB's data/ with valve1, valve2, other).");
            return 3;
        }
        outDir ??= Path.Combine(root ?? ".", "bench", "Zhizao.Eval", "out");
        Directory.CreateDirectory(outDir);

        var selected = models is null
            ? Models.All
            : models.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                .Select(k => Models.All.FirstOrDefault(m => m.Key == k) ?? throw new ArgumentException($"unknown model '{k}'"))
                .ToList();

        var sw = Stopwatch.StartNew();
        List<SkabFile> files;
        try
        {
            files = SkabData.Load(data);
        }
        catch (InvalidDataException e)
        {
            Console.Error.WriteLine(e.Message);
            return 3;
        }
        if (files.Count == 0)
        {
            Console.Error.WriteLine($"no labelled SKAB CSV files under '{data}'");
            return 3;
        }
        var groups = string.Join(", ", files.GroupBy(f => f.Name.Split('/')[0]).Select(g => $"{g.Key} ({g.Count()})"));
        var testRows = files.Sum(f => f.Features.Length - SkabData.TrainRows);
        var results = selected.Select(m => Evaluator.Run(m, files, outDir)).ToList();
        Console.Write(Report(results, files.Count, groups, testRows));
        Console.WriteLine($"\npredictions: {outDir}/skab-<model>.csv; total {sw.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    private static string Report(List<ModelResult> results, int files, string groups, int testRows)
    {
        var sb = new StringBuilder();
        var ic = CultureInfo.InvariantCulture;
        sb.AppendLine(ic, $"SKAB: {files} files [{groups}], {testRows} test points (first {SkabData.TrainRows} rows of each file train), NAB window {Evaluator.NabWindowSeconds} s");
        sb.AppendLine();
        sb.AppendLine("| Model | F1 | FAR % | MAR % | NAB std | NAB LowFP | NAB LowFN | Missed CPs | FPs | time s |");
        sb.AppendLine("|---|---|---|---|---|---|---|---|---|---|");
        foreach (var r in results)
        {
            var c = r.Confusion;
            var std = r.Nab[0];
            sb.AppendLine(ic, $"| **{r.Model.Title}** (this run) | {c.F1:F2} | {c.FarPercent:F2} | {c.MarPercent:F2} | " +
                              $"{std.Normalised(NabProfile.Standard):F2} | {r.Nab[1].Normalised(NabProfile.LowFalsePositives):F2} | " +
                              $"{r.Nab[2].Normalised(NabProfile.LowFalseNegatives):F2} | {std.Missed}/{std.Windows} | {std.FalsePositives} | {r.Seconds:F1} |");
            if (r.Model.Published is { } p)
            {
                var o = Published.Outliers.First(x => x.Name == p);
                var cp = Published.Changepoints.First(x => x.Name == p);
                sb.AppendLine(ic, $"| {p} (published) | {o.F1:F2} | {o.Far:F2} | {o.Mar:F2} | {cp.Std:F2} | {cp.LowFp:F2} | {cp.LowFn:F2} | {cp.Missed}/129 | {cp.Fps} | |");
            }
        }
        sb.AppendLine("| Conv-AE (published, best F1) | 0.78 | 13.55 | 28.02 | 23.61 | 21.54 | 27.55 | 82/129 | 23 | |");
        sb.AppendLine("| MSCRED (published, best NAB) | 0.36 | 49.94 | 69.88 | 32.42 | 16.53 | 40.28 | 55/129 | 342 | |");
        return sb.ToString();
    }

    /// <summary>shared/datasets/NAME in the first ancestor of the repository root that has it (worktrees sit deeper).</summary>
    public static string? DefaultDataDir(string? root, string name)
    {
        if (root is null) return null;
        var first = Path.GetFullPath(Path.Combine(root, "..", "shared", "datasets", name));
        for (var d = new DirectoryInfo(root).Parent; d is not null; d = d.Parent)
        {
            var candidate = Path.Combine(d.FullName, "shared", "datasets", name);
            if (Directory.Exists(candidate)) return candidate;
        }
        return first;
    }

    public static string? FindRepoRoot()
    {
        foreach (var start in new[] { Directory.GetCurrentDirectory(), AppContext.BaseDirectory })
        {
            for (var d = new DirectoryInfo(start); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Zhizao.slnx"))) return d.FullName;
        }
        return null;
    }
}
