namespace Zhizao.Bench;

/// <summary>Sizes and knobs of one storage benchmark run. Profiles set the defaults; flags override them.</summary>
internal sealed record BenchOptions
{
    public static readonly string[] AllEngines = ["zhizao", "postgres", "influx", "sqlite"];

    public string Profile { get; init; } = "quick";

    /// <summary>Series in the ingest data set (1 Hz each).</summary>
    public int Series { get; init; } = 1_000;

    /// <summary>Seconds (= points) per ingest series.</summary>
    public int Seconds { get; init; } = 3_600;

    /// <summary>Points of the one extra series the aggregation query reads (a full day at 1 Hz).</summary>
    public int DaySeconds { get; init; } = 86_400;

    /// <summary>Concurrent writers for engines that accept concurrent writes (SQLite always uses one).</summary>
    public int Writers { get; init; } = 4;

    /// <summary>Points per write call / COPY / SQLite transaction.</summary>
    public int BatchPoints { get; init; } = 50_000;

    /// <summary>Lines per InfluxDB HTTP write (Influx recommends 5,000–10,000).</summary>
    public int InfluxBatchLines { get; init; } = 5_000;

    public int Warmup { get; init; } = 5;
    public int Repetitions { get; init; } = 30;
    public IReadOnlySet<string> Engines { get; init; } = new HashSet<string>(AllEngines, StringComparer.OrdinalIgnoreCase);
    public string? OutputDirectory { get; init; }
    public bool KeepTemp { get; init; }

    /// <summary>"generator" (default) or "sim": the ingest set from the virtual factory simulator.</summary>
    public string DataSource { get; init; } = "generator";

    /// <summary>How long to wait for InfluxDB to snapshot its WAL and compact before measuring its bytes on disk.</summary>
    public TimeSpan InfluxSettleTimeout { get; init; } = TimeSpan.FromSeconds(90);

    public int LatestTags => Math.Min(1_000, Series);
    public long IngestPoints => (long)Series * Seconds;
    public long TotalPoints => IngestPoints + DaySeconds;

    public static BenchOptions ForProfile(string profile) => profile switch
    {
        "smoke" => new BenchOptions
        {
            Profile = "smoke", Series = 50, Seconds = 600, DaySeconds = 86_400, Writers = 2, BatchPoints = 10_000,
            Warmup = 1, Repetitions = 3, InfluxSettleTimeout = TimeSpan.FromSeconds(10),
        },
        "quick" => new BenchOptions(),
        "full" => new BenchOptions
        {
            Profile = "full", Series = 1_000, Seconds = 21_600, Repetitions = 50, InfluxSettleTimeout = TimeSpan.FromSeconds(180),
        },
        _ => throw new ArgumentException($"unknown profile '{profile}' (expected smoke, quick or full)"),
    };

    /// <summary>Parses <c>[storage] [--profile quick|full|smoke] [--smoke] [--series N] ...</c>.</summary>
    public static BenchOptions Parse(IReadOnlyList<string> args)
    {
        var list = args.ToList();
        if (list.Count > 0 && list[0] == "storage")
        {
            list.RemoveAt(0);
        }

        string profile = "quick";
        for (int i = 0; i < list.Count; i++)
        {
            if (list[i] == "--smoke")
            {
                profile = "smoke";
            }
            else if (list[i] == "--profile" && i + 1 < list.Count)
            {
                profile = list[i + 1];
            }
        }

        var o = ForProfile(profile);
        for (int i = 0; i < list.Count; i++)
        {
            string a = list[i];
            switch (a)
            {
                case "--smoke": break;
                case "--profile": i++; break;
                case "--series": o = o with { Series = PositiveInt(list, ++i, a) }; break;
                case "--seconds": o = o with { Seconds = PositiveInt(list, ++i, a) }; break;
                case "--day-seconds": o = o with { DaySeconds = PositiveInt(list, ++i, a) }; break;
                case "--writers": o = o with { Writers = PositiveInt(list, ++i, a) }; break;
                case "--batch": o = o with { BatchPoints = PositiveInt(list, ++i, a) }; break;
                case "--influx-batch": o = o with { InfluxBatchLines = PositiveInt(list, ++i, a) }; break;
                case "--reps": o = o with { Repetitions = PositiveInt(list, ++i, a) }; break;
                case "--warmup": o = o with { Warmup = PositiveInt(list, ++i, a) }; break;
                case "--out": o = o with { OutputDirectory = Value(list, ++i, a) }; break;
                case "--keep": o = o with { KeepTemp = true }; break;
                case "--data":
                    string source = Value(list, ++i, a);
                    o = o with { DataSource = source is "generator" or "sim" ? source : throw new ArgumentException($"--data: expected generator or sim, got '{source}'") };
                    break;
                case "--influx-settle-s": o = o with { InfluxSettleTimeout = TimeSpan.FromSeconds(PositiveInt(list, ++i, a)) }; break;
                case "--engines":
                    var engines = Value(list, ++i, a).Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                    foreach (string e in engines)
                    {
                        if (!AllEngines.Contains(e, StringComparer.OrdinalIgnoreCase))
                        {
                            throw new ArgumentException($"--engines: unknown engine '{e}' (expected {string.Join(",", AllEngines)})");
                        }
                    }

                    o = o with { Engines = new HashSet<string>(engines, StringComparer.OrdinalIgnoreCase) };
                    break;
                default: throw new ArgumentException($"unknown argument '{a}'\n{Usage}");
            }
        }

        return o;
    }

    public const string Usage = """
        usage: Zhizao.Bench storage [--profile smoke|quick|full] [--smoke]
                 [--series N] [--seconds N] [--day-seconds N] [--writers N] [--batch N] [--influx-batch N]
                 [--reps N] [--warmup N] [--engines zhizao,postgres,influx,sqlite] [--out DIR] [--keep]
                 [--data generator|sim]   (sim: the virtual factory's float tags; --series is then ignored)
                 [--influx-settle-s N]
        """;

    private static string Value(List<string> list, int i, string flag) =>
        i < list.Count ? list[i] : throw new ArgumentException($"{flag} needs a value");

    private static int PositiveInt(List<string> list, int i, string flag) =>
        int.TryParse(Value(list, i, flag), out int v) && v > 0 ? v : throw new ArgumentException($"{flag} needs a positive integer, got '{list[i]}'");
}
