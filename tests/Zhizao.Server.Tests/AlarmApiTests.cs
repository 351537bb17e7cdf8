using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Zhizao.Server.Tests;

public sealed class AlarmApiTests
{
    private static async Task<JsonElement> WaitForAlarmAsync(HttpClient http, string id, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            using var r = await http.GetAsync($"api/alarms/{id}");
            if (r.StatusCode == HttpStatusCode.OK)
            {
                var a = await r.Content.ReadFromJsonAsync<JsonElement>();
                if (until(a))
                {
                    return a;
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"alarm {id} did not reach the expected state in 30 s");
    }

    private static async Task WriteFlowAsync(HttpClient http, long t, double flow)
    {
        using var resp = await http.PostAsync("api/v2/write", new StringContent($"p-01 flow={flow} {t}\n", Encoding.UTF8, "text/plain"));
        Assert.Equal(HttpStatusCode.NoContent, resp.StatusCode);
    }

    [Fact]
    public async Task A_limit_rule_raises_an_alarm_that_is_acknowledged_shelved_and_journaled()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using (var created = await node.Http.PostAsJsonAsync("api/rules", new
        {
            id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit", priority = "High",
            limit = new { tag = "flow", type = "High", setpoint = 150, deadband = 5 },
        }))
        {
            Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        }

        long t = Core.Time.NowNs() - 10_000_000_000; // a few seconds ago, so the journal's default window holds every event
        await WriteFlowAsync(node.Http, t, 100);
        await WriteFlowAsync(node.Http, t + 1_000_000_000, 180);
        var raised = await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => a.GetProperty("active").GetBoolean());
        Assert.False(raised.GetProperty("acknowledged").GetBoolean());
        Assert.Equal("High", raised.GetProperty("priority").GetString());

        var active = await node.Http.GetFromJsonAsync<JsonElement>("api/alarms");
        Assert.Contains(active.EnumerateArray(), a => a.GetProperty("id").GetString() == "p-01:flow-high");

