namespace Zhizao.OpcUa.Server;

/// <summary>
/// A variable node: its current value (a <see cref="DataValue"/> with source and server timestamps) and, when
/// historizing, a bounded in-memory history in source-timestamp order for HistoryRead (raw). Thread-safe.
/// </summary>
public sealed class UaVariable : UaNode
{
    private readonly Lock _lock = new();
    private readonly DataValue[] _history;
    private int _historyStart;
    private int _historyCount;
    private DataValue _value;
    private long _version;

    internal UaVariable(NodeId nodeId, QualifiedName browseName, BuiltInType dataType, int historyCapacity, bool writable)
        : base(nodeId, browseName, NodeClass.Variable, nodeId.NamespaceIndex == 0 && browseName.Name is "NamespaceArray" or "ServerArray" ? ServerNodeIds.PropertyType : ServerNodeIds.BaseDataVariableType)
    {
        DataType = dataType;
        Writable = writable;
        _history = new DataValue[historyCapacity];
        _value = new DataValue { Status = StatusCodes.BadWaitingForInitialData };
    }

    public BuiltInType DataType { get; }
    public bool Writable { get; }
    public int HistoryCapacity => _history.Length;
    public bool Historizing => _history.Length > 0;

    /// <summary>-1 scalar, 1 one-dimensional array.</summary>
    public int ValueRank { get; init; } = -1;

    /// <summary>Raised after a client wrote the value (not for <see cref="Set"/>).</summary>
    public event Action<UaVariable, DataValue>? WrittenByClient;

    internal Func<Variant>? Computed { get; init; }

    internal bool HasComputedValue => Computed is not null;

    /// <summary>Bumped on every change; monitored items sample by comparing it.</summary>
    internal long Version => Interlocked.Read(ref _version);

    public DataValue Value
    {
        get
        {
            if (Computed is { } compute)
            {
                var now = DateTime.UtcNow;
                return new DataValue(compute(), default, now) { ServerTimestamp = now };
            }
            lock (_lock)
                return _value;
        }
    }

    public int HistoryCount
    {
        get
        {
            lock (_lock)
                return _historyCount;
        }
    }

    /// <summary>Sets the value with its source timestamp (UTC). The type must be the variable's data type.</summary>
    public void Set(Variant value, DateTime sourceTimestamp, StatusCode status = default)
    {
        if (!value.IsNull && value.Type != DataType)
            throw new ArgumentException($"variable {NodeId} holds {DataType}, not {value.Type}", nameof(value));
        Store(new DataValue(value, status, DateTime.SpecifyKind(sourceTimestamp, DateTimeKind.Utc)) { ServerTimestamp = DateTime.UtcNow });
    }

    internal StatusCode WriteFromClient(DataValue value)
    {
        if (!Writable)
            return StatusCodes.BadNotWritable;
        if (value.Value.IsNull || value.Value.Type != DataType || value.Value.IsArray)
            return StatusCodes.BadTypeMismatch;
        var now = DateTime.UtcNow;
        var stored = new DataValue(value.Value, value.Status, value.SourceTimestamp ?? now) { ServerTimestamp = now };
        Store(stored);
        WrittenByClient?.Invoke(this, stored);
        return StatusCodes.Good;
    }

    private void Store(DataValue value)
    {
        lock (_lock)
        {
            _value = value;
            _version++;
            if (_history.Length == 0)
                return;
            if (_historyCount > 0 && _history[(_historyStart + _historyCount - 1) % _history.Length].SourceTimestamp > value.SourceTimestamp)
                return; // history stays in source-timestamp order; a value from the past is current but not history
            if (_historyCount < _history.Length)
            {
                _history[(_historyStart + _historyCount) % _history.Length] = value;
                _historyCount++;
            }
            else
            {
                _history[_historyStart] = value;
                _historyStart = (_historyStart + 1) % _history.Length;
            }
        }
    }

    /// <summary>
    /// Values with source timestamps in [from, to] (or [to, from] newest first when from &gt; to), at most
    /// <paramref name="max"/> (0: no limit); <paramref name="more"/> says whether values were left out by the limit.
    /// </summary>
    internal List<DataValue> ReadHistory(DateTime from, DateTime to, int max, out bool more)
    {
        var result = new List<DataValue>();
        more = false;
        bool backward = from > to;
        var (lo, hi) = backward ? (to, from) : (from, to);
        lock (_lock)
        {
            int first = LowerBound(lo);
            int last = first;
            while (last < _historyCount && At(last).SourceTimestamp <= hi)
                last++;
            int n = last - first;
            if (max > 0 && n > max)
            {
                more = true;
                n = max;
            }
            for (int i = 0; i < n; i++)
                result.Add(At(backward ? last - 1 - i : first + i));
        }
        return result;
    }

    private DataValue At(int i) => _history[(_historyStart + i) % _history.Length];

    private int LowerBound(DateTime t)
    {
        int lo = 0, hi = _historyCount;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (At(mid).SourceTimestamp < t)
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}
