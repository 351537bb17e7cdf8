namespace Zhizao.OpcUa.Server;

/// <summary>A node of the server's address space with its hierarchical references.</summary>
public abstract class UaNode
{
    private protected UaNode(NodeId nodeId, QualifiedName browseName, NodeClass nodeClass, NodeId typeDefinition)
    {
        NodeId = nodeId;
        BrowseName = browseName;
        DisplayName = new LocalizedText(null, browseName.Name);
        NodeClass = nodeClass;
        TypeDefinition = typeDefinition;
    }

    public NodeId NodeId { get; }
    public QualifiedName BrowseName { get; }
    public LocalizedText DisplayName { get; }
    public LocalizedText Description { get; init; } = LocalizedText.Null;
    public NodeClass NodeClass { get; }
    public NodeId TypeDefinition { get; }
    public UaNode? Parent { get; internal set; }

    /// <summary>The reference type from the parent: Organizes for folders' children, HasComponent otherwise.</summary>
    public NodeId ParentReference { get; internal set; } = ObjectIds.Organizes;

    internal List<UaNode> Children { get; } = [];
}

public sealed class UaObject : UaNode
{
    internal UaObject(NodeId nodeId, QualifiedName browseName, NodeId typeDefinition)
        : base(nodeId, browseName, NodeClass.Object, typeDefinition) { }
}

/// <summary>Well-known node ids this server uses besides <see cref="ObjectIds"/>.</summary>
public static class ServerNodeIds
{
    public static readonly NodeId FolderType = 61;
    public static readonly NodeId BaseObjectType = 58;
    public static readonly NodeId BaseDataVariableType = 63;
    public static readonly NodeId PropertyType = 68;
    public static readonly NodeId HasTypeDefinition = 40;
    public static readonly NodeId References = 31;
    public static readonly NodeId NonHierarchicalReferences = 32;
    public static readonly NodeId HasChild = 34;
    public static readonly NodeId Aggregates = 44;
    public static readonly NodeId ServerArray = 2254;
    public static readonly NodeId ServerStatus = 2256;
    public static readonly NodeId BaseDataType = 24;

    public static NodeId DataType(BuiltInType type) => (uint)type;
}

/// <summary>
/// The nodes a <see cref="OpcUaServer"/> serves: namespace 0's Root, Objects and Server (NamespaceArray, ServerStatus
/// CurrentTime and State), plus the application's folders, objects and variables in namespace 1. Nodes are added
/// while serving; lookups are thread-safe.
/// </summary>
public sealed class AddressSpace
{
    private static readonly string[] s_serverArray = ["urn:zhizao:server"];
    private readonly Dictionary<NodeId, UaNode> _nodes = [];
    private readonly Lock _lock = new();

    public AddressSpace(string namespaceUri = "urn:zhizao:server")
    {
        ArgumentException.ThrowIfNullOrEmpty(namespaceUri);
        NamespaceUri = namespaceUri;
        var root = new UaObject(ObjectIds.RootFolder, new QualifiedName(0, "Root"), ServerNodeIds.FolderType);
        _nodes[root.NodeId] = root;
        Objects = new UaObject(ObjectIds.ObjectsFolder, new QualifiedName(0, "Objects"), ServerNodeIds.FolderType);
        Link(root, Objects, ObjectIds.Organizes);
        var server = new UaObject(ObjectIds.Server, new QualifiedName(0, "Server"), 2004u);
        Link(Objects, server, ObjectIds.Organizes);
        NamespaceArray = new UaVariable(ObjectIds.NamespaceArray, new QualifiedName(0, "NamespaceArray"), BuiltInType.String, 0, writable: false) { ValueRank = 1 };
        NamespaceArray.Set(new Variant(BuiltInType.String, new[] { "http://opcfoundation.org/UA/", namespaceUri }), DateTime.UtcNow);
        Link(server, NamespaceArray, ObjectIds.HasProperty);
        var serverArray = new UaVariable(ServerNodeIds.ServerArray, new QualifiedName(0, "ServerArray"), BuiltInType.String, 0, writable: false) { ValueRank = 1 };
        serverArray.Set(new Variant(BuiltInType.String, s_serverArray), DateTime.UtcNow);
        Link(server, serverArray, ObjectIds.HasProperty);
        var status = new UaObject(ServerNodeIds.ServerStatus, new QualifiedName(0, "ServerStatus"), ServerNodeIds.BaseObjectType);
        Link(server, status, ObjectIds.HasComponent);
        CurrentTime = new UaVariable(ObjectIds.ServerStatusCurrentTime, new QualifiedName(0, "CurrentTime"), BuiltInType.DateTime, 0, writable: false) { Computed = () => new Variant(DateTime.UtcNow) };
        Link(status, CurrentTime, ObjectIds.HasComponent);
        var state = new UaVariable(ObjectIds.ServerStatusState, new QualifiedName(0, "State"), BuiltInType.Int32, 0, writable: false);
        state.Set(new Variant(0), DateTime.UtcNow); // Running
        Link(status, state, ObjectIds.HasComponent);
    }

