namespace Zhizao.OpcUa;

#pragma warning disable CA1819 // message fields are arrays on the wire

internal static class Messages
{
    internal static void RegisterAll()
    {
        EncodeableTypes.Register(397, () => new ServiceFault());
        EncodeableTypes.Register(446, () => new OpenSecureChannelRequest());
        EncodeableTypes.Register(449, () => new OpenSecureChannelResponse());
        EncodeableTypes.Register(452, () => new CloseSecureChannelRequest());
        EncodeableTypes.Register(428, () => new GetEndpointsRequest());
        EncodeableTypes.Register(431, () => new GetEndpointsResponse());
        EncodeableTypes.Register(461, () => new CreateSessionRequest());
        EncodeableTypes.Register(464, () => new CreateSessionResponse());
        EncodeableTypes.Register(467, () => new ActivateSessionRequest());
        EncodeableTypes.Register(470, () => new ActivateSessionResponse());
        EncodeableTypes.Register(473, () => new CloseSessionRequest());
        EncodeableTypes.Register(476, () => new CloseSessionResponse());
        EncodeableTypes.Register(321, () => new AnonymousIdentityToken());
        EncodeableTypes.Register(324, () => new UserNameIdentityToken());
        EncodeableTypes.Register(527, () => new BrowseRequest());
        EncodeableTypes.Register(530, () => new BrowseResponse());
        EncodeableTypes.Register(533, () => new BrowseNextRequest());
        EncodeableTypes.Register(536, () => new BrowseNextResponse());
        EncodeableTypes.Register(554, () => new TranslateBrowsePathsToNodeIdsRequest());
        EncodeableTypes.Register(557, () => new TranslateBrowsePathsToNodeIdsResponse());
        EncodeableTypes.Register(631, () => new ReadRequest());
        EncodeableTypes.Register(634, () => new ReadResponse());
        EncodeableTypes.Register(673, () => new WriteRequest());
        EncodeableTypes.Register(676, () => new WriteResponse());
        EncodeableTypes.Register(664, () => new HistoryReadRequest());
        EncodeableTypes.Register(667, () => new HistoryReadResponse());
        EncodeableTypes.Register(649, () => new ReadRawModifiedDetails());
        EncodeableTypes.Register(658, () => new HistoryData());
        EncodeableTypes.Register(787, () => new CreateSubscriptionRequest());
        EncodeableTypes.Register(790, () => new CreateSubscriptionResponse());
        EncodeableTypes.Register(751, () => new CreateMonitoredItemsRequest());
        EncodeableTypes.Register(754, () => new CreateMonitoredItemsResponse());
        EncodeableTypes.Register(781, () => new DeleteMonitoredItemsRequest());
        EncodeableTypes.Register(784, () => new DeleteMonitoredItemsResponse());
        EncodeableTypes.Register(724, () => new DataChangeFilter());
        EncodeableTypes.Register(826, () => new PublishRequest());
        EncodeableTypes.Register(829, () => new PublishResponse());
        EncodeableTypes.Register(811, () => new DataChangeNotification());
        EncodeableTypes.Register(820, () => new StatusChangeNotification());
        EncodeableTypes.Register(832, () => new RepublishRequest());
        EncodeableTypes.Register(835, () => new RepublishResponse());
        EncodeableTypes.Register(841, () => new TransferSubscriptionsRequest());
        EncodeableTypes.Register(844, () => new TransferSubscriptionsResponse());
        EncodeableTypes.Register(847, () => new DeleteSubscriptionsRequest());
        EncodeableTypes.Register(850, () => new DeleteSubscriptionsResponse());
    }
}

public sealed class ServiceFault : ServiceResponse
{
    public override NodeId BinaryEncodingId => 397;
    protected override void EncodeBody(BinaryEncoder e) { }
    protected override void DecodeBody(BinaryDecoder d) { }
}

public sealed class ChannelSecurityToken
{
    public uint ChannelId { get; set; }
    public uint TokenId { get; set; }
    public DateTime CreatedAt { get; set; }
    public uint RevisedLifetime { get; set; }
}

public sealed class OpenSecureChannelRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 446;
    public uint ClientProtocolVersion { get; set; }
    public int RequestType { get; set; }
    public MessageSecurityMode SecurityMode { get; set; } = MessageSecurityMode.None;
    public byte[]? ClientNonce { get; set; }
    public uint RequestedLifetime { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(ClientProtocolVersion);
        e.WriteInt32(RequestType);
        e.WriteInt32((int)SecurityMode);
        e.WriteByteString(ClientNonce);
        e.WriteUInt32(RequestedLifetime);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ClientProtocolVersion = d.ReadUInt32();
        RequestType = d.ReadInt32();
        SecurityMode = (MessageSecurityMode)d.ReadInt32();
        ClientNonce = d.ReadByteString();
        RequestedLifetime = d.ReadUInt32();
    }
}

public sealed class OpenSecureChannelResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 449;
    public uint ServerProtocolVersion { get; set; }
    public ChannelSecurityToken SecurityToken { get; set; } = new();
    public byte[]? ServerNonce { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(ServerProtocolVersion);
        e.WriteUInt32(SecurityToken.ChannelId);
        e.WriteUInt32(SecurityToken.TokenId);
        e.WriteDateTime(SecurityToken.CreatedAt);
        e.WriteUInt32(SecurityToken.RevisedLifetime);
        e.WriteByteString(ServerNonce);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ServerProtocolVersion = d.ReadUInt32();
        SecurityToken = new ChannelSecurityToken
        {
            ChannelId = d.ReadUInt32(),
            TokenId = d.ReadUInt32(),
            CreatedAt = d.ReadDateTime(),
            RevisedLifetime = d.ReadUInt32(),
        };
        ServerNonce = d.ReadByteString();
    }
}

