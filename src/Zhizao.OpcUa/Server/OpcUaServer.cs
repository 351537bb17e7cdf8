using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;

namespace Zhizao.OpcUa.Server;

/// <summary>
/// An OPC UA server (UA-TCP binary, SecurityPolicy None) over an <see cref="AddressSpace"/>: GetEndpoints,
/// CreateSession/ActivateSession (anonymous, user name), CloseSession, Browse/BrowseNext, TranslateBrowsePathsToNodeIds,
/// Read, Write, HistoryRead (raw), CreateSubscription, CreateMonitoredItems (sampling interval, queue size, absolute
/// deadband), DeleteMonitoredItems, Publish (with keep-alives), Republish, TransferSubscriptions, DeleteSubscriptions.
/// Bad input closes that channel with an Error message; other channels keep being served.
/// </summary>
public sealed partial class OpcUaServer : IAsyncDisposable
{
    private readonly Lock _state = new();
    private readonly ConcurrentDictionary<uint, ServerChannel> _channels = new();
    private readonly Dictionary<NodeId, ServerSession> _sessions = [];
    private readonly Dictionary<uint, ServerSubscription> _subscriptions = [];
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private Task _publishLoop = Task.CompletedTask;
    private int _nextChannelId;
    private uint _nextSubscriptionId;
    private long _badInput;
    private long _notifications;
    private long _publishResponses;

    public OpcUaServer(OpcUaServerOptions? options = null)
    {
        Options = options ?? new OpcUaServerOptions();
        if (Options.Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(options), $"port {Options.Port} outside 0..65535");
        if (!Options.AllowSecurityNone && Options.Certificates is null)
            throw new ArgumentException("with AllowSecurityNone off the server needs Certificates for Basic256Sha256", nameof(options));
        if (Options.Limits.ReceiveBufferSize < 8192)
            throw new ArgumentOutOfRangeException(nameof(options), "Limits.ReceiveBufferSize must be at least 8192");
        AddressSpace = new AddressSpace(Options.NamespaceUri);
    }

    public OpcUaServerOptions Options { get; }

    internal IEnumerable<string> OfferedPolicies =>
        (Options.AllowSecurityNone ? [SecurityPolicies.None] : Array.Empty<string>()).Concat(Options.Certificates is null ? [] : [SecurityPolicies.Basic256Sha256]);
    public AddressSpace AddressSpace { get; }
    public int Port { get; private set; }

    /// <summary>opc.tcp://host:port/path; the host is 127.0.0.1 when listening on loopback or any address.</summary>
    public string EndpointUrl
    {
        get
        {
            var a = Options.Address;
            string host = a.Equals(IPAddress.Any) || a.Equals(IPAddress.Loopback) ? "127.0.0.1"
                : a.Equals(IPAddress.IPv6Any) || a.Equals(IPAddress.IPv6Loopback) ? "[::1]"
                : a.AddressFamily == AddressFamily.InterNetworkV6 ? $"[{a}]" : a.ToString();
            return $"opc.tcp://{host}:{Port}{Options.Path}";
        }
    }

    /// <summary>Channels closed for bad input (framing, sequence, limits, undecodable messages).</summary>
    public long BadInputCount => Interlocked.Read(ref _badInput);
    public long NotificationCount => Interlocked.Read(ref _notifications);
    public long PublishResponseCount => Interlocked.Read(ref _publishResponses);
    public int ChannelCount => _channels.Count;

    public int SessionCount
    {
        get
        {
            lock (_state)
                return _sessions.Count;
        }
    }

    public int MonitoredItemCount
    {
        get
        {
            lock (_state)
                return _subscriptions.Values.Sum(s => s.Items.Count);
        }
    }

    public void Start()
    {
        if (_listener is not null)
            throw new InvalidOperationException("the server is already started");
        var listener = new Socket(Options.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(Options.Address, Options.Port));
            listener.Listen(128);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        _listener = listener;
        Port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
        _publishLoop = Task.Run(PublishLoopAsync);
    }

    internal void Log(string message) => Options.Log?.Invoke(message);

