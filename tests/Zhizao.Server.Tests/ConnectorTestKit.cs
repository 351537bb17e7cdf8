using System.Net.Http.Json;
using System.Text.Json;
using Zhizao.Alarms;
using Zhizao.Connectors;

namespace Zhizao.Server.Tests;

/// <summary>Waiting on a connector's health, stored values and alarms through the node's API (polling with generous timeouts).</summary>
internal static class ConnectorTestKit
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);

    public static async Task<T> WaitForAsync<T>(Func<Task<T?>> probe, Func<T, bool> until, string what)
    {
        var deadline = DateTime.UtcNow + Patience;
        T? last = default;
        while (DateTime.UtcNow < deadline)
        {
            last = await probe();
            if (last is not null && until(last))
            {
                return last;
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{what} within {Patience.TotalSeconds} s; last seen: {(last is null ? "nothing" : JsonSerializer.Serialize(last))}");
    }

    public static Task<JsonElement> WaitForHealthAsync(Node node, string name, string state) =>
        WaitForAsync(() => node.Http.GetFromJsonAsync<JsonElement>($"api/connectors/{name}/health"),
            h => h.GetProperty("state").GetString() == state, $"connector {name} did not reach state {state}");

    public static Task<JsonElement> WaitForLatestAsync(Node node, string series, Func<JsonElement, bool> until) =>
        WaitForAsync(async () =>
        {
            var list = await node.Http.GetFromJsonAsync<JsonElement>($"api/latest?series={Uri.EscapeDataString(series)}");
            return list.GetArrayLength() == 0 ? (JsonElement?)null : list[0];
        }, v => until(v!.Value), $"no matching value of {series} stored").ContinueWith(t => t.Result!.Value, TaskScheduler.Default);

    /// <summary>Whether the "connector down" alarm of a connector is active now (through GET /api/alarms?all=true).</summary>
    public static async Task<bool?> DownAlarmActiveAsync(Node node, string name)
    {
        var all = await node.Http.GetFromJsonAsync<JsonElement>("api/alarms?all=true");
        foreach (var a in all.EnumerateArray())
        {
            if (a.GetProperty("ruleId").GetString() == ConnectorService.DownRuleId && a.GetProperty("equipmentId").GetString() == ConnectorService.HealthEquipmentId(name))
            {
                return a.GetProperty("active").GetBoolean();
            }
        }

        return null;
    }

    public static Task WaitForDownAlarmAsync(Node node, string name, bool active) =>
        WaitForAsync(async () => (object?)await DownAlarmActiveAsync(node, name), a => a is bool b && b == active,
            $"the connector-down alarm of {name} did not become {(active ? "active" : "inactive")}");

    public static async Task PutAsync(Node node, object config, string name)
    {
        using var resp = await node.Http.PutAsJsonAsync($"api/connectors/{name}", config);
        Assert.True(resp.IsSuccessStatusCode, $"PUT {name}: {(int)resp.StatusCode} {await resp.Content.ReadAsStringAsync()}");
    }

    public static AlarmService Alarms(Node node) => (AlarmService)node.Services.GetService(typeof(AlarmService))!;
}