public sealed class CloseSecureChannelRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 452;
    protected override void EncodeBody(BinaryEncoder e) { }
    protected override void DecodeBody(BinaryDecoder d) { }
}

public sealed class ApplicationDescription : IEncodeable
{
    public NodeId BinaryEncodingId => 310;
    public string? ApplicationUri { get; set; }
    public string? ProductUri { get; set; }
    public LocalizedText ApplicationName { get; set; } = LocalizedText.Null;
    public ApplicationType ApplicationType { get; set; }
    public string? GatewayServerUri { get; set; }
    public string? DiscoveryProfileUri { get; set; }
    public string?[] DiscoveryUrls { get; set; } = [];

    public void Encode(BinaryEncoder e)
    {
        e.WriteString(ApplicationUri);
        e.WriteString(ProductUri);
        e.WriteLocalizedText(ApplicationName);
        e.WriteInt32((int)ApplicationType);
        e.WriteString(GatewayServerUri);
        e.WriteString(DiscoveryProfileUri);
        e.WriteStrings(DiscoveryUrls);
    }

    public void Decode(BinaryDecoder d)
    {
        ApplicationUri = d.ReadString();
        ProductUri = d.ReadString();
        ApplicationName = d.ReadLocalizedText();
        ApplicationType = (ApplicationType)d.ReadInt32();
        GatewayServerUri = d.ReadString();
        DiscoveryProfileUri = d.ReadString();
        DiscoveryUrls = d.ReadStrings();
    }
}

public sealed class UserTokenPolicy : IEncodeable
{
    public NodeId BinaryEncodingId => 306;
    public string? PolicyId { get; set; }
    public UserTokenType TokenType { get; set; }
    public string? IssuedTokenType { get; set; }
    public string? IssuerEndpointUrl { get; set; }
    public string? SecurityPolicyUri { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteString(PolicyId);
        e.WriteInt32((int)TokenType);
        e.WriteString(IssuedTokenType);
        e.WriteString(IssuerEndpointUrl);
        e.WriteString(SecurityPolicyUri);
    }

    public void Decode(BinaryDecoder d)
    {
        PolicyId = d.ReadString();
        TokenType = (UserTokenType)d.ReadInt32();
        IssuedTokenType = d.ReadString();
        IssuerEndpointUrl = d.ReadString();
        SecurityPolicyUri = d.ReadString();
    }
}

public sealed class EndpointDescription : IEncodeable
{
    public NodeId BinaryEncodingId => 314;
    public string? EndpointUrl { get; set; }
    public ApplicationDescription Server { get; set; } = new();
    public byte[]? ServerCertificate { get; set; }
    public MessageSecurityMode SecurityMode { get; set; }
    public string? SecurityPolicyUri { get; set; }
    public UserTokenPolicy[] UserIdentityTokens { get; set; } = [];
    public string? TransportProfileUri { get; set; }
    public byte SecurityLevel { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteString(EndpointUrl);
        Server.Encode(e);
        e.WriteByteString(ServerCertificate);
        e.WriteInt32((int)SecurityMode);
        e.WriteString(SecurityPolicyUri);
        e.WriteEncodeableArray(UserIdentityTokens);
        e.WriteString(TransportProfileUri);
        e.WriteByte(SecurityLevel);
    }

    public void Decode(BinaryDecoder d)
    {
        EndpointUrl = d.ReadString();
        Server = d.ReadEncodeable<ApplicationDescription>();
        ServerCertificate = d.ReadByteString();
        SecurityMode = (MessageSecurityMode)d.ReadInt32();
        SecurityPolicyUri = d.ReadString();
        UserIdentityTokens = d.ReadEncodeableArray<UserTokenPolicy>();
        TransportProfileUri = d.ReadString();
        SecurityLevel = d.ReadByte();
    }

    public override string ToString() => $"{EndpointUrl} {SecurityMode} {SecurityPolicyUri}";
}

public sealed class GetEndpointsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 428;
    public string? EndpointUrl { get; set; }
    public string?[] LocaleIds { get; set; } = [];
    public string?[] ProfileUris { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteString(EndpointUrl);
        e.WriteStrings(LocaleIds);
        e.WriteStrings(ProfileUris);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        EndpointUrl = d.ReadString();
        LocaleIds = d.ReadStrings();
        ProfileUris = d.ReadStrings();
    }
}

public sealed class GetEndpointsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 431;
    public EndpointDescription[] Endpoints { get; set; } = [];
    protected override void EncodeBody(BinaryEncoder e) => e.WriteEncodeableArray(Endpoints);
    protected override void DecodeBody(BinaryDecoder d) => Endpoints = d.ReadEncodeableArray<EndpointDescription>();
}

public sealed class SignatureData
{
    public string? Algorithm { get; set; }
    public byte[]? Signature { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteString(Algorithm);
        e.WriteByteString(Signature);
    }

