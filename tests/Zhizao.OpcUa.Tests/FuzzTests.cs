using System.Diagnostics;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// Mutated messages through the message decoder and the chunk/handshake readers: the only acceptable failure is an
/// <see cref="OpcUaException"/> naming an offset inside the message. ZHIZAO_FUZZ_ITERATIONS raises the count
/// (default 100,000, about a few seconds); any other exception fails with the seed and the input to turn into a
/// regression test.
/// </summary>
public sealed class FuzzTests
{
    private static readonly DateTime T = new(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc);

    private static byte[] Message(IEncodeable m)
    {
        using var e = new BinaryEncoder();
        e.WriteNodeId(m.BinaryEncodingId);
        m.Encode(e);
        return e.ToArray();
    }

    internal static List<byte[]> Corpus()
    {
        var everyType = new Variant[]
        {
            new(true), new((sbyte)-3), new((byte)3), new((short)-300), new((ushort)300), new(-70000), new(70000u), new(-5L), new(5UL),
            new(1.5f), new(2.5), new("智造"), new(T), new(Guid.NewGuid()), new(new byte[] { 1, 2, 3 }), new(new NodeId(3, "n")),
            new(BuiltInType.ExpandedNodeId, new ExpandedNodeId(new NodeId(0, 5u), "urn:x", 2)), new(StatusCodes.BadTimeout), new(new QualifiedName(2, "q")),
            new(new LocalizedText("en", "t")), new(new ExtensionObject(new DataChangeFilter { DeadbandValue = 1 })),
            new(BuiltInType.DataValue, new DataValue(new Variant(1.0), default, T)), new(BuiltInType.DiagnosticInfo, new DiagnosticInfo(1, AdditionalInfo: "x")),
            Variant.From(new[] { 1.0, 2.0, 3.0 }), Variant.From(new[] { "a", null, "c" }), new(BuiltInType.Int32, new[] { 1, 2, 3, 4 }, [2, 2]),
            Variant.From(new[] { new Variant(1), new Variant("v") }),
        };
        var values = everyType.Select(v => new DataValue(v, StatusCodes.Good, T) { ServerTimestamp = T, ServerPicoseconds = 9 }).ToArray();
        return
        [
            Message(new ReadResponse { Results = values, DiagnosticInfos = [new DiagnosticInfo(1, 2, 3, 4, "i", StatusCodes.BadTimeout, new DiagnosticInfo(5))] }),
            Message(new PublishResponse
            {
                SubscriptionId = 3,
                AvailableSequenceNumbers = [1, 2, 3],
                NotificationMessage = new NotificationMessage
                {
                    SequenceNumber = 3,
                    PublishTime = T,
                    NotificationData =
                    [
                        new ExtensionObject(new DataChangeNotification { MonitoredItems = [.. values.Select((v, i) => new MonitoredItemNotification { ClientHandle = (uint)i, Value = v })] }),
                        new ExtensionObject(new StatusChangeNotification { Status = StatusCodes.BadTimeout }),
                    ],
                },
                Results = [StatusCodes.Good],
            }),
            Message(new BrowseResponse
            {
                Results = [new BrowseResult
                {
                    ContinuationPoint = [1, 2],
                    References = [new ReferenceDescription { NodeId = new ExpandedNodeId(new NodeId(2, "x")), BrowseName = new QualifiedName(2, "x"), DisplayName = new LocalizedText(null, "x"), NodeClass = NodeClass.Variable }],
                }],
            }),
            Message(new GetEndpointsResponse
            {
                Endpoints = [new EndpointDescription
                {
                    EndpointUrl = "opc.tcp://h:4840",
                    ServerCertificate = new byte[64],
                    SecurityMode = MessageSecurityMode.SignAndEncrypt,
                    SecurityPolicyUri = "p",
                    UserIdentityTokens = [new UserTokenPolicy { PolicyId = "u", TokenType = UserTokenType.UserName }],
                    Server = new ApplicationDescription { ApplicationUri = "urn:s", DiscoveryUrls = ["a", "b"] },
                }],
            }),
            Message(new CreateSessionResponse { SessionId = new NodeId(1, Guid.NewGuid()), AuthenticationToken = new NodeId(0, new byte[] { 9, 9 }), ServerNonce = new byte[32], ServerSignature = new SignatureData { Algorithm = "a", Signature = [1] } }),
            Message(new HistoryReadResponse { Results = [new HistoryReadResult { HistoryData = new ExtensionObject(new HistoryData { DataValues = values[..5] }), ContinuationPoint = [4] }] }),
            Message(new TranslateBrowsePathsToNodeIdsResponse { Results = [new BrowsePathResult { Targets = [new BrowsePathTarget { TargetId = new ExpandedNodeId(new NodeId(1, 5u)), RemainingPathIndex = uint.MaxValue }] }] }),
            Message(new ServiceFault { ResponseHeader = new ResponseHeader { ServiceResult = StatusCodes.BadSessionIdInvalid, StringTable = ["why"], ServiceDiagnostics = new DiagnosticInfo(0) } }),
            Message(new OpenSecureChannelResponse { SecurityToken = new ChannelSecurityToken { ChannelId = 1, TokenId = 2, CreatedAt = T, RevisedLifetime = 3 }, ServerNonce = new byte[32] }),
        ];
    }

