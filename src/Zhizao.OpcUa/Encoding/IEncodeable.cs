namespace Zhizao.OpcUa;

/// <summary>A structure with a binary encoding (service messages, identity tokens, filters, notifications).</summary>
public interface IEncodeable
{
    /// <summary>The node id of its DataTypeEncoding "Default Binary" object.</summary>
    NodeId BinaryEncodingId { get; }

    void Encode(BinaryEncoder e);

    void Decode(BinaryDecoder d);
}

/// <summary>The structures this library knows by binary encoding id (namespace 0).</summary>
public static class EncodeableTypes
{
    private static readonly Dictionary<uint, Func<IEncodeable>> s_factories = [];
    private static readonly object s_lock = new();

    static EncodeableTypes() => Messages.RegisterAll();

    public static void Register(uint binaryEncodingId, Func<IEncodeable> factory)
    {
        lock (s_lock)
            s_factories[binaryEncodingId] = factory;
    }

    internal static IEncodeable? Create(NodeId encodingId)
    {
        if (encodingId.NamespaceIndex != 0 || encodingId.IdType != IdType.Numeric)
            return null;
        lock (s_lock)
            return s_factories.TryGetValue(encodingId.NumericId, out var f) ? f() : null;
    }
}