    public static SignatureData Decode(BinaryDecoder d) => new() { Algorithm = d.ReadString(), Signature = d.ReadByteString() };
}

public sealed class CreateSessionRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 461;
    public ApplicationDescription ClientDescription { get; set; } = new();
    public string? ServerUri { get; set; }
    public string? EndpointUrl { get; set; }
    public string? SessionName { get; set; }
    public byte[]? ClientNonce { get; set; }
    public byte[]? ClientCertificate { get; set; }
    public double RequestedSessionTimeout { get; set; }
    public uint MaxResponseMessageSize { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        ClientDescription.Encode(e);
        e.WriteString(ServerUri);
        e.WriteString(EndpointUrl);
        e.WriteString(SessionName);
        e.WriteByteString(ClientNonce);
        e.WriteByteString(ClientCertificate);
        e.WriteDouble(RequestedSessionTimeout);
        e.WriteUInt32(MaxResponseMessageSize);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ClientDescription = d.ReadEncodeable<ApplicationDescription>();
        ServerUri = d.ReadString();
        EndpointUrl = d.ReadString();
        SessionName = d.ReadString();
        ClientNonce = d.ReadByteString();
        ClientCertificate = d.ReadByteString();
        RequestedSessionTimeout = d.ReadDouble();
        MaxResponseMessageSize = d.ReadUInt32();
    }
}

public sealed class CreateSessionResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 464;
    public NodeId SessionId { get; set; } = NodeId.Null;
    public NodeId AuthenticationToken { get; set; } = NodeId.Null;
    public double RevisedSessionTimeout { get; set; }
    public byte[]? ServerNonce { get; set; }
    public byte[]? ServerCertificate { get; set; }
    public EndpointDescription[] ServerEndpoints { get; set; } = [];
    public SignatureData ServerSignature { get; set; } = new();
    public uint MaxRequestMessageSize { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteNodeId(SessionId);
        e.WriteNodeId(AuthenticationToken);
        e.WriteDouble(RevisedSessionTimeout);
        e.WriteByteString(ServerNonce);
        e.WriteByteString(ServerCertificate);
        e.WriteEncodeableArray(ServerEndpoints);
        e.WriteInt32(0);
        ServerSignature.Encode(e);
        e.WriteUInt32(MaxRequestMessageSize);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SessionId = d.ReadNodeId();
        AuthenticationToken = d.ReadNodeId();
        RevisedSessionTimeout = d.ReadDouble();
        ServerNonce = d.ReadByteString();
        ServerCertificate = d.ReadByteString();
        ServerEndpoints = d.ReadEncodeableArray<EndpointDescription>();
        d.ReadArray(static d => (d.ReadByteString(), d.ReadByteString()), BuiltInType.ByteString);
        ServerSignature = SignatureData.Decode(d);
        MaxRequestMessageSize = d.ReadUInt32();
    }
}

public sealed class AnonymousIdentityToken : IEncodeable
{
    public NodeId BinaryEncodingId => 321;
    public string? PolicyId { get; set; }
    public void Encode(BinaryEncoder e) => e.WriteString(PolicyId);
    public void Decode(BinaryDecoder d) => PolicyId = d.ReadString();
}

public sealed class UserNameIdentityToken : IEncodeable
{
    public NodeId BinaryEncodingId => 324;
    public string? PolicyId { get; set; }
    public string? UserName { get; set; }
    public byte[]? Password { get; set; }
    public string? EncryptionAlgorithm { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteString(PolicyId);
        e.WriteString(UserName);
        e.WriteByteString(Password);
        e.WriteString(EncryptionAlgorithm);
    }

    public void Decode(BinaryDecoder d)
    {
        PolicyId = d.ReadString();
        UserName = d.ReadString();
        Password = d.ReadByteString();
        EncryptionAlgorithm = d.ReadString();
    }

    public override string ToString() => $"UserName {UserName} (password not shown)";
}

public sealed class ActivateSessionRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 467;
    public SignatureData ClientSignature { get; set; } = new();
    public string?[] LocaleIds { get; set; } = [];
    public ExtensionObject UserIdentityToken { get; set; } = ExtensionObject.Null;
    public SignatureData UserTokenSignature { get; set; } = new();

    protected override void EncodeBody(BinaryEncoder e)
    {
        ClientSignature.Encode(e);
        e.WriteInt32(0);
        e.WriteStrings(LocaleIds);
        e.WriteExtensionObject(UserIdentityToken);
        UserTokenSignature.Encode(e);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ClientSignature = SignatureData.Decode(d);
        d.ReadArray(static d => (d.ReadByteString(), d.ReadByteString()), BuiltInType.ByteString);
        LocaleIds = d.ReadStrings();
        UserIdentityToken = d.ReadExtensionObject();
        UserTokenSignature = SignatureData.Decode(d);
    }
}

public sealed class ActivateSessionResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 470;
    public byte[]? ServerNonce { get; set; }
    public StatusCode[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteByteString(ServerNonce);
        e.WriteStatusCodes(Results);
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ServerNonce = d.ReadByteString();
        Results = d.ReadStatusCodes();
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class CloseSessionRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 473;
    public bool DeleteSubscriptions { get; set; }
    protected override void EncodeBody(BinaryEncoder e) => e.WriteBoolean(DeleteSubscriptions);
    protected override void DecodeBody(BinaryDecoder d) => DeleteSubscriptions = d.ReadBoolean();
}

