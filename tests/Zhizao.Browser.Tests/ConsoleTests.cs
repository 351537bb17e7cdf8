using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using Xunit.Abstractions;
using Zhizao.Hosting;
using static Microsoft.Playwright.Assertions;

namespace Zhizao.Browser.Tests;

/// <summary>The web console in a real browser (Debian's Chromium) against a running node with the virtual factory.</summary>
[Collection("console")]
public sealed class ConsoleTests(ConsoleFixture fx, ITestOutputHelper output)
{
    [Fact]
    public async Task Overview_shows_the_plant_with_states_and_counts()
    {
        var page = await fx.OpenAsync("#/");
        await Expect(page.GetByTestId("page-title")).ToHaveTextAsync("Plant overview");
        await Expect(page.GetByTestId("kpi-equipment")).ToHaveTextAsync("24");
        await Expect(page.Locator("[data-tile]")).ToHaveCountAsync(24);
        await Expect(page.GetByTestId("asset-tree")).ToContainTextAsync("Line 1 — machining");
        // every machine has published its state, so no tile stays grey ("sx" = no state)
        await Expect(page.Locator(".tile.sx")).ToHaveCountAsync(0);
        int running = int.Parse(await page.GetByTestId("kpi-running").InnerTextAsync());
        int idle = int.Parse(await page.GetByTestId("kpi-idle").InnerTextAsync());
        int down = int.Parse(await page.GetByTestId("kpi-down").InnerTextAsync());
        Assert.Equal(24, running + idle + down);
        await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-connected", "true");
        await Screenshots.SaveAsync(page, "overview");
        NoErrors(page);
    }

    [Fact]
    public async Task Equipment_page_values_change_without_reload_and_the_trend_draws()
    {
        var page = await fx.OpenAsync("#/equipment/l1-pm-01");
        await Expect(page.GetByTestId("page-title")).ToContainTextAsync("l1-pm-01");
        var energy = page.GetByTestId("value-energy_kwh");
        var time = page.Locator("[data-time='l1-pm-01/energy_kwh']");
        string firstTime = await time.InnerTextAsync();
        string firstEnergy = await energy.InnerTextAsync();
        // the line's power meter reads around the clock: its time stamp moves every second and its energy counter climbs
        await Expect(time).Not.ToHaveTextAsync(firstTime, new() { Timeout = 15_000 });
        await Expect(energy).Not.ToHaveTextAsync(firstEnergy, new() { Timeout = 60_000 });
        await Expect(page.Locator("#chart canvas").First).ToBeVisibleAsync();
        await Expect(page.GetByTestId("timeline").Locator("span").First).ToBeAttachedAsync();
        Assert.True(int.Parse(await page.Locator("#chart").GetAttributeAsync("data-points") ?? "0") > 1);

        // a longer range reads bucket averages, not raw points
        await page.Locator("#ranges button[data-range='24h']").ClickAsync();
        await Expect(page.Locator("#ranges button.on")).ToHaveAttributeAsync("data-range", "24h");
        await Screenshots.SaveAsync(page, "equipment");
        NoErrors(page);
    }