        using (var ack = await node.Http.PostAsJsonAsync("api/alarms/p-01:flow-high/ack", new { user = "li.wei", comment = "checking valve" }))
        {
            Assert.Equal(HttpStatusCode.OK, ack.StatusCode);
            Assert.True((await ack.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("acknowledged").GetBoolean());
        }

        using (var again = await node.Http.PostAsJsonAsync("api/alarms/p-01:flow-high/ack", new { user = "li.wei" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }

        using (var noReason = await node.Http.PostAsJsonAsync("api/alarms/p-01:flow-high/shelve", new { user = "li.wei", minutes = 30 }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, noReason.StatusCode);
        }

        using (var shelve = await node.Http.PostAsJsonAsync("api/alarms/p-01:flow-high/shelve", new { user = "li.wei", reason = "valve maintenance", minutes = 30 }))
        {
            Assert.Equal(HttpStatusCode.OK, shelve.StatusCode);
            Assert.Equal("TimedShelved", (await shelve.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("shelving").GetString());
        }

        using (var unshelve = await node.Http.PostAsJsonAsync("api/alarms/p-01:flow-high/unshelve", new { user = "li.wei" }))
        {
            Assert.Equal(HttpStatusCode.OK, unshelve.StatusCode);
        }

        await WriteFlowAsync(node.Http, t + 2_000_000_000, 140);   // back below setpoint − deadband
        await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => !a.GetProperty("active").GetBoolean());

        var journal = await node.Http.GetFromJsonAsync<JsonElement>("api/alarms/journal");
        var events = journal.EnumerateArray().Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Contains("Activated", events);
        Assert.Contains("Acknowledged", events);
        Assert.Contains("Cleared", events);

        var kpis = await node.Http.GetFromJsonAsync<JsonElement>("api/alarms/kpis?from=now-1h");
        Assert.Equal(JsonValueKind.Object, kpis.ValueKind);
    }

    [Fact]
    public async Task Alarms_and_their_journal_survive_a_restart()
    {
        string dir = Directory.CreateTempSubdirectory("zz-alarm-restart-").FullName;
        long t = Core.Time.NowNs();
        await using (var node = await Node.StartAsync(dataDir: dir))
        {
            await AssetApiTests.ImportModelAsync(node.Http);
            using var created = await node.Http.PostAsJsonAsync("api/rules", new
            {
                id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit",
                limit = new { tag = "flow", type = "High", setpoint = 150 },
            });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            await WriteFlowAsync(node.Http, t, 200);
            await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => a.GetProperty("active").GetBoolean());
        }

        await using var again = await Node.StartAsync(dataDir: dir);
        var alarm = await WaitForAlarmAsync(again.Http, "p-01:flow-high", a => a.GetProperty("active").GetBoolean());
        Assert.False(alarm.GetProperty("acknowledged").GetBoolean());
        Assert.Single((await again.Http.GetFromJsonAsync<JsonElement>("api/rules")).EnumerateArray());
    }

    [Fact]
    public async Task Invalid_rules_are_refused_with_field_and_position()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        using var bad = await node.Http.PostAsJsonAsync("api/rules", new
        {
            id = "bad", name = "Bad", equipmentTypeId = "pump", kind = "Expression", expression = "flwo > 3 and state == 2",
        });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        string detail = (await bad.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
        Assert.Contains("flwo", detail);
        Assert.Contains("position 1", detail);

        using var badEnum = await node.Http.PostAsync("api/rules", new StringContent("""{"id":"x","name":"X","equipmentTypeId":"pump","kind":"Expresion"}""", Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.BadRequest, badEnum.StatusCode);
        Assert.Contains("$.kind", (await badEnum.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());

        using var unknownType = await node.Http.PostAsJsonAsync("api/rules", new
        {
            id = "x", name = "X", equipmentTypeId = "robot", kind = "Limit", limit = new { tag = "flow", type = "High", setpoint = 1 },
        });
        Assert.Equal(HttpStatusCode.BadRequest, unknownType.StatusCode);
        Assert.Empty((await node.Http.GetFromJsonAsync<JsonElement>("api/rules")).EnumerateArray());
    }

    [Fact]
    public async Task A_stopped_machine_suppresses_its_process_alarms_but_not_the_ones_about_the_stop()
    {
        await using var node = await Node.StartAsync();
        await AssetApiTests.ImportModelAsync(node.Http);
        foreach (object rule in new object[]
        {
            new { id = "flow-high", name = "Flow high", equipmentTypeId = "pump", kind = "Limit", priority = "High", limit = new { tag = "flow", type = "High", setpoint = 150 } },
            new { id = "down-5s", name = "Down", equipmentTypeId = "pump", kind = "StateDuration", priority = "Medium", stateDuration = new { tag = "state", state = "0", durationSeconds = 5 } },
        })
        {
            using var created = await node.Http.PostAsJsonAsync("api/rules", rule);
            Assert.True(created.StatusCode == HttpStatusCode.Created, await created.Content.ReadAsStringAsync());
        }

        long t = Core.Time.NowNs() - 60_000_000_000;
        async Task WriteAsync(long at, int state, double flow)
        {
            using var resp = await node.Http.PostAsync("api/v2/write", new StringContent($"p-01 state={state}i,flow={flow} {at}\n", Encoding.UTF8, "text/plain"));
            Assert.Equal(HttpStatusCode.NoContent, resp.StatusCode);
        }

        await WriteAsync(t, 2, 180);
        await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => a.GetProperty("state").GetString() == "Unacknowledged");

        await WriteAsync(t + 1_000_000_000, 0, 180); // the pump trips
        await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => a.GetProperty("state").GetString() == "SuppressedByDesign");
        await WriteAsync(t + 8_000_000_000, 0, 180);
        var down = await WaitForAlarmAsync(node.Http, "p-01:down-5s", a => a.GetProperty("active").GetBoolean());
        Assert.Equal("Unacknowledged", down.GetProperty("state").GetString()); // the stop itself is not hidden

        var active = await node.Http.GetFromJsonAsync<JsonElement>("api/overview");
        Assert.Equal(1, active.GetProperty("activeAlarms").GetInt32());

        await WriteAsync(t + 9_000_000_000, 2, 180); // running again, flow still high: the alarm is back
        await WaitForAlarmAsync(node.Http, "p-01:flow-high", a => a.GetProperty("state").GetString() == "Unacknowledged");
        var journal = await node.Http.GetFromJsonAsync<JsonElement>("api/alarms/journal?from=now-2h");
        var events = journal.EnumerateArray().Where(e => e.GetProperty("alarmId").GetString() == "p-01:flow-high").Select(e => e.GetProperty("event").GetString()).ToList();
        Assert.Equal(["Activated", "Suppressed", "Unsuppressed"], events);
    }
}
