using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;

namespace Zhizao.Server.Tests;

/// <summary>The node's embedded MQTT broker feeds ingest; published with Debian's mosquitto_pub, a client nobody here wrote.</summary>
public sealed class MqttIngestTests
{
    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    private static async Task PublishAsync(int port, string topic, string payload)
    {
        if (!File.Exists("/usr/bin/mosquitto_pub"))
        {
            throw new InvalidOperationException("mosquitto_pub is not installed: apt-get install -y mosquitto-clients");
        }

        var psi = new ProcessStartInfo("/usr/bin/mosquitto_pub") { RedirectStandardError = true };
        foreach (string a in new[] { "-h", "127.0.0.1", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "-q", "1", "-V", "mqttv5", "-t", topic, "-m", payload })
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        await p.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(p.ExitCode == 0, await p.StandardError.ReadToEndAsync());
    }

    private static async Task<JsonElement> WaitForLatestAsync(HttpClient http, string series, Func<JsonElement, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            var list = await http.GetFromJsonAsync<JsonElement>($"api/latest?series={Uri.EscapeDataString(series)}");
            last = list.ToString();
            foreach (var v in list.EnumerateArray())
            {
                if (until(v))
                {
                    return v;
                }
            }

            await Task.Delay(100);
        }

        throw new TimeoutException($"{series} did not reach the expected value over MQTT within 30 s; latest: {last}");
    }

    [Fact]
    public async Task Values_line_protocol_and_json_published_to_the_node_are_stored_and_bad_ones_refused()
    {
        int port = FreePort();
        await using var node = await Node.StartAsync(o => o.MqttPort = port);
        await AssetApiTests.ImportModelAsync(node.Http);

        await PublishAsync(port, "zhizao/v/p-01/flow", "123.5");
        // mosquitto_pub -q 1 exits once it has its PUBACK, and the node sends that only after the point is stored
        var now = await node.Http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/flow");
        Assert.Equal(123.5, now[0].GetProperty("value").GetDouble());

        long t = Core.Time.NowNs() + 2_000_000_000; // after the value above, which carries the broker's receive time
        await PublishAsync(port, "zhizao/lp", $"p-01 flow=99.5,state=2i {t}\nboiler-7 temp=71.2 {t}\n");
        await WaitForLatestAsync(node.Http, "p-01/state", v => v.GetProperty("value").GetInt64() == 2);
        await WaitForLatestAsync(node.Http, "boiler-7/temp", v => v.GetProperty("value").GetDouble() == 71.2);

        await PublishAsync(port, "zhizao/json", $$$"""{"points":[{"equipment":"p-01","t":{{{t + 500_000_000}}},"values":{"flow":88}}]}""");
        await WaitForLatestAsync(node.Http, "p-01/flow", v => v.GetProperty("value").GetDouble() == 88);

        // bad input: an unknown tag of registered equipment and a string for a number are refused, the node keeps going
        await PublishAsync(port, "zhizao/v/p-01/no_such_tag", "1");
        await PublishAsync(port, "zhizao/v/p-01/state", "running");
        await PublishAsync(port, "zhizao/lp", "this is not line protocol");
        await PublishAsync(port, "zhizao/v/boiler-8/temp", "77");
        await WaitForLatestAsync(node.Http, "boiler-8/temp", v => v.GetProperty("value").GetDouble() == 77);
        var series = await node.Http.GetFromJsonAsync<JsonElement>("api/series?prefix=p-01/");
        Assert.DoesNotContain(series.EnumerateArray(), s => s.GetProperty("key").GetString() == "p-01/no_such_tag");
        var state = await node.Http.GetFromJsonAsync<JsonElement>("api/latest?series=p-01/state");
        Assert.Equal(2, state[0].GetProperty("value").GetInt64());
    }
}