    [Fact]
    public async Task Injected_fault_raises_an_alarm_in_the_browser_which_the_operator_acknowledges_and_shelves()
    {
        // a rule as a user would write it in the rule editor: the compressor has stopped
        var rule = new
        {
            id = "test-compressor-stopped",
            name = "Compressor stopped",
            equipmentTypeId = "air-compressor",
            kind = "Expression",
            priority = "Urgent",
            message = "{equipment} stopped",
            expression = "state == 0",
        };
        (await fx.Api.PostAsync("api/rules", Json.Body(rule))).EnsureSuccessStatusCode();
        const string alarmId = "l2-comp-01:test-compressor-stopped";

        var page = await fx.OpenAsync("#/alarms");
        await Expect(page.GetByTestId("alarm-table")).ToBeVisibleAsync();
        await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-connected", "true");
        // note when the row first appears in the page, by the browser's clock
        await page.EvaluateAsync("""
            id => { window.__seen = null; new MutationObserver(() => { if (!window.__seen && document.querySelector(`tr[data-alarm="${id}"]`)) window.__seen = Date.now(); })
              .observe(document.body, { childList: true, subtree: true }); }
            """, alarmId);

        var watch = Stopwatch.StartNew();
        (await fx.Api.PostAsync("api/demo/faults", Json.Body(new { machine = "l2-comp-01", kind = "Breakdown" }))).EnsureSuccessStatusCode();
        var row = page.Locator($"tr[data-alarm='{alarmId}']");
        await Expect(row).ToBeVisibleAsync(new() { Timeout = 30_000 });
        watch.Stop();
        await Expect(row.GetByTestId("alarm-state")).ToHaveTextAsync("Active, unacknowledged");
        await Expect(page.GetByTestId("alarm-badge")).Not.ToHaveAttributeAsync("data-active", "0");

        var alarm = await fx.Api.GetFromJsonAsync<JsonElement>($"api/alarms/{alarmId}");
        double sampleMs = alarm.GetProperty("activeSinceNs").GetInt64() / 1e6;
        double seenMs = await page.EvaluateAsync<double>("() => window.__seen");
        output.WriteLine($"alarm latency: sample time → row in the browser {seenMs - sampleMs:F0} ms; fault injection → row {watch.ElapsedMilliseconds} ms");
        Assert.True(seenMs >= sampleMs - 50, "the row cannot appear before the sample that raised it");

        await Screenshots.SaveAsync(page, "alarms");
        await row.GetByTestId($"ack-{alarmId}").ClickAsync();
        await Expect(row.GetByTestId("alarm-state")).ToHaveTextAsync("Active, acknowledged");

        await row.GetByTestId($"shelve-{alarmId}").ClickAsync();
        var dialog = page.GetByTestId("shelve-dialog");
        await dialog.GetByTestId("shelve-reason").FillAsync("compressor under repair");
        await dialog.GetByTestId("shelve-minutes").FillAsync("30");
        await dialog.GetByTestId("shelve-ok").ClickAsync();
        await Expect(row.GetByTestId("alarm-state")).ToHaveTextAsync("Shelved");
        await Expect(row).ToContainTextAsync("compressor under repair");

        var after = await fx.Api.GetFromJsonAsync<JsonElement>($"api/alarms/{alarmId}");
        Assert.Equal("TimedShelved", after.GetProperty("shelving").GetString());
        Assert.True(after.GetProperty("acknowledged").GetBoolean());

        var journal = await fx.Api.GetFromJsonAsync<JsonElement>("api/alarms/journal");
        var events = journal.EnumerateArray().Where(e => e.GetProperty("alarmId").GetString() == alarmId).Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal(["Activated", "Acknowledged", "Shelved"], events);

        await page.GetByTestId("tab-kpis").ClickAsync();
        await Expect(page.GetByTestId("alarm-kpis")).ToBeVisibleAsync();
        await Screenshots.SaveAsync(page, "alarm-kpis");
        NoErrors(page);
    }

    [Fact]
    public async Task The_demos_developing_bearing_fault_shows_as_a_vibration_alarm()
    {
        // the virtual factory's own fault (started by the demo on l1-comp-01), found by the demo's own rules
        var page = await fx.OpenAsync("#/alarms");
        var row = page.Locator("tr[data-alarm='l1-comp-01:air-compressor-vibration-alert']");
        await Expect(row).ToBeVisibleAsync(new() { Timeout = (int)((ConsoleFixture.StartFaultMinutes * 60_000) + 90_000) });
        await Expect(row).ToContainTextAsync("vibration_rms");
        var truth = await fx.Api.GetFromJsonAsync<JsonElement>("api/demo/ground-truth");
        var fault = truth.EnumerateArray().Single(e => e.GetProperty("machineId").GetString() == "l1-comp-01" && e.GetProperty("injected").GetBoolean());
        var alarm = await fx.Api.GetFromJsonAsync<JsonElement>("api/alarms/l1-comp-01:air-compressor-vibration-alert");
        long onset = fault.GetProperty("onsetNs").GetInt64(), raised = alarm.GetProperty("activeSinceNs").GetInt64();
        long failure = onset + (long)(ConsoleFixture.StartFaultMinutes * 60e9);
        Assert.InRange(raised, onset, failure); // raised while the fault develops, before the machine fails
        NoErrors(page);
    }