    [Fact]
    public void Corpus_decodes_cleanly()
    {
        foreach (var m in Corpus())
            SecureChannel.DecodeMessage(m, OpcUaLimits.Default);
    }

    [Fact]
    public void Mutated_messages_decode_or_fail_with_an_OpcUa_error_at_an_offset()
    {
        int iterations = int.TryParse(Environment.GetEnvironmentVariable("ZHIZAO_FUZZ_ITERATIONS"), out int n) ? n : 100_000;
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var corpus = Corpus();
        var limits = new OpcUaLimits { MaxArrayLength = 10_000, MaxStringLength = 65536, MaxByteStringLength = 65536, MaxNestingDepth = 16 };
        var watch = Stopwatch.StartNew();
        int decoded = 0, refused = 0;
        for (int i = 0; i < iterations; i++)
        {
            byte[] input = Mutate(corpus[random.Next(corpus.Count)], random);
            try
            {
                SecureChannel.DecodeMessage(input, limits);
                decoded++;
            }
            catch (OpcUaException e)
            {
                refused++;
                if (e is OpcUaDecodingException d && (d.Offset < 0 || d.Offset > input.Length))
                    Assert.Fail($"offset {d.Offset} outside a {input.Length}-byte message (seed {seed}, iteration {i}): {Convert.ToHexString(input)}");
            }
            catch (Exception e)
            {
                Assert.Fail($"{e.GetType().Name} at iteration {i} (seed {seed}): {e.Message}\ninput: {Convert.ToHexString(input)}\n{e.StackTrace}");
            }
        }
        Assert.Equal(iterations, decoded + refused);
        Assert.True(refused > iterations / 10, $"{refused} refused of {iterations}: the mutations are too timid");
        Assert.True(decoded > 0, "no mutated message decoded: the mutations are too destructive");
        Console.WriteLine($"fuzz: {iterations} messages in {watch.Elapsed.TotalSeconds:0.0} s, {decoded} decoded, {refused} refused (seed {seed})");
    }

    [Fact]
    public void Mutated_chunk_headers_acknowledge_and_error_messages_fail_cleanly()
    {
        int seed = Environment.TickCount;
        var random = new Random(seed);
        var ack = new byte[] { (byte)'A', (byte)'C', (byte)'K', (byte)'F', 28, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0 };
        using var e = new BinaryEncoder();
        e.WriteRaw("ERRF\0\0\0\0"u8);
        e.WriteStatusCode(StatusCodes.BadTcpInternalError);
        e.WriteString("reason");
        var err = e.ToArray();
        for (int i = 0; i < 20_000; i++)
        {
            byte[] input = Mutate(i % 2 == 0 ? ack : err, random);
            if (input.Length < 8)
                continue;
            try
            {
                var header = ChunkHeader.Parse(input, 65535);
                var body = input.AsMemory(8);
                if (header.MessageType == MessageTypes.Acknowledge)
                    HelloCodec.DecodeAcknowledge(body);
                else
                    Assert.NotNull(HelloCodec.DecodeError(body).Message);
            }
            catch (OpcUaException)
            {
            }
            catch (Exception ex)
            {
                Assert.Fail($"{ex.GetType().Name} (seed {seed}, iteration {i}): {ex.Message}\ninput: {Convert.ToHexString(input)}");
            }
        }
    }

    internal static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = new List<byte>(original);
        int edits = 1 + random.Next(4);
        for (int k = 0; k < edits; k++)
        {
            if (bytes.Count == 0)
                break;
            int at = random.Next(bytes.Count);
            switch (random.Next(7))
            {
                case 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.RemoveRange(at, Math.Min(bytes.Count - at, 1 + random.Next(8)));
                    break;
                case 3:
                    bytes.InsertRange(at, Enumerable.Range(0, 1 + random.Next(8)).Select(_ => (byte)random.Next(256)));
                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at); // truncate
                    break;
                case 5:
                    {
                        // a length or count field set to an extreme
                        int[] extremes = [-1, -2, 0, 1, int.MaxValue, int.MinValue, 65536, 1 << 24];
                        byte[] v = BitConverter.GetBytes(extremes[random.Next(extremes.Length)]);
                        for (int j = 0; j < 4 && at + j < bytes.Count; j++)
                            bytes[at + j] = v[j];
                        break;
                    }
                default:
                    bytes[at] = (byte)(bytes[at] & 0xC0 | random.Next(0x40)); // Variant / encoding byte type
                    break;
            }
        }
        return [.. bytes];
    }
}