public sealed class CloseSessionResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 476;
    protected override void EncodeBody(BinaryEncoder e) { }
    protected override void DecodeBody(BinaryDecoder d) { }
}

public sealed class BrowseDescription
{
    public NodeId NodeId { get; set; } = NodeId.Null;
    public BrowseDirection BrowseDirection { get; set; }
    public NodeId ReferenceTypeId { get; set; } = ObjectIds.HierarchicalReferences;
    public bool IncludeSubtypes { get; set; } = true;
    public uint NodeClassMask { get; set; }
    public uint ResultMask { get; set; } = 0x3F;

    internal void Encode(BinaryEncoder e)
    {
        e.WriteNodeId(NodeId);
        e.WriteInt32((int)BrowseDirection);
        e.WriteNodeId(ReferenceTypeId);
        e.WriteBoolean(IncludeSubtypes);
        e.WriteUInt32(NodeClassMask);
        e.WriteUInt32(ResultMask);
    }

    internal static BrowseDescription Decode(BinaryDecoder d) => new()
    {
        NodeId = d.ReadNodeId(),
        BrowseDirection = (BrowseDirection)d.ReadInt32(),
        ReferenceTypeId = d.ReadNodeId(),
        IncludeSubtypes = d.ReadBoolean(),
        NodeClassMask = d.ReadUInt32(),
        ResultMask = d.ReadUInt32(),
    };
}

public sealed class ReferenceDescription
{
    public NodeId ReferenceTypeId { get; set; } = global::Zhizao.OpcUa.NodeId.Null;
    public bool IsForward { get; set; }
    public ExpandedNodeId NodeId { get; set; } = global::Zhizao.OpcUa.ExpandedNodeId.Null;
    public QualifiedName BrowseName { get; set; } = QualifiedName.Null;
    public LocalizedText DisplayName { get; set; } = LocalizedText.Null;
    public NodeClass NodeClass { get; set; }
    public ExpandedNodeId TypeDefinition { get; set; } = ExpandedNodeId.Null;

    internal void Encode(BinaryEncoder e)
    {
        e.WriteNodeId(ReferenceTypeId);
        e.WriteBoolean(IsForward);
        e.WriteExpandedNodeId(NodeId);
        e.WriteQualifiedName(BrowseName);
        e.WriteLocalizedText(DisplayName);
        e.WriteInt32((int)NodeClass);
        e.WriteExpandedNodeId(TypeDefinition);
    }

    internal static ReferenceDescription Decode(BinaryDecoder d) => new()
    {
        ReferenceTypeId = d.ReadNodeId(),
        IsForward = d.ReadBoolean(),
        NodeId = d.ReadExpandedNodeId(),
        BrowseName = d.ReadQualifiedName(),
        DisplayName = d.ReadLocalizedText(),
        NodeClass = (NodeClass)d.ReadInt32(),
        TypeDefinition = d.ReadExpandedNodeId(),
    };

    public override string ToString() => $"{BrowseName} ({NodeClass}) {NodeId}";
}

public sealed class BrowseResult
{
    public StatusCode StatusCode { get; set; }
    public byte[]? ContinuationPoint { get; set; }
    public ReferenceDescription[] References { get; set; } = [];

    internal void Encode(BinaryEncoder e)
    {
        e.WriteStatusCode(StatusCode);
        e.WriteByteString(ContinuationPoint);
        e.WriteArray(References, static (e, r) => r.Encode(e));
    }

    internal static BrowseResult Decode(BinaryDecoder d) => new()
    {
        StatusCode = d.ReadStatusCode(),
        ContinuationPoint = d.ReadByteString(),
        References = d.ReadArray(ReferenceDescription.Decode, BuiltInType.NodeId),
    };
}

public sealed class BrowseRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 527;
    public uint RequestedMaxReferencesPerNode { get; set; }
    public BrowseDescription[] NodesToBrowse { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteNodeId(NodeId.Null); // view: the whole address space
        e.WriteDateTime(DateTime.MinValue);
        e.WriteUInt32(0);
        e.WriteUInt32(RequestedMaxReferencesPerNode);
        e.WriteArray(NodesToBrowse, static (e, b) => b.Encode(e));
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        d.ReadNodeId();
        d.ReadDateTime();
        d.ReadUInt32();
        RequestedMaxReferencesPerNode = d.ReadUInt32();
        NodesToBrowse = d.ReadArray(BrowseDescription.Decode, BuiltInType.NodeId);
    }
}

public sealed class BrowseResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 530;
    public BrowseResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) => r.Encode(e));
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(BrowseResult.Decode, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class BrowseNextRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 533;
    public bool ReleaseContinuationPoints { get; set; }
    public byte[]?[] ContinuationPoints { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteBoolean(ReleaseContinuationPoints);
        e.WriteArray(ContinuationPoints, static (e, c) => e.WriteByteString(c));
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        ReleaseContinuationPoints = d.ReadBoolean();
        ContinuationPoints = d.ReadArray(static d => d.ReadByteString(), BuiltInType.ByteString);
    }
}

