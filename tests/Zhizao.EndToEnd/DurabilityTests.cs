using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Xunit.Abstractions;

namespace Zhizao.EndToEnd;

/// <summary>
/// SIGKILL the server while several writers stream line protocol into it, restart it on the same data directory,
/// and check that every acknowledged point is there with its exact value and that nothing else is corrupt.
/// Rounds: ZHIZAO_KILL_ROUNDS (default 6; the soak run uses more).
/// </summary>
public sealed class DurabilityTests(ITestOutputHelper output) : IDisposable
{
    private const int Writers = 4;
    private const int LinesPerBatch = 500;
    private const long BaseNs = 1_700_000_000_000_000_000;
    private readonly string _dir = Directory.CreateTempSubdirectory("zz-kill-").FullName;

    private static double ValueOf(int writer, long i) => Math.Round((i * 0.25) + writer, 2);

    [Fact]
    public async Task Acknowledged_points_survive_kill_9()
    {
        int rounds = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_KILL_ROUNDS"), out int r) ? r : 6;
        int seed = Environment.TickCount;
        output.WriteLine($"seed {seed}, {rounds} rounds");
        var rng = new Random(seed);
        var acked = Enumerable.Range(0, Writers).Select(_ => new List<long>()).ToArray(); // acknowledged batch starts per writer
        var next = new long[Writers];      // next index each writer will send
        long totalAcked = 0;

        for (int round = 0; round < rounds; round++)
        {
            // every other round seals the head into blocks many times a second, so kills land inside seals too
            await using var server = await ZhizaoProcess.StartAsync(_dir, round % 2 == 0 ? "--no-demo" : "--no-demo --head-flush-points 20000");
            foreach (string line in server.Log.Split('\n').Where(l => l.Contains("Storage", StringComparison.Ordinal) || l.Contains("WAL", StringComparison.Ordinal) || l.Contains("quarantined", StringComparison.Ordinal)))
            {
                output.WriteLine($"round {round} start: {line.Trim()}");
            }

            await VerifyAsync(server.Url, acked, round);

            using var stop = new CancellationTokenSource();
            var writers = Enumerable.Range(0, Writers).Select(w => Task.Run(() => WriteUntilKilledAsync(server.Url, w, next, acked, stop.Token))).ToArray();
            await Task.Delay(rng.Next(150, 1500));
            server.Kill9();
            stop.Cancel();
            await Task.WhenAll(writers);
            totalAcked = acked.Sum(a => (long)a.Count * LinesPerBatch);
            output.WriteLine($"round {round}: killed; acknowledged so far {totalAcked} points");
        }

        await using (var last = await ZhizaoProcess.StartAsync(_dir))
        {
            await VerifyAsync(last.Url, acked, rounds);
        }

        Assert.True(totalAcked > 0, "no write was acknowledged in any round: the test proved nothing");
    }

    private static async Task WriteUntilKilledAsync(string url, int writer, long[] next, List<long>[] acked, CancellationToken stop)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var sb = new StringBuilder();
        while (!stop.IsCancellationRequested)
        {
            long start = next[writer];
            sb.Clear();
            for (long i = start; i < start + LinesPerBatch; i++)
            {
                sb.Append("kill-w").Append(writer).Append(" v=").Append(ValueOf(writer, i).ToString("R", CultureInfo.InvariantCulture))
                  .Append(' ').Append(BaseNs + (i * 1_000_000)).Append('\n');
            }

            next[writer] = start + LinesPerBatch;
            try
            {
                using var resp = await http.PostAsync($"{url}/api/v2/write?precision=ns", new StringContent(sb.ToString(), Encoding.UTF8, "text/plain"), CancellationToken.None);
                if (resp.StatusCode != HttpStatusCode.NoContent)
                {
                    throw new InvalidOperationException($"write answered {(int)resp.StatusCode}: {await resp.Content.ReadAsStringAsync(CancellationToken.None)}");
                }

                acked[writer].Add(start); // only this writer's task touches its list while writing
            }
            catch (HttpRequestException)
            {
                return; // the server died under us: this batch is not acknowledged
            }
            catch (TaskCanceledException)
            {
                return;
            }
        }
    }

    private static async Task VerifyAsync(string url, List<long>[] acked, int round)
    {
        using var http = new HttpClient();
        for (int w = 0; w < Writers; w++)
        {
            if (acked[w].Count == 0)
            {
                continue;
            }

            // the raw query returns at most 1,000,000 points: page through (a fast machine writes more in 6 rounds)
            var tsList = new List<long>();
            var vsList = new List<double>();
            for (long from = 0; ;)
            {
                using var doc = JsonDocument.Parse(await http.GetStringAsync($"{url}/api/query/raw?series=kill-w{w}/v&from={from}&to={long.MaxValue}&limit=1000000"));
                var page = doc.RootElement.GetProperty("timestamps").EnumerateArray().Select(e => e.GetInt64()).ToArray();
                var pageValues = doc.RootElement.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
                Assert.Equal(page.Length, pageValues.Length);
                tsList.AddRange(page);
                vsList.AddRange(pageValues);
                if (page.Length < 1_000_000)
                {
                    break;
                }

                from = page[^1] + 1;
            }

            var ts = tsList.ToArray();
            var vs = vsList.ToArray();
            var present = new HashSet<long>();
            for (int k = 0; k < ts.Length; k++)
            {
                long i = (ts[k] - BaseNs) / 1_000_000;
                Assert.True((ts[k] - BaseNs) % 1_000_000 == 0, $"round {round}: writer {w}: unexpected timestamp {ts[k]}");
                Assert.True(k == 0 || ts[k] > ts[k - 1], $"round {round}: writer {w}: timestamps out of order or duplicated at {k}");
                Assert.True(ValueOf(w, i) == vs[k], $"round {round}: writer {w}: point {i} holds {vs[k]}, wrote {ValueOf(w, i)}");
                present.Add(i);
            }

            var missing = acked[w].SelectMany(start => Enumerable.Range(0, LinesPerBatch).Select(k => start + k)).Where(i => !present.Contains(i)).Take(5).ToList();
            Assert.True(missing.Count == 0, $"round {round}: writer {w}: acknowledged points lost, e.g. {string.Join(", ", missing)} ({acked[w].Count} batches acknowledged, {present.Count} points found)");
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(_dir, true);
        }
        catch (IOException)
        {
        }
    }
}