    internal void CountBadInput() => Interlocked.Increment(ref _badInput);

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener!.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException e)
            {
                Log($"OPC UA server :{Port}: accept failed: {e.SocketErrorCode}");
                continue;
            }
            if (_channels.Count >= Options.MaxChannels)
            {
                Log($"OPC UA server :{Port}: refused {socket.RemoteEndPoint}: {Options.MaxChannels} channels open (MaxChannels)");
                socket.Dispose();
                continue;
            }
            socket.NoDelay = true;
            uint id = (uint)Interlocked.Increment(ref _nextChannelId);
            var channel = new ServerChannel(this, socket, id);
            _channels[id] = channel;
            _ = Task.Run(() => channel.RunAsync(_stop.Token));
        }
    }

    internal void OnChannelClosed(ServerChannel channel)
    {
        _channels.TryRemove(channel.ChannelId, out _);
        lock (_state)
        {
            foreach (var session in _sessions.Values)
            {
                if (session.Channel == channel)
                {
                    session.Channel = null;
                    session.LastActivity = DateTime.UtcNow;
                    session.PublishQueue.Clear();
                }
            }
        }
    }

    internal static ServiceFault Fault(StatusCode status) => new() { ResponseHeader = new ResponseHeader { ServiceResult = status } };

    /// <summary>Handles a request; null when the answer comes later (Publish).</summary>
    internal ServiceResponse? Handle(ServerChannel channel, uint requestId, ServiceRequest request)
    {
        try
        {
            if (request is GetEndpointsRequest endpoints)
                return new GetEndpointsResponse { Endpoints = Endpoints(endpoints.EndpointUrl) };
            if (channel.SecurityMode == MessageSecurityMode.None && !Options.AllowSecurityNone)
                return Fault(StatusCodes.BadSecurityModeRejected); // a None channel is for discovery only here
            switch (request)
            {
                case CreateSessionRequest r:
                    return CreateSession(channel, r);
                case ActivateSessionRequest r:
                    return ActivateSession(channel, r);
            }
            lock (_state)
            {
                if (!_sessions.TryGetValue(request.RequestHeader.AuthenticationToken, out var session))
                    return Fault(StatusCodes.BadSessionIdInvalid);
                if (!session.Activated)
                    return Fault(StatusCodes.BadSessionNotActivated);
                if (session.Channel != channel)
                    return Fault(StatusCodes.BadSecureChannelIdInvalid);
                session.LastActivity = DateTime.UtcNow;
                return request switch
                {
                    CloseSessionRequest => CloseSession(session),
                    ReadRequest r => Read(r),
                    WriteRequest r => Write(r),
                    BrowseRequest r => Browse(session, r),
                    BrowseNextRequest r => BrowseNext(session, r),
                    TranslateBrowsePathsToNodeIdsRequest r => Translate(r),
                    HistoryReadRequest r => HistoryRead(r),
                    CreateSubscriptionRequest r => CreateSubscription(session, r),
                    CreateMonitoredItemsRequest r => CreateMonitoredItems(session, r),
                    DeleteMonitoredItemsRequest r => DeleteMonitoredItems(session, r),
                    DeleteSubscriptionsRequest r => DeleteSubscriptions(session, r),
                    TransferSubscriptionsRequest r => TransferSubscriptions(session, r),
                    PublishRequest r => Publish(session, channel, requestId, r),
                    RepublishRequest r => Republish(session, r),
                    _ => Fault(StatusCodes.BadServiceUnsupported),
                };
            }
        }
        catch (ArgumentException e)
        {
            Log($"OPC UA server: channel {channel.ChannelId}: {request.GetType().Name} rejected: {e.Message}");
            return Fault(ServerStatusCodes.BadInvalidArgument);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // a bug of ours must not take the channel down with it: the client gets a fault, the log the cause
            Log($"OPC UA server: channel {channel.ChannelId}: {request.GetType().Name} failed inside the server: {e}");
            return Fault(StatusCodes.BadInternalError);
        }
    }

    // ---------------------------------------------------------------- endpoints and sessions

    private EndpointDescription[] Endpoints(string? requestedUrl)
    {
        var tokens = new List<UserTokenPolicy>();
        if (Options.AllowAnonymous)
            tokens.Add(new UserTokenPolicy { PolicyId = "anonymous", TokenType = UserTokenType.Anonymous });
        if (Options.Users is { Count: > 0 })
            tokens.Add(new UserTokenPolicy { PolicyId = "username", TokenType = UserTokenType.UserName, SecurityPolicyUri = SecurityPolicies.None });
        byte[]? certificate = Options.Certificates?.ApplicationCertificate.RawData;
        var modes = new List<(MessageSecurityMode Mode, string Policy, byte Level)>();
        if (Options.AllowSecurityNone)
            modes.Add((MessageSecurityMode.None, SecurityPolicies.None, 0));
        if (certificate is not null)
        {
            modes.Add((MessageSecurityMode.Sign, SecurityPolicies.Basic256Sha256, 2));
            modes.Add((MessageSecurityMode.SignAndEncrypt, SecurityPolicies.Basic256Sha256, 3));
        }
        return [.. modes.Select(m => new EndpointDescription
        {
            EndpointUrl = string.IsNullOrEmpty(requestedUrl) ? EndpointUrl : requestedUrl,
            Server = new ApplicationDescription
            {
                ApplicationUri = Options.Certificates?.ApplicationUri ?? Options.ApplicationUri,
                ProductUri = "urn:zhizao",
                ApplicationName = new LocalizedText("en", Options.ApplicationName),
                ApplicationType = ApplicationType.Server,
                DiscoveryUrls = [EndpointUrl],
            },
            ServerCertificate = certificate,
            SecurityMode = m.Mode,
            SecurityPolicyUri = m.Policy,
            UserIdentityTokens = [.. tokens],
            TransportProfileUri = "http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary",
            SecurityLevel = m.Level,
        })];
    }

    private ServiceResponse CreateSession(ServerChannel channel, CreateSessionRequest r)
    {
        double timeout = double.IsFinite(r.RequestedSessionTimeout) ? Math.Clamp(r.RequestedSessionTimeout, 10_000, 3_600_000) : 60_000;
        lock (_state)
        {
            if (_sessions.Count >= Options.MaxSessions)
                return Fault(ServerStatusCodes.BadTooManySessions);
            var signature = new SignatureData();
            if (channel.SecurityMode != MessageSecurityMode.None)
            {
                if (r.ClientNonce is not { Length: >= 32 } || r.ClientCertificate is null || !r.ClientCertificate.AsSpan().SequenceEqual(channel.ClientCertificate!.RawData))
                    return Fault(r.ClientNonce is not { Length: >= 32 } ? StatusCodes.BadNonceInvalid : StatusCodes.BadCertificateInvalid);
                signature = new SignatureData
                {
                    Algorithm = Security.CryptoUtils.RsaSha256SignatureUri,
                    Signature = Security.CryptoUtils.RsaSign(Options.Certificates!.ApplicationCertificate, [.. r.ClientCertificate, .. r.ClientNonce]),
                };
            }
            var session = new ServerSession(new NodeId(1, Guid.NewGuid()), new NodeId(0, RandomNumberGenerator.GetBytes(32)), r.SessionName ?? "", timeout)
            {
                Channel = channel,
                ServerNonce = RandomNumberGenerator.GetBytes(32),
                ClientCertificate = r.ClientCertificate,
            };
            _sessions[session.AuthenticationToken] = session;
            Log($"OPC UA server: session '{session.Name}' created on channel {channel.ChannelId} ({channel.SecurityMode})");
            return new CreateSessionResponse
            {
                SessionId = session.SessionId,
                AuthenticationToken = session.AuthenticationToken,
                RevisedSessionTimeout = timeout,
                ServerNonce = session.ServerNonce,
                ServerCertificate = Options.Certificates?.ApplicationCertificate.RawData,
                ServerEndpoints = Endpoints(r.EndpointUrl),
                ServerSignature = signature,
                MaxRequestMessageSize = (uint)Options.Limits.MaxMessageSize,
            };
        }
    }

    private ServiceResponse ActivateSession(ServerChannel channel, ActivateSessionRequest r)
    {
        string? user = null;
        switch (r.UserIdentityToken.Body)
        {
            case null or AnonymousIdentityToken:
                if (!Options.AllowAnonymous)
                    return Fault(StatusCodes.BadIdentityTokenRejected);
                break;
            case UserNameIdentityToken u:
                if (!string.IsNullOrEmpty(u.EncryptionAlgorithm))
                    return Fault(StatusCodes.BadIdentityTokenInvalid);
                if (Options.Users is null || u.UserName is null || !Options.Users.TryGetValue(u.UserName, out string? expected)
                    || !CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(expected), u.Password ?? []))
                {
                    Log($"OPC UA server: channel {channel.ChannelId}: user name '{u.UserName}' refused");
                    return Fault(StatusCodes.BadUserAccessDenied);
                }
                user = u.UserName;
                break;
            default:
                return Fault(StatusCodes.BadIdentityTokenInvalid);
        }
        lock (_state)
        {
            if (!_sessions.TryGetValue(r.RequestHeader.AuthenticationToken, out var session))
                return Fault(StatusCodes.BadSessionIdInvalid);
            if (session.Activated && session.UserName != user)
                return Fault(ServerStatusCodes.BadIdentityChangeNotSupported);
            if (channel.SecurityMode != MessageSecurityMode.None)
            {
                // the client proves it holds the key of the channel's certificate by signing our certificate and last nonce
                byte[] signed = [.. Options.Certificates!.ApplicationCertificate.RawData, .. session.ServerNonce];
                if (channel.ClientCertificate is null || r.ClientSignature.Signature is null
                    || session.ClientCertificate is null || !session.ClientCertificate.AsSpan().SequenceEqual(channel.ClientCertificate.RawData)
                    || !Security.CryptoUtils.RsaVerify(channel.ClientCertificate, signed, r.ClientSignature.Signature))
                {
                    Log($"OPC UA server: channel {channel.ChannelId}: ActivateSession client signature does not verify");
                    return Fault(StatusCodes.BadApplicationSignatureInvalid);
                }
            }
            if (session.Channel != channel)
            {
                session.PublishQueue.Clear();
                Log($"OPC UA server: session '{session.Name}' moves to channel {channel.ChannelId}");
            }
            session.Channel = channel;
            session.Activated = true;
            session.UserName = user;
            session.LastActivity = DateTime.UtcNow;
            foreach (var s in session.Subscriptions.Values)
                s.SendKeepAliveNow = true;
            session.ServerNonce = RandomNumberGenerator.GetBytes(32);
            return new ActivateSessionResponse { ServerNonce = session.ServerNonce };
        }
    }

    private CloseSessionResponse CloseSession(ServerSession session)
    {
        RemoveSession(session);
        Log($"OPC UA server: session '{session.Name}' closed");
        return new CloseSessionResponse();
    }

    private void RemoveSession(ServerSession session)
    {
        _sessions.Remove(session.AuthenticationToken);
        foreach (var id in session.Subscriptions.Keys)
            _subscriptions.Remove(id);
        session.Subscriptions.Clear();
        session.PublishQueue.Clear();
    }

    // ---------------------------------------------------------------- attributes

    internal static DataValue WithTimestamps(DataValue v, TimestampsToReturn t) => t switch
    {
        TimestampsToReturn.Both => v,
        TimestampsToReturn.Source => v.ServerTimestamp is null ? v : v with { ServerTimestamp = null },
        TimestampsToReturn.Server => v with { SourceTimestamp = null },
        _ => v with { SourceTimestamp = null, ServerTimestamp = null },
    };

    private ReadResponse Read(ReadRequest r)
    {
        var results = new DataValue[r.NodesToRead.Length];
        for (int i = 0; i < results.Length; i++)
            results[i] = ReadAttribute(r.NodesToRead[i], r.TimestampsToReturn);
        return new ReadResponse { Results = results };
    }

    private DataValue ReadAttribute(ReadValueId id, TimestampsToReturn timestamps)
    {
        var node = AddressSpace.Find(id.NodeId);
        if (node is null)
            return new DataValue { Status = StatusCodes.BadNodeIdUnknown };
        if (!string.IsNullOrEmpty(id.IndexRange))
            return new DataValue { Status = ServerStatusCodes.BadIndexRangeInvalid };
        var variable = node as UaVariable;
        Variant? v = id.AttributeId switch
        {
            1 => new Variant(node.NodeId),
            2 => new Variant((int)node.NodeClass),
            3 => new Variant(node.BrowseName),
            4 => new Variant(node.DisplayName),
            5 => new Variant(node.Description),
            6 or 7 => new Variant(0u),
            12 when variable is null => new Variant((byte)0),
            13 when variable is not null => null,
            14 when variable is not null => new Variant(ServerNodeIds.DataType(variable.DataType)),
            15 when variable is not null => new Variant(variable.ValueRank),
            16 when variable is not null => new Variant(BuiltInType.UInt32, variable.ValueRank == 1 ? new uint[] { 0 } : Array.Empty<uint>()),
            17 or 18 when variable is not null => new Variant((byte)(1 | (variable.Writable ? 2 : 0) | (variable.Historizing ? 4 : 0))),
            19 when variable is not null => new Variant(Options.MinSamplingIntervalMs),
            20 when variable is not null => new Variant(variable.Historizing),
            _ => default(Variant?),
        };
        if (v is { } value)
            return new DataValue(value);
        if (id.AttributeId == 13 && variable is not null)
            return WithTimestamps(variable.Value, timestamps);
        return new DataValue { Status = StatusCodes.BadAttributeIdInvalid };
    }

    private WriteResponse Write(WriteRequest r)
    {
        var results = new StatusCode[r.NodesToWrite.Length];
        for (int i = 0; i < results.Length; i++)
        {
            var w = r.NodesToWrite[i];
            var node = AddressSpace.Find(w.NodeId);
            results[i] = node is null ? StatusCodes.BadNodeIdUnknown
                : w.AttributeId != Attributes.Value || node is not UaVariable v ? StatusCodes.BadNotWritable
                : !string.IsNullOrEmpty(w.IndexRange) ? ServerStatusCodes.BadIndexRangeInvalid
                : v.WriteFromClient(w.Value);
        }
        return new WriteResponse { Results = results };
    }

    // ---------------------------------------------------------------- browse

    private List<ReferenceDescription> References(UaNode node, BrowseDescription b)
    {
        var list = new List<ReferenceDescription>();
        bool forward = b.BrowseDirection is BrowseDirection.Forward or BrowseDirection.Both;
        bool inverse = b.BrowseDirection is BrowseDirection.Inverse or BrowseDirection.Both;
        if (forward)
        {
            foreach (var child in AddressSpace.ChildrenOf(node))
            {
                if (AddressSpace.IsReferenceOf(child.ParentReference, b.ReferenceTypeId, b.IncludeSubtypes) && ClassMatches(child.NodeClass, b.NodeClassMask))
                    list.Add(Describe(child.ParentReference, true, child));
            }
            if (AddressSpace.IsReferenceOf(ServerNodeIds.HasTypeDefinition, b.ReferenceTypeId, b.IncludeSubtypes))
            {
                var cls = node.NodeClass == NodeClass.Variable ? NodeClass.VariableType : NodeClass.ObjectType;
                if (ClassMatches(cls, b.NodeClassMask))
                {
                    list.Add(new ReferenceDescription
                    {
                        ReferenceTypeId = ServerNodeIds.HasTypeDefinition,
                        IsForward = true,
                        NodeId = new ExpandedNodeId(node.TypeDefinition),
                        BrowseName = new QualifiedName(0, TypeName(node.TypeDefinition)),
                        DisplayName = new LocalizedText(null, TypeName(node.TypeDefinition)),
                        NodeClass = cls,
                    });
                }
            }
        }
        if (inverse && node.Parent is { } parent && AddressSpace.IsReferenceOf(node.ParentReference, b.ReferenceTypeId, b.IncludeSubtypes)
            && ClassMatches(parent.NodeClass, b.NodeClassMask))
            list.Add(Describe(node.ParentReference, false, parent));
        return list;
    }

    private static string TypeName(NodeId type) => type.IdType == IdType.Numeric ? type.NumericId switch
    {
        61 => "FolderType",
        58 => "BaseObjectType",
        63 => "BaseDataVariableType",
        68 => "PropertyType",
        2004 => "ServerType",
        _ => type.ToString(),
    } : type.ToString();

    private static bool ClassMatches(NodeClass c, uint mask) => mask == 0 || (mask & (uint)c) != 0;

    private static ReferenceDescription Describe(NodeId referenceType, bool forward, UaNode target) => new()
    {
        ReferenceTypeId = referenceType,
        IsForward = forward,
        NodeId = new ExpandedNodeId(target.NodeId),
        BrowseName = target.BrowseName,
        DisplayName = target.DisplayName,
        NodeClass = target.NodeClass,
        TypeDefinition = new ExpandedNodeId(target.TypeDefinition),
    };

    private BrowseResponse Browse(ServerSession session, BrowseRequest r)
    {
        var results = new BrowseResult[r.NodesToBrowse.Length];
        for (int i = 0; i < results.Length; i++)
        {
            var b = r.NodesToBrowse[i];
            var node = AddressSpace.Find(b.NodeId);
            if (node is null)
            {
                results[i] = new BrowseResult { StatusCode = StatusCodes.BadNodeIdUnknown };
                continue;
            }
            if (!Enum.IsDefined(b.BrowseDirection))
            {
                results[i] = new BrowseResult { StatusCode = ServerStatusCodes.BadBrowseDirectionInvalid };
                continue;
            }
            results[i] = Page(session, References(node, b), r.RequestedMaxReferencesPerNode);
        }
        return new BrowseResponse { Results = results };
    }

    private static BrowseResult Page(ServerSession session, List<ReferenceDescription> all, uint max)
    {
        if (max == 0 || all.Count <= max)
            return new BrowseResult { References = [.. all] };
        if (session.BrowseContinuations.Count >= 100)
            return new BrowseResult { StatusCode = StatusCodes.BadNoContinuationPoints };
        byte[] cp = RandomNumberGenerator.GetBytes(16);
        session.BrowseContinuations[Convert.ToHexString(cp)] = (all[(int)max..], max);
        return new BrowseResult { References = [.. all.Take((int)max)], ContinuationPoint = cp };
    }

    private static BrowseNextResponse BrowseNext(ServerSession session, BrowseNextRequest r)
    {
        var results = new BrowseResult[r.ContinuationPoints.Length];
        for (int i = 0; i < results.Length; i++)
        {
            byte[]? cp = r.ContinuationPoints[i];
            string key = cp is null ? "" : Convert.ToHexString(cp);
            if (!session.BrowseContinuations.Remove(key, out var rest))
            {
                results[i] = new BrowseResult { StatusCode = StatusCodes.BadContinuationPointInvalid };
                continue;
            }
            if (r.ReleaseContinuationPoints)
            {
                results[i] = new BrowseResult();
                continue;
            }
            results[i] = Page(session, rest.Remaining, rest.PageSize); // pages of the size the first Browse asked for
        }
        return new BrowseNextResponse { Results = results };
    }

    private TranslateBrowsePathsToNodeIdsResponse Translate(TranslateBrowsePathsToNodeIdsRequest r)
    {
        var results = new BrowsePathResult[r.BrowsePaths.Length];
        for (int i = 0; i < results.Length; i++)
        {
            var path = r.BrowsePaths[i];
            var node = AddressSpace.Find(path.StartingNode);
            if (node is null)
            {
                results[i] = new BrowsePathResult { StatusCode = StatusCodes.BadNodeIdUnknown };
                continue;
            }
            if (path.Elements.Length == 0)
            {
                results[i] = new BrowsePathResult { StatusCode = StatusCodes.BadNothingToDo };
                continue;
            }
            foreach (var element in path.Elements)
            {
                if (element.TargetName.Name is null)
                {
                    node = null;
                    break;
                }
                node = element.IsInverse
                    ? node.Parent is { } p && p.BrowseName == element.TargetName && AddressSpace.IsReferenceOf(node.ParentReference, element.ReferenceTypeId, element.IncludeSubtypes) ? p : null
                    : AddressSpace.ChildrenOf(node).FirstOrDefault(c => c.BrowseName == element.TargetName && AddressSpace.IsReferenceOf(c.ParentReference, element.ReferenceTypeId, element.IncludeSubtypes));
                if (node is null)
                    break;
            }
            results[i] = node is null
                ? new BrowsePathResult { StatusCode = ServerStatusCodes.BadNoMatch }
                : new BrowsePathResult { Targets = [new BrowsePathTarget { TargetId = new ExpandedNodeId(node.NodeId), RemainingPathIndex = uint.MaxValue }] };
        }
        return new TranslateBrowsePathsToNodeIdsResponse { Results = results };
    }

    // ---------------------------------------------------------------- history

    private const int MaxHistoryValuesPerNode = 10_000;

    private HistoryReadResponse HistoryRead(HistoryReadRequest r)
    {
        if (r.HistoryReadDetails.Body is not ReadRawModifiedDetails details || details.IsReadModified)
            return new HistoryReadResponse { Results = [.. r.NodesToRead.Select(_ => new HistoryReadResult { StatusCode = StatusCodes.BadHistoryOperationUnsupported })] };
        var results = new HistoryReadResult[r.NodesToRead.Length];
        for (int i = 0; i < results.Length; i++)
        {
            var id = r.NodesToRead[i];
            if (r.ReleaseContinuationPoints)
            {
                results[i] = new HistoryReadResult();
                continue;
            }
            if (AddressSpace.Find(id.NodeId) is not UaVariable variable)
            {
                results[i] = new HistoryReadResult { StatusCode = StatusCodes.BadNodeIdUnknown };
                continue;
            }
            if (!variable.Historizing)
            {
                results[i] = new HistoryReadResult { StatusCode = StatusCodes.BadHistoryOperationUnsupported };
                continue;
            }
            DateTime from = details.StartTime, to = details.EndTime;
            if (from == DateTime.MinValue && to == DateTime.MinValue)
            {
                results[i] = new HistoryReadResult { StatusCode = StatusCodes.BadHistoryOperationInvalid };
                continue;
            }
            if (to == DateTime.MinValue)
                to = DateTime.MaxValue;
            else if (from == DateTime.MinValue)
                (from, to) = (to, DateTime.MinValue);
            if (id.ContinuationPoint is { } cp)
            {
                if (cp.Length != 8)
                {
                    results[i] = new HistoryReadResult { StatusCode = StatusCodes.BadContinuationPointInvalid };
                    continue;
                }
                from = new DateTime(BinaryPrimitives.ReadInt64LittleEndian(cp), DateTimeKind.Utc);
            }
            int max = details.NumValuesPerNode == 0 ? MaxHistoryValuesPerNode : (int)Math.Min(details.NumValuesPerNode, MaxHistoryValuesPerNode);
            var values = variable.ReadHistory(from, to, max + 1, out _);
            byte[]? next = null;
            if (values.Count > max)
            {
                next = new byte[8];
                BinaryPrimitives.WriteInt64LittleEndian(next, values[max].SourceTimestamp!.Value.Ticks);
                values.RemoveAt(max);
            }
            results[i] = new HistoryReadResult
            {
                StatusCode = values.Count == 0 ? StatusCodes.GoodNoData : StatusCodes.Good,
                ContinuationPoint = next,
                HistoryData = new ExtensionObject(new HistoryData { DataValues = [.. values.Select(v => WithTimestamps(v, r.TimestampsToReturn))] }),
            };
        }
        return new HistoryReadResponse { Results = results };
    }

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _listener?.Dispose();
        await _acceptLoop;
        await _publishLoop;
        foreach (var channel in _channels.Values)
            channel.Close();
    }
}