public sealed class BrowseNextResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 536;
    public BrowseResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) => r.Encode(e));
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(BrowseResult.Decode, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class RelativePathElement
{
    public NodeId ReferenceTypeId { get; set; } = ObjectIds.HierarchicalReferences;
    public bool IsInverse { get; set; }
    public bool IncludeSubtypes { get; set; } = true;
    public QualifiedName TargetName { get; set; } = QualifiedName.Null;
}

public sealed class BrowsePath
{
    public NodeId StartingNode { get; set; } = ObjectIds.ObjectsFolder;
    public RelativePathElement[] Elements { get; set; } = [];

    internal void Encode(BinaryEncoder e)
    {
        e.WriteNodeId(StartingNode);
        e.WriteArray(Elements, static (e, x) =>
        {
            e.WriteNodeId(x.ReferenceTypeId);
            e.WriteBoolean(x.IsInverse);
            e.WriteBoolean(x.IncludeSubtypes);
            e.WriteQualifiedName(x.TargetName);
        });
    }

    internal static BrowsePath Decode(BinaryDecoder d) => new()
    {
        StartingNode = d.ReadNodeId(),
        Elements = d.ReadArray(static d => new RelativePathElement
        {
            ReferenceTypeId = d.ReadNodeId(),
            IsInverse = d.ReadBoolean(),
            IncludeSubtypes = d.ReadBoolean(),
            TargetName = d.ReadQualifiedName(),
        }, BuiltInType.NodeId),
    };
}

public sealed class BrowsePathTarget
{
    public ExpandedNodeId TargetId { get; set; } = ExpandedNodeId.Null;
    public uint RemainingPathIndex { get; set; }
}

public sealed class BrowsePathResult
{
    public StatusCode StatusCode { get; set; }
    public BrowsePathTarget[] Targets { get; set; } = [];
}

public sealed class TranslateBrowsePathsToNodeIdsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 554;
    public BrowsePath[] BrowsePaths { get; set; } = [];
    protected override void EncodeBody(BinaryEncoder e) => e.WriteArray(BrowsePaths, static (e, p) => p.Encode(e));
    protected override void DecodeBody(BinaryDecoder d) => BrowsePaths = d.ReadArray(BrowsePath.Decode, BuiltInType.NodeId);
}

public sealed class TranslateBrowsePathsToNodeIdsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 557;
    public BrowsePathResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) =>
        {
            e.WriteStatusCode(r.StatusCode);
            e.WriteArray(r.Targets, static (e, t) =>
            {
                e.WriteExpandedNodeId(t.TargetId);
                e.WriteUInt32(t.RemainingPathIndex);
            });
        });
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(static d => new BrowsePathResult
        {
            StatusCode = d.ReadStatusCode(),
            Targets = d.ReadArray(static d => new BrowsePathTarget { TargetId = d.ReadExpandedNodeId(), RemainingPathIndex = d.ReadUInt32() }, BuiltInType.UInt32),
        }, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class ReadValueId
{
    public ReadValueId() { }

    public ReadValueId(NodeId nodeId, uint attributeId = Attributes.Value)
    {
        NodeId = nodeId;
        AttributeId = attributeId;
    }

    public NodeId NodeId { get; set; } = NodeId.Null;
    public uint AttributeId { get; set; } = Attributes.Value;
    public string? IndexRange { get; set; }
    public QualifiedName DataEncoding { get; set; } = QualifiedName.Null;

    internal void Encode(BinaryEncoder e)
    {
        e.WriteNodeId(NodeId);
        e.WriteUInt32(AttributeId);
        e.WriteString(IndexRange);
        e.WriteQualifiedName(DataEncoding);
    }

    internal static ReadValueId Decode(BinaryDecoder d) => new()
    {
        NodeId = d.ReadNodeId(),
        AttributeId = d.ReadUInt32(),
        IndexRange = d.ReadString(),
        DataEncoding = d.ReadQualifiedName(),
    };
}

public sealed class ReadRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 631;
    public double MaxAge { get; set; }
    public TimestampsToReturn TimestampsToReturn { get; set; } = TimestampsToReturn.Both;
    public ReadValueId[] NodesToRead { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteDouble(MaxAge);
        e.WriteInt32((int)TimestampsToReturn);
        e.WriteArray(NodesToRead, static (e, r) => r.Encode(e));
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        MaxAge = d.ReadDouble();
        TimestampsToReturn = (TimestampsToReturn)d.ReadInt32();
        NodesToRead = d.ReadArray(ReadValueId.Decode, BuiltInType.NodeId);
    }
}

public sealed class ReadResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 634;
    public DataValue[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, v) => e.WriteDataValue(v));
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(static d => d.ReadDataValue());
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class WriteValue
{
    public NodeId NodeId { get; set; } = NodeId.Null;
    public uint AttributeId { get; set; } = Attributes.Value;
    public string? IndexRange { get; set; }
    public DataValue Value { get; set; } = new();
}

public sealed class WriteRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 673;
    public WriteValue[] NodesToWrite { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e) => e.WriteArray(NodesToWrite, static (e, w) =>
    {
        e.WriteNodeId(w.NodeId);
        e.WriteUInt32(w.AttributeId);
        e.WriteString(w.IndexRange);
        e.WriteDataValue(w.Value);
    });

    protected override void DecodeBody(BinaryDecoder d) => NodesToWrite = d.ReadArray(static d => new WriteValue
    {
        NodeId = d.ReadNodeId(),
        AttributeId = d.ReadUInt32(),
        IndexRange = d.ReadString(),
        Value = d.ReadDataValue(),
    }, BuiltInType.NodeId);
}