    [Fact]
    public async Task Tag_explorer_finds_tags_and_exports_them_as_csv()
    {
        var page = await fx.OpenAsync("#/tags");
        await page.GetByTestId("tag-search").FillAsync("l1-comp-01 power");
        var box = page.Locator("input[data-key='l1-comp-01/power_kw']");
        await box.CheckAsync();
        await Expect(page.Locator("#chart canvas").First).ToBeVisibleAsync();
        await Screenshots.SaveAsync(page, "tags");

        var download = await page.RunAndWaitForDownloadAsync(() => page.GetByTestId("export-csv").ClickAsync());
        string path = Path.Combine(fx.DataDirectory, "export.csv");
        await download.SaveAsAsync(path);
        string[] lines = await File.ReadAllLinesAsync(path);
        Assert.Equal("time,l1-comp-01/power_kw", lines[0]);
        Assert.True(lines.Length >= 2, $"only {lines.Length} lines exported"); // the demo may have run only seconds when this test runs
        var raw = await fx.Api.GetFromJsonAsync<JsonElement>("api/query/raw?series=l1-comp-01/power_kw&from=now-2h");
        Assert.True(lines.Length - 1 <= raw.GetProperty("timestamps").GetArrayLength(), "more rows exported than the series holds");
        foreach (string line in lines.Skip(1))
        {
            string[] cells = line.Split(',');
            Assert.True(DateTime.TryParse(cells[0], System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.RoundtripKind, out _), line);
            Assert.True(double.TryParse(cells[1], System.Globalization.CultureInfo.InvariantCulture, out _), line);
        }

        NoErrors(page);
    }

    [Fact]
    public async Task Rule_editor_reports_expression_errors_with_their_position_then_saves()
    {
        var page = await fx.OpenAsync("#/rules");
        await page.GetByTestId("new-rule").ClickAsync();
        var form = page.GetByTestId("rule-form");
        await form.Locator("input[name=id]").FillAsync("ui-oven-hot");
        await form.Locator("input[name=name]").FillAsync("Oven zone 1 hot while running");
        await form.Locator("select[name=equipmentTypeId]").SelectOptionAsync("oven");
        await form.Locator("select[name=kind]").SelectOptionAsync("Expression");
        await page.GetByTestId("rule-expression").FillAsync("state == 2 and zone1_temp > ");
        await page.GetByTestId("rule-validate").ClickAsync();
        await Expect(page.GetByTestId("rule-errors")).ToContainTextAsync("position");
        await Screenshots.SaveAsync(page, "rule-editor");

        await page.GetByTestId("rule-expression").FillAsync("state == 2 and zone1_temp > no_such_tag");
        await page.GetByTestId("rule-validate").ClickAsync();
        await Expect(page.GetByTestId("rule-errors")).ToContainTextAsync("no_such_tag");

        await page.GetByTestId("rule-expression").FillAsync("state == 2 and zone1_temp > setpoint + 50");
        await page.GetByTestId("rule-save").ClickAsync();
        await Expect(page.GetByTestId("rule-list")).ToContainTextAsync("ui-oven-hot");
        var saved = await fx.Api.GetFromJsonAsync<JsonElement>("api/rules/ui-oven-hot");
        Assert.Equal("state == 2 and zone1_temp > setpoint + 50", saved.GetProperty("expression").GetString());
        NoErrors(page);
    }

