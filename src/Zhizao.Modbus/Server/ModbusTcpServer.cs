using System.Buffers;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;

namespace Zhizao.Modbus.Server;

public sealed class ModbusTcpServerOptions
{
    /// <summary>Address to listen on; loopback unless a deployment says otherwise.</summary>
    public IPAddress Address { get; init; } = IPAddress.Loopback;

    /// <summary>TCP port; 0 picks a free one (read it back from <see cref="ModbusTcpServer.Port"/>).</summary>
    public int Port { get; init; } = 502;

    /// <summary>Connections served at once; further ones are accepted and closed at once (with a log line).</summary>
    public int MaxConnections { get; init; } = 64;

    /// <summary>A connection that sends nothing for this long is closed.</summary>
    public TimeSpan IdleTimeout { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>Requests for a unit id that has no <see cref="ModbusUnit"/>: exception 0x0B (as a gateway answers) when true, no answer when false.</summary>
    public bool AnswerUnknownUnits { get; init; } = true;

    /// <summary>Where connection-level events go (bad frames, limits); never request contents.</summary>
    public Action<string>? Log { get; init; }
}

/// <summary>
/// A Modbus TCP server: units (one <see cref="ModbusUnit"/> per unit id) answer FC 1, 2, 3, 4, 5, 6, 15, 16 and 23;
/// bad requests get exception responses (<see cref="ModbusServerCodec"/>); a frame that breaks MBAP framing (protocol id,
/// length) or ends before its length closes that connection only, with a log line. Requests on one connection are
/// answered in order; connections are served concurrently.
/// </summary>
public sealed class ModbusTcpServer : IAsyncDisposable
{
    private readonly ModbusTcpServerOptions _options;
    private readonly ConcurrentDictionary<byte, ModbusUnit> _units = new();
    private readonly ConcurrentDictionary<Socket, byte> _connections = new();
    private readonly CancellationTokenSource _stop = new();
    private Socket? _listener;
    private Task _acceptLoop = Task.CompletedTask;
    private long _requests;
    private long _exceptions;
    private long _badFrames;
    private long _accepted;