public sealed class WriteResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 676;
    public StatusCode[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteStatusCodes(Results);
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadStatusCodes();
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class ReadRawModifiedDetails : IEncodeable
{
    public NodeId BinaryEncodingId => 649;
    public bool IsReadModified { get; set; }
    public DateTime StartTime { get; set; }
    public DateTime EndTime { get; set; }
    public uint NumValuesPerNode { get; set; }
    public bool ReturnBounds { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteBoolean(IsReadModified);
        e.WriteDateTime(StartTime);
        e.WriteDateTime(EndTime);
        e.WriteUInt32(NumValuesPerNode);
        e.WriteBoolean(ReturnBounds);
    }

    public void Decode(BinaryDecoder d)
    {
        IsReadModified = d.ReadBoolean();
        StartTime = d.ReadDateTime();
        EndTime = d.ReadDateTime();
        NumValuesPerNode = d.ReadUInt32();
        ReturnBounds = d.ReadBoolean();
    }
}

public sealed class HistoryData : IEncodeable
{
    public NodeId BinaryEncodingId => 658;
    public DataValue[] DataValues { get; set; } = [];
    public void Encode(BinaryEncoder e) => e.WriteArray(DataValues, static (e, v) => e.WriteDataValue(v));
    public void Decode(BinaryDecoder d) => DataValues = d.ReadArray(static d => d.ReadDataValue());
}

public sealed class HistoryReadValueId
{
    public NodeId NodeId { get; set; } = NodeId.Null;
    public string? IndexRange { get; set; }
    public QualifiedName DataEncoding { get; set; } = QualifiedName.Null;
    public byte[]? ContinuationPoint { get; set; }
}

public sealed class HistoryReadResult
{
    public StatusCode StatusCode { get; set; }
    public byte[]? ContinuationPoint { get; set; }
    public ExtensionObject HistoryData { get; set; } = ExtensionObject.Null;
}

public sealed class HistoryReadRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 664;
    public ExtensionObject HistoryReadDetails { get; set; } = ExtensionObject.Null;
    public TimestampsToReturn TimestampsToReturn { get; set; } = TimestampsToReturn.Source;
    public bool ReleaseContinuationPoints { get; set; }
    public HistoryReadValueId[] NodesToRead { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteExtensionObject(HistoryReadDetails);
        e.WriteInt32((int)TimestampsToReturn);
        e.WriteBoolean(ReleaseContinuationPoints);
        e.WriteArray(NodesToRead, static (e, n) =>
        {
            e.WriteNodeId(n.NodeId);
            e.WriteString(n.IndexRange);
            e.WriteQualifiedName(n.DataEncoding);
            e.WriteByteString(n.ContinuationPoint);
        });
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        HistoryReadDetails = d.ReadExtensionObject();
        TimestampsToReturn = (TimestampsToReturn)d.ReadInt32();
        ReleaseContinuationPoints = d.ReadBoolean();
        NodesToRead = d.ReadArray(static d => new HistoryReadValueId
        {
            NodeId = d.ReadNodeId(),
            IndexRange = d.ReadString(),
            DataEncoding = d.ReadQualifiedName(),
            ContinuationPoint = d.ReadByteString(),
        }, BuiltInType.NodeId);
    }
}

public sealed class HistoryReadResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 667;
    public HistoryReadResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) =>
        {
            e.WriteStatusCode(r.StatusCode);
            e.WriteByteString(r.ContinuationPoint);
            e.WriteExtensionObject(r.HistoryData);
        });
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(static d => new HistoryReadResult
        {
            StatusCode = d.ReadStatusCode(),
            ContinuationPoint = d.ReadByteString(),
            HistoryData = d.ReadExtensionObject(),
        }, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class CreateSubscriptionRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 787;
    public double RequestedPublishingInterval { get; set; }
    public uint RequestedLifetimeCount { get; set; }
    public uint RequestedMaxKeepAliveCount { get; set; }
    public uint MaxNotificationsPerPublish { get; set; }
    public bool PublishingEnabled { get; set; } = true;
    public byte Priority { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteDouble(RequestedPublishingInterval);
        e.WriteUInt32(RequestedLifetimeCount);
        e.WriteUInt32(RequestedMaxKeepAliveCount);
        e.WriteUInt32(MaxNotificationsPerPublish);
        e.WriteBoolean(PublishingEnabled);
        e.WriteByte(Priority);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        RequestedPublishingInterval = d.ReadDouble();
        RequestedLifetimeCount = d.ReadUInt32();
        RequestedMaxKeepAliveCount = d.ReadUInt32();
        MaxNotificationsPerPublish = d.ReadUInt32();
        PublishingEnabled = d.ReadBoolean();
        Priority = d.ReadByte();
    }
}

public sealed class CreateSubscriptionResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 790;
    public uint SubscriptionId { get; set; }
    public double RevisedPublishingInterval { get; set; }
    public uint RevisedLifetimeCount { get; set; }
    public uint RevisedMaxKeepAliveCount { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(SubscriptionId);
        e.WriteDouble(RevisedPublishingInterval);
        e.WriteUInt32(RevisedLifetimeCount);
        e.WriteUInt32(RevisedMaxKeepAliveCount);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionId = d.ReadUInt32();
        RevisedPublishingInterval = d.ReadDouble();
        RevisedLifetimeCount = d.ReadUInt32();
        RevisedMaxKeepAliveCount = d.ReadUInt32();
    }
}

