using System.Diagnostics;
using System.Globalization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Playwright;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

namespace Zhizao.Bench.WebConsole;

/// <summary>
/// The console's page-load goal: an equipment page with a year of 1 Hz data for the shown tags opens in under a
/// second on loopback. Fills a store with N days of 1 Hz data for one machine (state + 3 analog tags, the ones the
/// equipment page trends by default), starts a node on it, and times in Debian's Chromium: opening the page until the
/// trend is drawn, and switching the trend to the whole year until it is redrawn.
/// </summary>
public static class ConsoleLoadBench
{
    public const string Usage = "console [--days 365] [--runs 7] [--keep]   web console page loads over N days of 1 Hz data (needs /usr/bin/chromium)";

    private const string Equipment = "year-01";
    private static readonly string[] AnalogTags = ["temperature", "pressure", "current"];

    public static async Task<int> RunAsync(string[] args)
    {
        int days = Arg(args, "--days", 365);
        int runs = Arg(args, "--runs", 7);
        string dir = Directory.CreateTempSubdirectory("zz-console-bench-").FullName;
        try
        {
            long endNs = Time.NowNs() / Time.NanosPerSecond * Time.NanosPerSecond;
            long startNs = endNs - (days * 86_400L * Time.NanosPerSecond);
            var fill = Stopwatch.StartNew();
            long points = await FillAsync(dir, startNs, endNs);
            Console.WriteLine($"filled {points:N0} points ({days} days × 4 tags at 1 Hz) in {fill.Elapsed.TotalSeconds:F1} s; store on disk {DirBytes(Path.Combine(dir, "tsdb")) / 1e6:F1} MB");

            await using var app = ServerHost.Build(new PlatformOptions { DataDirectory = dir, Urls = "http://127.0.0.1:0", Demo = false });
            await app.StartAsync();
            string url = app.BoundAddress();

            using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
            var api = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                var sw = Stopwatch.StartNew();
                await Task.WhenAll(AnalogTags.Select(tag =>
                    http.GetStringAsync($"api/query/aggregate?series={Equipment}/{tag}&from={startNs}&to={endNs}&bucket=43200s")));
                api.Add(sw.Elapsed.TotalMilliseconds);
            }

            // where the time goes: one series, sequentially, the whole range vs the range without its last 30 days
            var whole = new List<double>();
            var older = new List<double>();
            long monthNs = 30 * 86_400L * Time.NanosPerSecond;
            for (int i = 0; i < runs; i++)
            {
                var sw = Stopwatch.StartNew();
                await http.GetStringAsync($"api/query/aggregate?series={Equipment}/temperature&from={startNs}&to={endNs}&bucket=43200s");
                whole.Add(sw.Elapsed.TotalMilliseconds);
                sw.Restart();
                await http.GetStringAsync($"api/query/aggregate?series={Equipment}/temperature&from={startNs}&to={endNs - monthNs}&bucket=43200s");
                older.Add(sw.Elapsed.TotalMilliseconds);
            }

            using var playwright = await Playwright.CreateAsync();
            await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = "/usr/bin/chromium", Headless = true });
            var open = new List<double>();
            var year = new List<double>();
            for (int i = 0; i < runs; i++)
            {
                var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
                var sw = Stopwatch.StartNew();
                await page.GotoAsync($"{url}/#/equipment/{Equipment}");
                await page.WaitForSelectorAsync("#chart canvas");
                await page.WaitForSelectorAsync("#timeline span");
                open.Add(sw.Elapsed.TotalMilliseconds);

                string before = await page.Locator("#chart").GetAttributeAsync("data-points") ?? "";
                sw.Restart();
                await page.Locator("#ranges button[data-range='1y']").ClickAsync();
                await page.WaitForFunctionAsync("b => document.querySelector('#chart').dataset.points !== b && document.querySelector('#ranges button.on')?.dataset.range === '1y'", before);
                year.Add(sw.Elapsed.TotalMilliseconds);
                await page.CloseAsync();
            }

            Console.WriteLine($"{"what",-58} {"median ms",10} {"max ms",8}");
            Report("API: 3 tags × 1 year aggregated (730 buckets each), parallel", api);
            Report("API: 1 tag, whole range, sequential", whole);
            Report("API: 1 tag, range without its last 30 days", older);
            Report("browser: open the equipment page until trend + timeline drawn", open);
            Report("browser: switch the trend to 1 year until redrawn", year);
            Console.WriteLine($"goal: < 1000 ms → {(Median(open) < 1000 && Median(year) < 1000 ? "met" : "NOT met")} (medians of {runs} runs; first run includes JIT warm-up)");
            await app.StopAsync();
            return 0;
        }
        finally
        {
            if (!args.Contains("--keep"))
            {
                Directory.Delete(dir, recursive: true);
            }
            else
            {
                Console.WriteLine($"kept {dir}");
            }
        }
    }

    private static async Task<long> FillAsync(string dir, long startNs, long endNs)
    {
        using (var meta = MetadataStore.Open(Path.Combine(dir, "metadata.db")))
        {
            meta.Import(new AssetModelDocument
            {
                Types =
                [
                    new EquipmentType
                    {
                        Id = "press", Name = "Hydraulic press",
                        Tags =
                        [
                            new TagDefinition { Name = "state", DataType = ValueKind.Int64, Description = "0 down, 1 idle, 2 running" },
                            new TagDefinition { Name = "temperature", Unit = "°C" },
                            new TagDefinition { Name = "pressure", Unit = "bar" },
                            new TagDefinition { Name = "current", Unit = "A" },
                        ],
                    },
                ],
                Assets =
                [
                    new Asset { Id = "bench", Name = "Bench enterprise", Level = AssetLevel.Enterprise },
                    new Asset { Id = "bench-line", Name = "Bench line", Level = AssetLevel.Line, ParentId = "bench" },
                    new Asset { Id = Equipment, Name = "Press with a year of data", Level = AssetLevel.Equipment, ParentId = "bench-line", TypeId = "press" },
                ],
            });
        }

        using var store = TimeSeriesEngine.Open(Path.Combine(dir, "tsdb"));
        int state = store.GetOrCreateSeries($"{Equipment}/state", ValueKind.Int64).Id;
        int temp = store.GetOrCreateSeries($"{Equipment}/temperature", ValueKind.Float64).Id;
        int pressure = store.GetOrCreateSeries($"{Equipment}/pressure", ValueKind.Float64).Id;
        int current = store.GetOrCreateSeries($"{Equipment}/current", ValueKind.Float64).Id;
        var batch = new PointBatch(1 << 20);
        var rng = new Random(7);
        long total = 0, steps = (endNs - startNs) / Time.NanosPerSecond, done = 0;
        int s = 2;
        double tv = 60;
        for (long t = startNs; t < endNs; t += Time.NanosPerSecond)
        {
            if (rng.Next(3600) == 0)
            {
                s = rng.Next(3);
            }

            double day = Math.Sin(2 * Math.PI * (t / Time.NanosPerSecond % 86_400) / 86_400.0);
            tv += ((s == 2 ? 62 + (4 * day) : 30) - tv) * 0.002;
            batch.Add(state, t, (long)s);
            batch.Add(temp, t, Math.Round(tv + (rng.NextDouble() * 0.2), 1));
            batch.Add(pressure, t, s == 2 ? Math.Round(180 + (rng.NextDouble() * 4), 1) : 0.0);
            batch.Add(current, t, s == 2 ? Math.Round(42 + (rng.NextDouble() * 3), 2) : 0.5);
            if (batch.Count >= (1 << 20) - 8)
            {
                total += (await store.WriteAsync(batch)).Accepted;
                batch.Clear();
            }

            if (++done % (steps / 10) == 0)
            {
                Console.Error.Write($"\rfilling: {done * 100 / steps}%");
            }
        }

        total += (await store.WriteAsync(batch)).Accepted;
        Console.Error.WriteLine();
        return total;
    }

    private static void Report(string what, List<double> ms) =>
        Console.WriteLine($"{what,-58} {Median(ms),10:F0} {ms.Max(),8:F0}");

    private static double Median(List<double> xs)
    {
        var s = xs.Order().ToList();
        return s.Count % 2 == 1 ? s[s.Count / 2] : (s[(s.Count / 2) - 1] + s[s.Count / 2]) / 2;
    }

    private static long DirBytes(string dir) => Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories).Sum(f => new FileInfo(f).Length);

    private static int Arg(string[] args, string name, int fallback)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