    public ModbusTcpServer(ModbusTcpServerOptions? options = null)
    {
        _options = options ?? new ModbusTcpServerOptions();
        if (_options.Port is < 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(options), $"port {_options.Port} outside 0..65535");
        if (_options.MaxConnections < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxConnections must be at least 1");
    }

    /// <summary>The bound port (after <see cref="Start"/>).</summary>
    public int Port { get; private set; }

    public IPEndPoint Endpoint => new(_options.Address, Port);

    public long Requests => Interlocked.Read(ref _requests);
    public long ExceptionResponses => Interlocked.Read(ref _exceptions);

    /// <summary>Connections closed because a frame broke MBAP framing or was truncated.</summary>
    public long BadFrames => Interlocked.Read(ref _badFrames);

    public long ConnectionsAccepted => Interlocked.Read(ref _accepted);
    public int OpenConnections => _connections.Count;

    public IReadOnlyCollection<ModbusUnit> Units => [.. _units.Values.OrderBy(u => u.UnitId)];

    /// <summary>Adds a unit (or returns the existing one with this id).</summary>
    public ModbusUnit AddUnit(ModbusUnit unit) => _units.GetOrAdd(unit.UnitId, unit);

    public ModbusUnit AddUnit(byte unitId) => _units.GetOrAdd(unitId, id => new ModbusUnit(id));

    public ModbusUnit GetUnit(byte unitId) =>
        _units.TryGetValue(unitId, out var u) ? u : throw new KeyNotFoundException($"no Modbus unit {unitId} on this server");

    public void Start()
    {
        if (_listener is not null)
            throw new InvalidOperationException("the server is already started");
        var listener = new Socket(_options.Address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.Bind(new IPEndPoint(_options.Address, _options.Port));
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
    }

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
                Log($"Modbus server :{Port}: accept failed: {e.SocketErrorCode}");
                continue;
            }
            Interlocked.Increment(ref _accepted);
            if (_connections.Count >= _options.MaxConnections)
            {
                Log($"Modbus server :{Port}: refused {socket.RemoteEndPoint}: {_options.MaxConnections} connections already open (MaxConnections)");
                socket.Dispose();
                continue;
            }
            socket.NoDelay = true;
            _connections[socket] = 0;
            _ = Task.Run(() => ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        EndPoint? peer = socket.RemoteEndPoint;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(8192);
        byte[] output = ArrayPool<byte>.Shared.Rent(ModbusLimits.MaxAduLength + 1);
        int start = 0, end = 0;
        using var idle = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        try
        {
            while (true)
            {
                while (end - start < ModbusLimits.MbapHeaderLength)
                    (start, end) = await FillAsync(socket, buffer, start, end, idle);
                MbapHeader header = ModbusCodec.ReadHeader(buffer.AsSpan(start, ModbusLimits.MbapHeaderLength));
                int frameLength = ModbusLimits.MbapHeaderLength + header.PduLength;
                while (end - start < frameLength)
                    (start, end) = await FillAsync(socket, buffer, start, end, idle);
                int responseLength = Handle(header, buffer.AsSpan(start + ModbusLimits.MbapHeaderLength, header.PduLength), output);
                start += frameLength;
                if (start == end)
                    start = end = 0;
                if (responseLength > 0)
                    await socket.SendAsync(output.AsMemory(0, responseLength), SocketFlags.None, _stop.Token);
            }
        }
        catch (ModbusProtocolException e)
        {
            Interlocked.Increment(ref _badFrames);
            Log($"Modbus server :{Port}: closing {peer}: {e.Message}");
        }
        catch (EndOfStreamException)
        {
            if (end > start)
            {
                Interlocked.Increment(ref _badFrames);
                Log($"Modbus server :{Port}: {peer} closed in the middle of a frame ({end - start} bytes of it received)");
            }
        }
        catch (TimeoutException)
        {
            Log($"Modbus server :{Port}: closing {peer}: idle for {_options.IdleTimeout.TotalSeconds:0.###} s");
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Log($"Modbus server :{Port}: closing {peer} after an internal error: {e}"); // e.g. a Written handler that threw
        }
        finally
        {
            _connections.TryRemove(socket, out _);
            socket.Dispose();
            ArrayPool<byte>.Shared.Return(buffer);
            ArrayPool<byte>.Shared.Return(output);
        }
    }

    /// <summary>Returns the response ADU length in <paramref name="output"/>, or 0 for no answer.</summary>
    private int Handle(MbapHeader header, ReadOnlySpan<byte> pdu, byte[] output)
    {
        Interlocked.Increment(ref _requests);
        Span<byte> response = output.AsSpan(ModbusLimits.MbapHeaderLength);
        int pduLength;
        if (_units.TryGetValue(header.UnitId, out var unit))
        {
            pduLength = unit.Execute(pdu, response);
        }
        else if (_options.AnswerUnknownUnits)
        {
            pduLength = ModbusServerCodec.WriteException(response, pdu[0], ModbusExceptionCode.GatewayTargetFailedToRespond);
        }
        else
        {
            return 0;
        }
        if ((response[0] & 0x80) != 0)
            Interlocked.Increment(ref _exceptions);
        ModbusCodec.WriteHeader(output, header.TransactionId, header.UnitId, pduLength);
        return ModbusLimits.MbapHeaderLength + pduLength;
    }

    private async ValueTask<(int Start, int End)> FillAsync(Socket socket, byte[] buffer, int start, int end, CancellationTokenSource idle)
    {
        if (buffer.Length - end < ModbusLimits.MaxAduLength)
        {
            Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
            end -= start;
            start = 0;
        }
        idle.CancelAfter(_options.IdleTimeout); // re-arms the connection's one idle timer
        int n;
        try
        {
            n = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, idle.Token);
        }
        catch (OperationCanceledException) when (!_stop.IsCancellationRequested)
        {
            throw new TimeoutException();
        }
        if (n == 0)
            throw new EndOfStreamException();
        return (start, end + n);
    }

    private void Log(string message) => _options.Log?.Invoke(message);

    public async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
            return;
        _stop.Cancel();
        _listener?.Dispose();
        await _acceptLoop;
        foreach (var socket in _connections.Keys)
            socket.Dispose();
        _stop.Dispose();
    }
}