public sealed class DataChangeFilter : IEncodeable
{
    public NodeId BinaryEncodingId => 724;
    public DataChangeTrigger Trigger { get; set; } = DataChangeTrigger.StatusValue;
    public DeadbandType DeadbandType { get; set; }
    public double DeadbandValue { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteInt32((int)Trigger);
        e.WriteUInt32((uint)DeadbandType);
        e.WriteDouble(DeadbandValue);
    }

    public void Decode(BinaryDecoder d)
    {
        Trigger = (DataChangeTrigger)d.ReadInt32();
        DeadbandType = (DeadbandType)d.ReadUInt32();
        DeadbandValue = d.ReadDouble();
    }
}

public sealed class MonitoredItemCreateRequest
{
    public ReadValueId ItemToMonitor { get; set; } = new();
    public MonitoringMode MonitoringMode { get; set; } = MonitoringMode.Reporting;
    public uint ClientHandle { get; set; }
    public double SamplingInterval { get; set; }
    public ExtensionObject Filter { get; set; } = ExtensionObject.Null;
    public uint QueueSize { get; set; } = 1;
    public bool DiscardOldest { get; set; } = true;
}

public sealed class MonitoredItemCreateResult
{
    public StatusCode StatusCode { get; set; }
    public uint MonitoredItemId { get; set; }
    public double RevisedSamplingInterval { get; set; }
    public uint RevisedQueueSize { get; set; }
    public ExtensionObject FilterResult { get; set; } = ExtensionObject.Null;
}

public sealed class CreateMonitoredItemsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 751;
    public uint SubscriptionId { get; set; }
    public TimestampsToReturn TimestampsToReturn { get; set; } = TimestampsToReturn.Both;
    public MonitoredItemCreateRequest[] ItemsToCreate { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(SubscriptionId);
        e.WriteInt32((int)TimestampsToReturn);
        e.WriteArray(ItemsToCreate, static (e, i) =>
        {
            i.ItemToMonitor.Encode(e);
            e.WriteInt32((int)i.MonitoringMode);
            e.WriteUInt32(i.ClientHandle);
            e.WriteDouble(i.SamplingInterval);
            e.WriteExtensionObject(i.Filter);
            e.WriteUInt32(i.QueueSize);
            e.WriteBoolean(i.DiscardOldest);
        });
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionId = d.ReadUInt32();
        TimestampsToReturn = (TimestampsToReturn)d.ReadInt32();
        ItemsToCreate = d.ReadArray(static d => new MonitoredItemCreateRequest
        {
            ItemToMonitor = ReadValueId.Decode(d),
            MonitoringMode = (MonitoringMode)d.ReadInt32(),
            ClientHandle = d.ReadUInt32(),
            SamplingInterval = d.ReadDouble(),
            Filter = d.ReadExtensionObject(),
            QueueSize = d.ReadUInt32(),
            DiscardOldest = d.ReadBoolean(),
        }, BuiltInType.NodeId);
    }
}

public sealed class CreateMonitoredItemsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 754;
    public MonitoredItemCreateResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) =>
        {
            e.WriteStatusCode(r.StatusCode);
            e.WriteUInt32(r.MonitoredItemId);
            e.WriteDouble(r.RevisedSamplingInterval);
            e.WriteUInt32(r.RevisedQueueSize);
            e.WriteExtensionObject(r.FilterResult);
        });
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(static d => new MonitoredItemCreateResult
        {
            StatusCode = d.ReadStatusCode(),
            MonitoredItemId = d.ReadUInt32(),
            RevisedSamplingInterval = d.ReadDouble(),
            RevisedQueueSize = d.ReadUInt32(),
            FilterResult = d.ReadExtensionObject(),
        }, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class DeleteMonitoredItemsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 781;
    public uint SubscriptionId { get; set; }
    public uint[] MonitoredItemIds { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(SubscriptionId);
        e.WriteUInt32s(MonitoredItemIds);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionId = d.ReadUInt32();
        MonitoredItemIds = d.ReadUInt32s();
    }
}

public sealed class DeleteMonitoredItemsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 784;
    public StatusCode[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteStatusCodes(Results);
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadStatusCodes();
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class SubscriptionAcknowledgement
{
    public uint SubscriptionId { get; set; }
    public uint SequenceNumber { get; set; }
}

public sealed class PublishRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 826;
    public SubscriptionAcknowledgement[] SubscriptionAcknowledgements { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e) => e.WriteArray(SubscriptionAcknowledgements, static (e, a) =>
    {
        e.WriteUInt32(a.SubscriptionId);
        e.WriteUInt32(a.SequenceNumber);
    });

    protected override void DecodeBody(BinaryDecoder d) => SubscriptionAcknowledgements = d.ReadArray(
        static d => new SubscriptionAcknowledgement { SubscriptionId = d.ReadUInt32(), SequenceNumber = d.ReadUInt32() }, BuiltInType.Int64);
}

public sealed class NotificationMessage
{
    public uint SequenceNumber { get; set; }
    public DateTime PublishTime { get; set; }
    public ExtensionObject[] NotificationData { get; set; } = [];