    /// <summary>Namespace index 1.</summary>
    public string NamespaceUri { get; }
    public UaObject Objects { get; }
    internal UaVariable NamespaceArray { get; }
    internal UaVariable CurrentTime { get; }

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _nodes.Count;
            }
        }
    }

    /// <summary>Node id of a child in namespace 1: the parent's path and the name joined by '/' (e.g. "Plant/press-01/power_kw").</summary>
    public static NodeId ChildId(UaNode parent, string name) =>
        parent.NodeId.NamespaceIndex == 1 && parent.NodeId.IdType == IdType.String
            ? new NodeId(1, parent.NodeId.StringId + "/" + name)
            : new NodeId(1, name);

    /// <summary>Adds (or returns the existing) folder under <paramref name="parent"/>, referenced with Organizes.</summary>
    public UaObject AddFolder(UaNode parent, string name) => AddObject(parent, name, ServerNodeIds.FolderType, ObjectIds.Organizes);

    /// <summary>Adds (or returns the existing) object of BaseObjectType under <paramref name="parent"/>.</summary>
    public UaObject AddObject(UaNode parent, string name) =>
        AddObject(parent, name, ServerNodeIds.BaseObjectType, parent.TypeDefinition == ServerNodeIds.FolderType ? ObjectIds.Organizes : ObjectIds.HasComponent);

    private UaObject AddObject(UaNode parent, string name, NodeId type, NodeId reference)
    {
        CheckName(name);
        var id = ChildId(parent, name);
        lock (_lock)
        {
            if (_nodes.TryGetValue(id, out var existing))
                return existing as UaObject ?? throw new ArgumentException($"node {id} exists and is a {existing.NodeClass}, not an object");
            var node = new UaObject(id, new QualifiedName(1, name), type);
            Link(parent, node, reference);
            return node;
        }
    }

    /// <summary>
    /// Adds (or returns the existing) variable of a scalar built-in type under <paramref name="parent"/>, keeping up to
    /// <paramref name="historyCapacity"/> past values for HistoryRead (0: not historizing).
    /// </summary>
    public UaVariable AddVariable(UaNode parent, string name, BuiltInType dataType, int historyCapacity = 0, bool writable = false)
    {
        CheckName(name);
        if (dataType is BuiltInType.Null or > BuiltInType.DiagnosticInfo)
            throw new ArgumentOutOfRangeException(nameof(dataType), $"{dataType} is not a built-in data type");
        if (historyCapacity < 0 || historyCapacity > 10_000_000)
            throw new ArgumentOutOfRangeException(nameof(historyCapacity), "history capacity outside 0..10,000,000");
        var id = ChildId(parent, name);
        lock (_lock)
        {
            if (_nodes.TryGetValue(id, out var existing))
                return existing as UaVariable ?? throw new ArgumentException($"node {id} exists and is a {existing.NodeClass}, not a variable");
            var node = new UaVariable(id, new QualifiedName(1, name), dataType, historyCapacity, writable);
            Link(parent, node, parent.TypeDefinition == ServerNodeIds.FolderType ? ObjectIds.Organizes : ObjectIds.HasComponent);
            return node;
        }
    }

    public UaNode? Find(NodeId id)
    {
        lock (_lock)
        {
            return _nodes.GetValueOrDefault(id);
        }
    }

    /// <summary>A snapshot of a node's children (forward hierarchical references).</summary>
    internal UaNode[] ChildrenOf(UaNode node)
    {
        lock (_lock)
        {
            return [.. node.Children];
        }
    }

    /// <summary>Every variable in namespace 1, for listing the mapping.</summary>
    public IReadOnlyList<UaVariable> Variables()
    {
        lock (_lock)
        {
            return [.. _nodes.Values.OfType<UaVariable>().Where(v => v.NodeId.NamespaceIndex == 1).OrderBy(v => v.NodeId.ToString(), StringComparer.Ordinal)];
        }
    }

    private void Link(UaNode parent, UaNode child, NodeId reference)
    {
        if (!_nodes.ContainsKey(parent.NodeId))
            throw new ArgumentException($"parent {parent.NodeId} is not in this address space", nameof(parent));
        child.Parent = parent;
        child.ParentReference = reference;
        parent.Children.Add(child);
        _nodes[child.NodeId] = child;
    }

    private static void CheckName(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Length > 256 || name.Contains('/'))
            throw new ArgumentException($"node name '{name}' must be 1..256 characters without '/'", nameof(name));
    }

    /// <summary>True when <paramref name="type"/> is <paramref name="wanted"/> or (with subtypes) one of its subtypes, for the reference types this server uses.</summary>
    internal static bool IsReferenceOf(NodeId type, NodeId? wanted, bool includeSubtypes)
    {
        if (wanted is null || wanted.IsNull || type == wanted)
            return true;
        if (!includeSubtypes)
            return false;
        for (NodeId? t = type; t is not null; t = SuperType(t))
        {
            if (t == wanted)
                return true;
        }
        return false;
    }

    private static NodeId? SuperType(NodeId t) => t.IdType != IdType.Numeric || t.NamespaceIndex != 0 ? null : t.NumericId switch
    {
        35 => ObjectIds.HierarchicalReferences, // Organizes
        47 => ServerNodeIds.Aggregates, // HasComponent
        46 => ServerNodeIds.Aggregates, // HasProperty
        44 => ServerNodeIds.HasChild,
        34 => ObjectIds.HierarchicalReferences,
        33 => ServerNodeIds.References,
        40 => ServerNodeIds.NonHierarchicalReferences, // HasTypeDefinition
        32 => ServerNodeIds.References,
        _ => null,
    };
}
