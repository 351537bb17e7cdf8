using System.Net.Http.Headers;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Playwright;
using Zhizao.Hosting;

namespace Zhizao.Browser.Tests;

/// <summary>
/// A real node (Kestrel on a free loopback port, the virtual factory publishing over HTTP, real storage) and Debian's
/// Chromium driven by Playwright. The browser is the system one (/usr/bin/chromium, or ZHIZAO_CHROMIUM): nothing is
/// downloaded.
/// </summary>
public sealed class ConsoleFixture : IAsyncLifetime
{
    private WebApplication? _app;

    /// <summary>The demo's developing compressor fault fails this soon, so the seeded-fault alarms come during the tests.</summary>
    public const double StartFaultMinutes = 1;

    public string Url { get; private set; } = "";
    public HttpClient Api { get; private set; } = null!;
    public IPlaywright Playwright { get; private set; } = null!;
    public IBrowser Browser { get; private set; } = null!;
    public string DataDirectory { get; } = Directory.CreateTempSubdirectory("zz-console-").FullName;

    public static string ChromiumPath => Environment.GetEnvironmentVariable("ZHIZAO_CHROMIUM") is { Length: > 0 } p ? p : "/usr/bin/chromium";

    public async Task InitializeAsync()
    {
        Browser = await LaunchAsync();
        _app = await StartNodeAsync(new PlatformOptions { DataDirectory = DataDirectory, Urls = "http://127.0.0.1:0", Demo = true, DemoStartFaultMinutes = StartFaultMinutes });
        Url = _app.BoundAddress();
        Api = new HttpClient { BaseAddress = new Uri(Url + "/"), Timeout = TimeSpan.FromSeconds(30) };
        await WaitForDemoAsync();
    }

    public async Task<IBrowser> LaunchAsync()
    {
        if (!File.Exists(ChromiumPath))
        {
            throw new InvalidOperationException(
                $"Chromium is not installed at {ChromiumPath}: the browser tests need it (apt-get install -y chromium, or set ZHIZAO_CHROMIUM)");
        }

        Playwright ??= await Microsoft.Playwright.Playwright.CreateAsync();
        return await Playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions { ExecutablePath = ChromiumPath, Headless = true });
    }

    public static async Task<WebApplication> StartNodeAsync(PlatformOptions options)
    {
        var app = ServerHost.Build(options);
        await app.StartAsync();
        return app;
    }

    /// <summary>A fresh page (own context: own storage) at the given console route, 1400×900, English.</summary>
    public async Task<IPage> OpenAsync(string route = "#/", string lang = "en", string? baseUrl = null)
    {
        var context = await Browser.NewContextAsync(new BrowserNewContextOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 }, Locale = "en-GB" });
        await context.AddInitScriptAsync($"if (!localStorage.getItem('zhizao.lang')) localStorage.setItem('zhizao.lang', '{lang}')");
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout(20_000);
        var errors = new List<string>();
        page.PageError += (_, e) => errors.Add(e);
        page.Console += (_, m) =>
        {
            if (m.Type == "error")
            {
                errors.Add(m.Text);
            }
        };
        PageErrors[page] = errors;
        await page.GotoAsync((baseUrl ?? Url) + "/" + route);
        return page;
    }

    /// <summary>Script errors and console errors seen on each page (tests assert there are none).</summary>
    public Dictionary<IPage, List<string>> PageErrors { get; } = [];

    private async Task WaitForDemoAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                var o = await Api.GetFromJsonAsync<OverviewProbe>("api/overview");
                if (o is { Equipment.Count: 24 } && o.Equipment.All(e => e.State is not null))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
            }

            await Task.Delay(250);
        }

        throw new TimeoutException("the virtual factory did not register its 24 machines with data within 60 s");
    }

    public async Task DisposeAsync()
    {
        await Browser.CloseAsync();
        Playwright.Dispose();
        Api.Dispose();
        if (_app is not null)
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }

        try
        {
            Directory.Delete(DataDirectory, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    private sealed record OverviewProbe(List<EquipmentProbe> Equipment);

    private sealed record EquipmentProbe(string Id, int? State);
}

[CollectionDefinition("console")]
public sealed class ConsoleCollection : ICollectionFixture<ConsoleFixture>;

/// <summary>Screenshots of the main pages: into docs/screenshots with UPDATE_SCREENSHOTS=1, else a temp folder.</summary>
public static class Screenshots
{
    public static async Task SaveAsync(IPage page, string name)
    {
        string dir = Environment.GetEnvironmentVariable("UPDATE_SCREENSHOTS") == "1" && RepoRoot() is { } root
            ? Path.Combine(root, "docs", "screenshots")
            : Path.Combine(Path.GetTempPath(), "zhizao-screenshots");
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = false });
        Assert.True(new FileInfo(path).Length > 10_000, $"screenshot {path} is suspiciously small");
    }

    private static string? RepoRoot()
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            if (File.Exists(Path.Combine(d.FullName, "Zhizao.slnx")))
            {
                return d.FullName;
            }
        }

        return null;
    }
}

internal static class Json
{
    public static StringContent Body(object o) => new(System.Text.Json.JsonSerializer.Serialize(o), System.Text.Encoding.UTF8, new MediaTypeHeaderValue("application/json"));
}