    internal void Encode(BinaryEncoder e)
    {
        e.WriteUInt32(SequenceNumber);
        e.WriteDateTime(PublishTime);
        e.WriteArray(NotificationData, static (e, n) => e.WriteExtensionObject(n));
    }

    internal static NotificationMessage Decode(BinaryDecoder d) => new()
    {
        SequenceNumber = d.ReadUInt32(),
        PublishTime = d.ReadDateTime(),
        NotificationData = d.ReadArray(static d => d.ReadExtensionObject(), BuiltInType.NodeId),
    };
}

public sealed class MonitoredItemNotification
{
    public uint ClientHandle { get; set; }
    public DataValue Value { get; set; } = new();
}

public sealed class DataChangeNotification : IEncodeable
{
    public NodeId BinaryEncodingId => 811;
    public MonitoredItemNotification[] MonitoredItems { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    public void Encode(BinaryEncoder e)
    {
        e.WriteArray(MonitoredItems, static (e, m) =>
        {
            e.WriteUInt32(m.ClientHandle);
            e.WriteDataValue(m.Value);
        });
        e.WriteDiagnostics(DiagnosticInfos);
    }

    public void Decode(BinaryDecoder d)
    {
        MonitoredItems = d.ReadArray(static d => new MonitoredItemNotification { ClientHandle = d.ReadUInt32(), Value = d.ReadDataValue() }, BuiltInType.StatusCode);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class StatusChangeNotification : IEncodeable
{
    public NodeId BinaryEncodingId => 820;
    public StatusCode Status { get; set; }
    public DiagnosticInfo? DiagnosticInfo { get; set; }

    public void Encode(BinaryEncoder e)
    {
        e.WriteStatusCode(Status);
        e.WriteDiagnosticInfo(DiagnosticInfo);
    }

    public void Decode(BinaryDecoder d)
    {
        Status = d.ReadStatusCode();
        DiagnosticInfo = d.ReadDiagnosticInfo();
    }
}

public sealed class PublishResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 829;
    public uint SubscriptionId { get; set; }
    public uint[] AvailableSequenceNumbers { get; set; } = [];
    public bool MoreNotifications { get; set; }
    public NotificationMessage NotificationMessage { get; set; } = new();
    public StatusCode[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(SubscriptionId);
        e.WriteUInt32s(AvailableSequenceNumbers);
        e.WriteBoolean(MoreNotifications);
        NotificationMessage.Encode(e);
        e.WriteStatusCodes(Results);
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionId = d.ReadUInt32();
        AvailableSequenceNumbers = d.ReadUInt32s();
        MoreNotifications = d.ReadBoolean();
        NotificationMessage = NotificationMessage.Decode(d);
        Results = d.ReadStatusCodes();
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class RepublishRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 832;
    public uint SubscriptionId { get; set; }
    public uint RetransmitSequenceNumber { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32(SubscriptionId);
        e.WriteUInt32(RetransmitSequenceNumber);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionId = d.ReadUInt32();
        RetransmitSequenceNumber = d.ReadUInt32();
    }
}

public sealed class RepublishResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 835;
    public NotificationMessage NotificationMessage { get; set; } = new();
    protected override void EncodeBody(BinaryEncoder e) => NotificationMessage.Encode(e);
    protected override void DecodeBody(BinaryDecoder d) => NotificationMessage = NotificationMessage.Decode(d);
}

public sealed class TransferResult
{
    public StatusCode StatusCode { get; set; }
    public uint[] AvailableSequenceNumbers { get; set; } = [];
}

public sealed class TransferSubscriptionsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 841;
    public uint[] SubscriptionIds { get; set; } = [];
    public bool SendInitialValues { get; set; }

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteUInt32s(SubscriptionIds);
        e.WriteBoolean(SendInitialValues);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        SubscriptionIds = d.ReadUInt32s();
        SendInitialValues = d.ReadBoolean();
    }
}

public sealed class TransferSubscriptionsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 844;
    public TransferResult[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteArray(Results, static (e, r) =>
        {
            e.WriteStatusCode(r.StatusCode);
            e.WriteUInt32s(r.AvailableSequenceNumbers);
        });
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadArray(static d => new TransferResult { StatusCode = d.ReadStatusCode(), AvailableSequenceNumbers = d.ReadUInt32s() }, BuiltInType.Int64);
        DiagnosticInfos = d.ReadDiagnostics();
    }
}

public sealed class DeleteSubscriptionsRequest : ServiceRequest
{
    public override NodeId BinaryEncodingId => 847;
    public uint[] SubscriptionIds { get; set; } = [];
    protected override void EncodeBody(BinaryEncoder e) => e.WriteUInt32s(SubscriptionIds);
    protected override void DecodeBody(BinaryDecoder d) => SubscriptionIds = d.ReadUInt32s();
}

public sealed class DeleteSubscriptionsResponse : ServiceResponse
{
    public override NodeId BinaryEncodingId => 850;
    public StatusCode[] Results { get; set; } = [];
    public DiagnosticInfo[] DiagnosticInfos { get; set; } = [];

    protected override void EncodeBody(BinaryEncoder e)
    {
        e.WriteStatusCodes(Results);
        e.WriteDiagnostics(DiagnosticInfos);
    }

    protected override void DecodeBody(BinaryDecoder d)
    {
        Results = d.ReadStatusCodes();
        DiagnosticInfos = d.ReadDiagnostics();
    }
}