    [Fact]
    public async Task Asset_editor_adds_and_deletes_an_asset()
    {
        var page = await fx.OpenAsync("#/assets");
        await page.Locator("#tree .node[data-id='line-1']").ClickAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Add child" }).ClickAsync();
        var form = page.GetByTestId("asset-form");
        await form.Locator("input[name=id]").FillAsync("l1-cell-test");
        await form.Locator("input[name=name]").FillAsync("Test cell");
        await page.GetByTestId("asset-save").ClickAsync();
        await Expect(page.Locator("#tree .node[data-id='l1-cell-test']")).ToBeVisibleAsync();
        var created = await fx.Api.GetFromJsonAsync<JsonElement>("api/assets/l1-cell-test");
        Assert.Equal("Cell", created.GetProperty("level").GetString());
        Assert.Equal("line-1", created.GetProperty("parentId").GetString());
        await Screenshots.SaveAsync(page, "assets");

        page.Dialog += (_, d) => d.AcceptAsync();
        await page.GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Expect(page.Locator("#tree .node[data-id='l1-cell-test']")).ToHaveCountAsync(0);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await fx.Api.GetAsync("api/assets/l1-cell-test")).StatusCode);
        NoErrors(page);
    }

    [Fact]
    public async Task Health_page_lists_every_machine_with_remaining_useful_life_and_says_why_a_model_cannot_be_trained_yet()
    {
        var page = await fx.OpenAsync("#/health");
        await Expect(page.GetByTestId("health-table").Locator("tr")).ToHaveCountAsync(24);
        await page.Locator("#period").SelectOptionAsync("1h");
        await page.GetByTestId("train-l1-pm-01").ClickAsync();
        // a fresh node has only a minute or two of data: the server says how much it has and how much it needs
        await Expect(page.GetByTestId("toast-error")).ToContainTextAsync("at least 60");
        await Expect(page.GetByTestId("maintenance-kpis")).ToContainTextAsync("l1-comp-01"); // its week of history holds failures
        // the demo's week of pump and compressor history trains their remaining-useful-life models at start
        await Expect(page.GetByTestId("rul-models").Locator("tr[data-type='pump']")).ToContainTextAsync("runs to failure", new() { Timeout = 90_000 });
        await Expect(page.GetByTestId("rul-l2-pump-01")).ToContainTextAsync(" h", new() { Timeout = 90_000 });
        await Expect(page.GetByTestId("rul-l1-pm-01")).ToHaveTextAsync("—");
        await Screenshots.SaveAsync(page, "health");
    }

    [Fact]
    public async Task Every_ui_text_exists_in_english_and_chinese()
    {
        var en = await fx.Api.GetFromJsonAsync<Dictionary<string, string>>("i18n/en.json");
        var zh = await fx.Api.GetFromJsonAsync<Dictionary<string, string>>("i18n/zh.json");
        Assert.Equal(en!.Keys.Order(), zh!.Keys.Order());
        Assert.All(zh, kv => Assert.False(string.IsNullOrWhiteSpace(kv.Value), kv.Key));
    }

    [Fact]
    public async Task The_console_speaks_chinese()
    {
        var page = await fx.OpenAsync("#/", lang: "zh");
        await Expect(page.Locator("#nav a[data-route='']")).ToHaveTextAsync("总览");
        await Expect(page.GetByTestId("page-title")).ToHaveTextAsync("工厂总览");
        await Expect(page.Locator("html")).ToHaveAttributeAsync("lang", "zh-CN");
        await Screenshots.SaveAsync(page, "overview-zh");

        await page.Locator("#lang").SelectOptionAsync("en");
        await Expect(page.GetByTestId("page-title")).ToHaveTextAsync("Plant overview");
        NoErrors(page);
    }

    [Fact]
    public async Task A_node_with_a_token_asks_for_it_and_works_once_given()
    {
        string dir = Directory.CreateTempSubdirectory("zz-console-token-").FullName;
        var app = await ConsoleFixture.StartNodeAsync(new PlatformOptions { DataDirectory = dir, Urls = "http://127.0.0.1:0", Demo = false, ApiToken = "s3cret-token" });
        try
        {
            var page = await fx.OpenAsync("#/assets", baseUrl: app.BoundAddress());
            var login = page.GetByTestId("login");
            await Expect(login).ToBeVisibleAsync();
            await login.Locator("input[type=password]").FillAsync("s3cret-token");
            await login.GetByRole(AriaRole.Button).ClickAsync();
            await Expect(page.GetByTestId("page-title")).ToHaveTextAsync("Asset model");
            await Expect(page.Locator("#live-status")).ToHaveAttributeAsync("data-connected", "true");
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    [Fact]
    public async Task Unknown_equipment_shows_the_servers_error_not_a_blank_page()
    {
        var page = await fx.OpenAsync("#/equipment/no-such-machine");
        await Expect(page.GetByTestId("page-error")).ToContainTextAsync("no-such-machine");
    }

    private void NoErrors(IPage page) =>
        Assert.True(fx.PageErrors[page].Count == 0, "errors in the page: " + string.Join(" | ", fx.PageErrors[page]));
}
