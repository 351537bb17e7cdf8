using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Zhizao.Hosting;
using Zhizao.Modbus.Tests;
using Zhizao.OpcUa.Tests;
using static Microsoft.Playwright.Assertions;

namespace Zhizao.Browser.Tests;

/// <summary>The Connectors page in Chromium against its own node (no demo) and real peers: node-opcua and pymodbus.</summary>
[Collection("console")]
public sealed class ConnectorConsoleTests(ConsoleFixture fx)
{
    private const string Model = """
        types:
          - id: pump
            name: Centrifugal pump
            tags:
              - { name: flow, dataType: Float64 }
              - { name: state, dataType: Int64 }
        assets:
          - { id: acme, name: Acme, level: Enterprise }
          - { id: p-01, name: Pump 1, level: Equipment, parentId: acme, typeId: pump }
        """;

    [NodeFact]
    public async Task Browse_map_and_save_an_opcua_connector_then_check_a_modbus_map_and_see_the_servers_errors()
    {
        await using var opcua = await NodeOpcUaServer.StartAsync();
        await using var modbus = await PymodbusServer.StartAsync();
        string dir = Directory.CreateTempSubdirectory("zz-console-connectors-").FullName;
        var app = await ConsoleFixture.StartNodeAsync(new PlatformOptions { DataDirectory = dir, Urls = "http://127.0.0.1:0", Demo = false });
        try
        {
            string url = app.BoundAddress();
            using var http = new HttpClient { BaseAddress = new Uri(url + "/") };
            using (var imported = await http.PostAsync("api/model/import", new StringContent(Model, Encoding.UTF8, "application/yaml")))
            {
                Assert.True(imported.IsSuccessStatusCode, await imported.Content.ReadAsStringAsync());
            }

            var page = await fx.OpenAsync("#/connectors", baseUrl: url);
            await Expect(page.GetByTestId("page-title")).ToHaveTextAsync("Connectors");

            // OPC UA: walk the server's address space, map a variable, save; the connector connects and values arrive
            await page.GetByTestId("new-opcua").ClickAsync();
            var form = page.GetByTestId("connector-form");
            await form.Locator("[name=name]").FillAsync("plc-ui");
            await form.Locator("[name=endpointUrl]").FillAsync(opcua.EndpointUrl);
            await page.GetByTestId("browse").ClickAsync();
            var tree = page.GetByTestId("browse-tree");
            await tree.Locator("li[data-node='ns=1;s=Plant'] > [data-expand]").ClickAsync();
            await page.GetByTestId("map-ns=1;s=Plant.Temperature").ClickAsync();
            await Expect(page.GetByTestId("mapping-rows").Locator("tr")).ToHaveCountAsync(1);
            await Expect(page.GetByTestId("mapping-rows").Locator("[name=nodeId]")).ToHaveValueAsync("ns=1;s=Plant.Temperature");
            await page.GetByTestId("mapping-rows").Locator("select[name=tag]").SelectOptionAsync("flow");
            await page.GetByTestId("connector-save").ClickAsync();
            await Expect(page.GetByTestId("state-plc-ui")).ToHaveTextAsync("Connected", new() { Timeout = 60_000 });
            // "Connected" comes with the session; the first value is stored a moment later by the subscription
            var latest = await http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/flow");
            for (var until = DateTime.UtcNow.AddSeconds(30); latest.GetArrayLength() == 0 && DateTime.UtcNow < until;)
            {
                await Task.Delay(100);
                latest = await http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/flow");
            }

            Assert.True(latest.GetArrayLength() == 1, "no value of p-01/flow 30 s after the connector connected");
            Assert.Equal(21.5, latest[0].GetProperty("value").GetDouble());
            await Screenshots.SaveAsync(page, "connectors");

            // Modbus: two registers that overlap are refused with the field the server names
            await page.GetByTestId("new-modbus").ClickAsync();
            await form.Locator("[name=name]").FillAsync("meter-ui");
            await form.Locator("[name=port]").FillAsync(modbus.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            await page.GetByTestId("add-register").ClickAsync();
            await page.GetByTestId("add-register").ClickAsync();
            var rows = page.GetByTestId("mapping-rows").Locator("tr");
            await rows.Nth(0).Locator("select[name=type]").SelectOptionAsync("Float32");
            await rows.Nth(1).Locator("[name=address]").FillAsync("1");
            await rows.Nth(1).Locator("select[name=tag]").SelectOptionAsync("state");
            await page.GetByTestId("connector-save").ClickAsync();
            await Expect(page.GetByTestId("connector-errors")).ToContainTextAsync("modbus.mappings[1].address");
            await Expect(page.GetByTestId("connector-errors")).ToContainTextAsync("overlaps");

            // "read once" checks the map against the device: input register 5 holds 50 on the pymodbus peer
            await rows.Nth(1).Locator("[data-remove]").ClickAsync();
            await rows.Nth(0).Locator("select[name=table]").SelectOptionAsync("InputRegister");
            await rows.Nth(0).Locator("select[name=type]").SelectOptionAsync("UInt16");
            await rows.Nth(0).Locator("[name=address]").FillAsync("5");
            await page.GetByTestId("read-registers").ClickAsync();
            await Expect(rows.Nth(0).Locator("[data-read]")).ToHaveTextAsync("50");
            Assert.True(fx.PageErrors[page].Count == 0 || fx.PageErrors[page].All(e => e.Contains("400", StringComparison.Ordinal)),
                "errors in the page: " + string.Join(" | ", fx.PageErrors[page]));
        }
        finally
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }
}
