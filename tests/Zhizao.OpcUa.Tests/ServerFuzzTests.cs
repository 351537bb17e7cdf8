using System.Buffers.Binary;
using Zhizao.OpcUa.Server;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// Mutated Hello, OPN and MSG chunks over real sockets against our server: it answers, sends an Error message or closes
/// the connection, never crashes or hangs, and a good client is served throughout and afterwards. A fixed seed in CI
/// (ZHIZAO_FUZZ_SEED=random explores, ZHIZAO_FUZZ_SECONDS sets the duration, default 8 s).
/// </summary>
public sealed class ServerFuzzTests
{
    private static readonly ReadRequest s_read = new() { NodesToRead = [new ReadValueId { NodeId = ServerTests.Power }, new ReadValueId { NodeId = ObjectIds.NamespaceArray }] };

    [Fact]
    public async Task Mutated_chunks_never_take_the_server_down()
    {
        string? seedText = Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_SEED");
        int seed = seedText == "random" ? Random.Shared.Next() : int.TryParse(seedText, out int s) ? s : 20261203;
        double seconds = double.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_SECONDS"), out double d) ? d : 8;
        var random = new Random(seed);
        var log = new List<string>();
        await using var server = ServerTests.NewServer(log: log);
        await using var good = ServerTests.NewClient(server.EndpointUrl);
        await good.ConnectAsync();
        var sub = await good.CreateSubscriptionAsync(new Client.SubscriptionOptions { PublishingInterval = TimeSpan.FromMilliseconds(100), KeepAliveCount = 5 });
        await sub.AddMonitoredItemAsync(new Client.MonitoredItemOptions(ServerTests.Power));

        var outcomes = new Dictionary<string, int>();
        var end = DateTime.UtcNow.AddSeconds(seconds);
        int cases = 0;
        while (DateTime.UtcNow < end)
        {
            cases++;
            string outcome;
            try
            {
                outcome = await OneCaseAsync(server.Port, random);
            }
            catch (Exception e)
            {
                throw new InvalidOperationException($"fuzz case {cases} (seed {seed}) broke the test harness: {e}", e);
            }
            outcomes[outcome] = outcomes.GetValueOrDefault(outcome) + 1;
            if (Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_TRACE") is not null)
                Console.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} case {cases}: {outcome}");
            if (cases % 50 == 0)
                Assert.True((await good.ReadValueAsync(ObjectIds.ServerStatusCurrentTime)).Status.IsGood, $"good client lost service after case {cases} (seed {seed})");
        }
        // the server still serves the good session and new ones
        Assert.Equal(12.5, (await good.ReadValueAsync(ServerTests.Power)).Value.Value);
        Assert.Equal(0, good.ReconnectCount);
        await using var fresh = ServerTests.NewClient(server.EndpointUrl);
        await fresh.ConnectAsync();
        Assert.Equal(7L, (await fresh.ReadValueAsync(ServerTests.Count)).Value.Value);
        await ServerTests.WaitForAsync(() => server.ChannelCount == 2); // every fuzz connection was closed
        Assert.True(cases >= 20, $"only {cases} cases ran");
        Assert.True(outcomes.GetValueOrDefault("error") > 0, $"no case produced an Error message (seed {seed}): {string.Join(", ", outcomes)}");
        Assert.True(server.BadInputCount > 0);
        Console.WriteLine($"server fuzz seed {seed}: {cases} cases in {seconds} s: {string.Join(", ", outcomes.OrderBy(p => p.Key).Select(p => $"{p.Key} {p.Value}"))}");
    }

    /// <summary>One connection: a valid conversation with one chunk mutated; returns how the server reacted.</summary>
    private static async Task<string> OneCaseAsync(int port, Random random)
    {
        using var raw = await RawUaClient.ConnectAsync(port);
        int target = random.Next(3); // 0 Hello, 1 OPN, 2 MSG
        var hello = RawUaClient.Hello();
        if (target == 0)
            hello = Mutate(hello, random);
        await raw.SendAsync(hello);
        var (type, _) = await raw.ReceiveAsync(Wait);
        if (type != MessageTypes.Acknowledge)
            return Classify(type);
        var opn = RawUaClient.Open(1, 1);
        if (target == 1)
            opn = Mutate(opn, random);
        await raw.SendAsync(opn);
        var (opnType, opnChunk) = await raw.ReceiveAsync(Wait);
        if (opnType != MessageTypes.Open)
            return Classify(opnType);
        uint channelId = BinaryPrimitives.ReadUInt32LittleEndian(opnChunk.AsSpan(8));
        byte[] body = RawUaClient.Encode(new ReadRequest { NodesToRead = s_read.NodesToRead });
        var msg = RawUaClient.Chunk(MessageTypes.Message, (byte)'F', channelId, 1, 2, 2, body);
        if (target == 2)
            msg = Mutate(msg, random);
        await raw.SendAsync(msg);
        var (msgType, _) = await raw.ReceiveAsync(Wait);
        return Classify(msgType);
    }

    /// <summary>How long a case waits for an answer; a chunk whose size field promises more bytes leaves the server waiting for them.</summary>
    private const double Wait = 0.4;

    private static string Classify(uint type) => type switch
    {
        0 => "closed",
        RawUaClient.Silent => "waiting for more bytes",
        MessageTypes.Error => "error",
        MessageTypes.Message => "answered",
        MessageTypes.Acknowledge or MessageTypes.Open => "answered",
        _ => "other " + MessageTypes.Name(type),
    };

    private static byte[] Mutate(byte[] chunk, Random random)
    {
        byte[] m = (byte[])chunk.Clone();
        switch (random.Next(6))
        {
            case 0: // flip a few bytes anywhere, the header included
                for (int k = 1 + random.Next(4); k > 0; k--)
                    m[random.Next(m.Length)] = (byte)random.Next(256);
                return m;
            case 1: // flip bytes after the header only (framing stays valid)
                for (int k = 1 + random.Next(4); k > 0 && m.Length > 8; k--)
                    m[8 + random.Next(m.Length - 8)] = (byte)random.Next(256);
                return m;
            case 2: // truncate the body but keep the size consistent
                {
                    int n = 8 + random.Next(Math.Max(1, m.Length - 8));
                    byte[] t = m[..n];
                    BinaryPrimitives.WriteInt32LittleEndian(t.AsSpan(4), n);
                    return t;
                }
            case 3: // a size field that lies (bigger: the server waits for bytes that never come, then we close)
                BinaryPrimitives.WriteInt32LittleEndian(m.AsSpan(4), random.Next(2) == 0 ? random.Next(0, 8) : m.Length + random.Next(1, 100));
                return m;
            case 4: // random chunk type
                m[3] = (byte)random.Next(256);
                return m;
            default: // random garbage appended inside the chunk
                {
                    byte[] extra = new byte[random.Next(1, 64)];
                    random.NextBytes(extra);
                    byte[] g = [.. m, .. extra];
                    BinaryPrimitives.WriteInt32LittleEndian(g.AsSpan(4), g.Length);
                    return g;
                }
        }
    }
}
