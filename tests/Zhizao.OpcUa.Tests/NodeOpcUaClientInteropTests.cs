using System.Diagnostics;
using System.Text.Json;
using Zhizao.OpcUa.Server;

namespace Zhizao.OpcUa.Tests;

/// <summary>Our OPC UA server against a client nobody here wrote: node-opcua's OPCUAClient (peers/client.js).</summary>
public sealed class NodeOpcUaClientInteropTests
{
    [NodeFact]
    public Task Node_opcua_client_browses_reads_writes_and_subscribes_to_our_server() => RunAsync(MessageSecurityMode.None);

    [NodeFact]
    public Task Node_opcua_client_does_the_same_over_Basic256Sha256_SignAndEncrypt() => RunAsync(MessageSecurityMode.SignAndEncrypt);

    private static async Task RunAsync(MessageSecurityMode mode)
    {
        await EnsureNodeOpcUaAsync();
        var log = new List<string>();
        string pki = Directory.CreateTempSubdirectory("zhizao-opcua-client-peer-").FullName;
        await using var server = ServerTests.NewServer(log: log, certificates: mode == MessageSecurityMode.None ? null
            : new Security.CertificateStore(Path.Combine(pki, "server"), "urn:zhizao:interop-server", "Zhizao interop server") { AutoAcceptUntrusted = true });
        var power = (UaVariable)server.AddressSpace.Find(ServerTests.Power)!;
        try
        {
            using var process = Process.Start(new ProcessStartInfo("node", [Path.Combine(NodeOpcUaServer.PeersDirectory, "client.js"), server.EndpointUrl, pki, "press-01", mode.ToString()])
            {
                WorkingDirectory = NodeOpcUaServer.PeersDirectory,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            double value = 100;
            while (!process.HasExited && !timeout.IsCancellationRequested)
            {
                power.Set(new Variant(value++), DateTime.UtcNow); // a changing value for the subscription
                await Task.Delay(100);
            }
            if (!process.HasExited)
                process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync();
            string output = await stdout;
            Assert.True(process.ExitCode == 0, $"node-opcua client failed ({process.ExitCode}): {output}\n{await stderr}\nserver log:\n{string.Join("\n", log)}");
            using var json = JsonDocument.Parse(output.Trim().Split('\n')[^1]);
            var r = json.RootElement;
            Assert.Equal(mode.ToString(), r.GetProperty("securityMode").GetString());
            string[] Strings(string name) => [.. r.GetProperty(name).EnumerateArray().Select(e => e.GetString()!)];
            Assert.Contains("Plant", Strings("objects"));
            Assert.Contains("Server", Strings("objects"));
            Assert.Equal(["press-01"], Strings("machines"));
            Assert.Equal(["mode", "part_count", "power_kw", "running", "setpoint"], Strings("tags"));
            var values = r.GetProperty("values");
            Assert.Equal(7, values.GetProperty("part_count").GetInt64());
            Assert.True(values.GetProperty("running").GetBoolean());
            Assert.Equal("auto", values.GetProperty("mode").GetString());
            Assert.True(values.GetProperty("power_kw").GetDouble() >= 100);
            Assert.Equal("2026-01-01T00:00:00.000Z", r.GetProperty("sourceTimestamps").GetProperty("mode").GetString());
            Assert.Equal("ns=0;i=11", r.GetProperty("powerDataType").GetString());
            Assert.Equal("Good", r.GetProperty("write").GetString());
            Assert.Equal(3.5, ((UaVariable)server.AddressSpace.Find(ServerTests.Setpoint)!).Value.Value.Value);
            Assert.Equal("BadNodeIdUnknown", r.GetProperty("missing").GetString());
            double[] changes = [.. r.GetProperty("changes").EnumerateArray().Select(c => c.GetProperty("value").GetDouble())];
            Assert.True(changes.Length >= 4);
            Assert.True(changes.Zip(changes.Skip(1)).All(p => p.Second > p.First), $"changes not increasing: {string.Join(", ", changes)}");
            Assert.All(r.GetProperty("changes").EnumerateArray(), c => Assert.NotNull(c.GetProperty("source").GetString()));
            Assert.Equal(0, server.BadInputCount);
        }
        finally
        {
            Directory.Delete(pki, recursive: true);
        }
    }

    /// <summary>Runs <c>npm ci</c> in peers/ when node-opcua is not installed yet — through the server fixture's lock, so
    /// a client started while another test class is still installing waits for it (a half-written node_modules was
    /// found by CI: "Cannot find module 'node-opcua'").</summary>
    internal static Task EnsureNodeOpcUaAsync() => NodeOpcUaServer.EnsureInstalledAsync();
}
