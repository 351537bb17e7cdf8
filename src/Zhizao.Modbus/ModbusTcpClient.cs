using System.Buffers;
using System.Collections.Concurrent;
using System.Net.Sockets;

namespace Zhizao.Modbus;

public sealed class ModbusTcpClientOptions
{
    public required string Host { get; init; }
    public int Port { get; init; } = 502;
    public byte DefaultUnitId { get; init; } = 1;

    /// <summary>How long one attempt waits for its response. A timeout drops the connection (the stream may be out of step).</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan ConnectTimeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Further attempts after a timeout, connection loss or malformed frame (not after an exception response).</summary>
    public int Retries { get; init; } = 2;

    /// <summary>First back-off delay; doubles per retry up to <see cref="MaxRetryDelay"/>.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan MaxRetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Requests in flight on the connection at once (pipelining). 1 suits most devices and gateways.</summary>
    public int MaxOutstandingRequests { get; init; } = 1;
}

/// <summary>
/// Modbus TCP client: FC 1, 2, 3, 4, 5, 6, 15, 16, 23; responses matched by transaction id; per-request timeout,
/// retries with exponential back-off and automatic reconnect. Thread-safe.
/// </summary>
public sealed class ModbusTcpClient : IAsyncDisposable
{
    private readonly ModbusTcpClientOptions _options;
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly SemaphoreSlim _outstanding;
    private Connection? _connection;
    private int _nextTransactionId;
    private int _disposed;
    private long _reconnects;
    private long _unmatchedResponses;

    public ModbusTcpClient(ModbusTcpClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.MaxOutstandingRequests < 1)
            throw new ArgumentOutOfRangeException(nameof(options), "MaxOutstandingRequests must be at least 1");
        if (options.Retries < 0)
            throw new ArgumentOutOfRangeException(nameof(options), "Retries must not be negative");
        _options = options;
        _outstanding = new SemaphoreSlim(options.MaxOutstandingRequests, options.MaxOutstandingRequests);
    }

    public ModbusTcpClientOptions Options => _options;
    public bool IsConnected => _connection is { IsClosed: false };

    /// <summary>Connections opened after the first one.</summary>
    public long Reconnects => Interlocked.Read(ref _reconnects);

    /// <summary>Responses whose transaction id matched no request in flight (late answers to timed-out requests); discarded.</summary>
    public long UnmatchedResponses => Interlocked.Read(ref _unmatchedResponses);

    public async Task ConnectAsync(CancellationToken cancellationToken = default) => await GetConnectionAsync(cancellationToken);

    public Task<bool[]> ReadCoilsAsync(ushort address, int count, CancellationToken cancellationToken = default)
        => ReadBitsAsync(_options.DefaultUnitId, ModbusFunction.ReadCoils, address, count, cancellationToken);

    public Task<bool[]> ReadDiscreteInputsAsync(ushort address, int count, CancellationToken cancellationToken = default)
        => ReadBitsAsync(_options.DefaultUnitId, ModbusFunction.ReadDiscreteInputs, address, count, cancellationToken);

    public Task<ushort[]> ReadHoldingRegistersAsync(ushort address, int count, CancellationToken cancellationToken = default)
        => ReadRegistersAsync(_options.DefaultUnitId, ModbusFunction.ReadHoldingRegisters, address, count, cancellationToken);

    public Task<ushort[]> ReadInputRegistersAsync(ushort address, int count, CancellationToken cancellationToken = default)
        => ReadRegistersAsync(_options.DefaultUnitId, ModbusFunction.ReadInputRegisters, address, count, cancellationToken);

    /// <summary>FC 1 or 2 for a unit id.</summary>
    public async Task<bool[]> ReadBitsAsync(byte unitId, ModbusFunction function, ushort address, int count, CancellationToken cancellationToken = default)
    {
        byte[] adu = ArrayPool<byte>.Shared.Rent(ModbusLimits.MaxAduLength);
        try
        {
            if (function is not (ModbusFunction.ReadCoils or ModbusFunction.ReadDiscreteInputs))
                throw new ArgumentOutOfRangeException(nameof(function), $"{ModbusException.Name(function)} does not read bits");
            int length = ModbusCodec.EncodeRead(adu, 0, unitId, function, address, count);
            var result = new bool[count]; // count was checked by EncodeRead
            await ExecuteAsync(adu, length, unitId, pdu => ModbusCodec.DecodeBits(pdu, unitId, function, result), cancellationToken);
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(adu);
        }
    }

    /// <summary>FC 3 or 4 for a unit id.</summary>
    public async Task<ushort[]> ReadRegistersAsync(byte unitId, ModbusFunction function, ushort address, int count, CancellationToken cancellationToken = default)
    {
        if (count < 1 || count > ModbusLimits.MaxReadRegisters)
            throw new ArgumentOutOfRangeException(nameof(count), $"quantity {count} outside 1..{ModbusLimits.MaxReadRegisters} (Modbus limit for this function)");
        var result = new ushort[count];
        await ReadRegistersAsync(unitId, function, address, count, result, cancellationToken);
        return result;
    }

    /// <summary>FC 3 or 4 into a caller's buffer (no result allocation); fills the first <paramref name="count"/> entries.</summary>
    public async Task ReadRegistersAsync(byte unitId, ModbusFunction function, ushort address, int count, Memory<ushort> destination, CancellationToken cancellationToken = default)
    {
        byte[] adu = ArrayPool<byte>.Shared.Rent(ModbusLimits.MaxAduLength);
        try
        {
            if (function is not (ModbusFunction.ReadHoldingRegisters or ModbusFunction.ReadInputRegisters))
                throw new ArgumentOutOfRangeException(nameof(function), $"{ModbusException.Name(function)} does not read registers");
            int length = ModbusCodec.EncodeRead(adu, 0, unitId, function, address, count);
            if (destination.Length < count)
                throw new ArgumentOutOfRangeException(nameof(destination), $"destination holds {destination.Length} registers, {count} requested");
            await ExecuteAsync(adu, length, unitId, pdu => ModbusCodec.DecodeRegisters(pdu, unitId, function, destination.Span[..count]), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(adu);
        }
    }

    public Task WriteSingleCoilAsync(ushort address, bool value, CancellationToken cancellationToken = default)
        => WriteSingleCoilAsync(_options.DefaultUnitId, address, value, cancellationToken);

    public Task WriteSingleCoilAsync(byte unitId, ushort address, bool value, CancellationToken cancellationToken = default)
        => WriteCheckingEchoAsync(unitId, adu => ModbusCodec.EncodeWriteSingleCoil(adu, 0, unitId, address, value), ModbusFunction.WriteSingleCoil, address, value ? (ushort)0xFF00 : (ushort)0, cancellationToken);

    public Task WriteSingleRegisterAsync(ushort address, ushort value, CancellationToken cancellationToken = default)
        => WriteSingleRegisterAsync(_options.DefaultUnitId, address, value, cancellationToken);

    public Task WriteSingleRegisterAsync(byte unitId, ushort address, ushort value, CancellationToken cancellationToken = default)
        => WriteCheckingEchoAsync(unitId, adu => ModbusCodec.EncodeWriteSingleRegister(adu, 0, unitId, address, value), ModbusFunction.WriteSingleRegister, address, value, cancellationToken);

    public Task WriteMultipleCoilsAsync(ushort address, ReadOnlyMemory<bool> values, CancellationToken cancellationToken = default)
        => WriteMultipleCoilsAsync(_options.DefaultUnitId, address, values, cancellationToken);

    public Task WriteMultipleCoilsAsync(byte unitId, ushort address, ReadOnlyMemory<bool> values, CancellationToken cancellationToken = default)
        => WriteCheckingEchoAsync(unitId, adu => ModbusCodec.EncodeWriteMultipleCoils(adu, 0, unitId, address, values.Span), ModbusFunction.WriteMultipleCoils, address, (ushort)values.Length, cancellationToken);

    public Task WriteMultipleRegistersAsync(ushort address, ReadOnlyMemory<ushort> values, CancellationToken cancellationToken = default)
        => WriteMultipleRegistersAsync(_options.DefaultUnitId, address, values, cancellationToken);

    public Task WriteMultipleRegistersAsync(byte unitId, ushort address, ReadOnlyMemory<ushort> values, CancellationToken cancellationToken = default)
        => WriteCheckingEchoAsync(unitId, adu => ModbusCodec.EncodeWriteMultipleRegisters(adu, 0, unitId, address, values.Span), ModbusFunction.WriteMultipleRegisters, address, (ushort)values.Length, cancellationToken);

    /// <summary>The write functions share this: encode into a pooled ADU, send, and check that the server echoed the request.</summary>
    private async Task WriteCheckingEchoAsync(byte unitId, Func<byte[], int> encode, ModbusFunction function, ushort address, ushort echo, CancellationToken cancellationToken)
    {
        byte[] adu = ArrayPool<byte>.Shared.Rent(ModbusLimits.MaxAduLength);
        try
        {
            int length = encode(adu);
            await ExecuteAsync(adu, length, unitId, pdu => ModbusCodec.CheckWriteEcho(pdu, unitId, function, address, echo), cancellationToken);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(adu);
        }
    }

    /// <summary>FC 23: writes <paramref name="values"/> at <paramref name="writeAddress"/>, then reads (the server writes first).</summary>
    public async Task<ushort[]> ReadWriteMultipleRegistersAsync(byte unitId, ushort readAddress, int readCount, ushort writeAddress,
        ReadOnlyMemory<ushort> values, CancellationToken cancellationToken = default)
    {
        byte[] adu = ArrayPool<byte>.Shared.Rent(ModbusLimits.MaxAduLength);
        try
        {
            int length = ModbusCodec.EncodeReadWriteMultipleRegisters(adu, 0, unitId, readAddress, readCount, writeAddress, values.Span);
            var result = new ushort[readCount]; // checked by the encoder
            await ExecuteAsync(adu, length, unitId, pdu => ModbusCodec.DecodeRegisters(pdu, unitId, ModbusFunction.ReadWriteMultipleRegisters, result), cancellationToken);
            return result;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(adu);
        }
    }

    internal delegate void PduHandler(ReadOnlySpan<byte> pdu);

    /// <summary>Sends the ADU (its transaction id is set per attempt) and hands the response PDU to <paramref name="handle"/>.</summary>
    private async Task ExecuteAsync(byte[] adu, int length, byte unitId, PduHandler handle, CancellationToken cancellationToken)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        await _outstanding.WaitAsync(cancellationToken);
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                try
                {
                    Connection connection = await GetConnectionAsync(cancellationToken);
                    await connection.SendAsync(this, adu, length, unitId, handle, _options.RequestTimeout, cancellationToken);
                    return;
                }
                catch (Exception ex) when (IsRetryable(ex) && !cancellationToken.IsCancellationRequested && Volatile.Read(ref _disposed) == 0)
                {
                    if (attempt >= _options.Retries)
                        throw new ModbusTransportException($"Modbus request to {_options.Host}:{_options.Port} unit {unitId} failed after {attempt + 1} attempt(s): {ex.Message}", ex);
                    double ms = Math.Min(_options.MaxRetryDelay.TotalMilliseconds, _options.RetryDelay.TotalMilliseconds * Math.Pow(2, attempt));
                    await Task.Delay(TimeSpan.FromMilliseconds(ms), cancellationToken);
                }
            }
        }
        finally
        {
            _outstanding.Release();
        }
    }

    private static bool IsRetryable(Exception ex) =>
        ex is TimeoutException or IOException or SocketException or ModbusProtocolException or ObjectDisposedException;

    private ushort NextTransactionId() => (ushort)Interlocked.Increment(ref _nextTransactionId);

    private ValueTask<Connection> GetConnectionAsync(CancellationToken cancellationToken)
    {
        Connection? c = _connection;
        if (c is { IsClosed: false })
            return ValueTask.FromResult(c);
        return new ValueTask<Connection>(ConnectSlowAsync(cancellationToken));
    }

    private async Task<Connection> ConnectSlowAsync(CancellationToken cancellationToken)
    {
        await _connectLock.WaitAsync(cancellationToken);
        try
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            Connection? c = _connection;
            if (c is { IsClosed: false })
                return c;
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(_options.ConnectTimeout);
                try
                {
                    await socket.ConnectAsync(_options.Host, _options.Port, timeout.Token);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    throw new TimeoutException($"connecting to {_options.Host}:{_options.Port} took longer than {_options.ConnectTimeout.TotalMilliseconds} ms");
                }
            }
            catch
            {
                socket.Dispose();
                throw;
            }
            if (c is not null)
                Interlocked.Increment(ref _reconnects);
            var connection = new Connection(socket);
            connection.Start(this);
            _connection = connection;
            return connection;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
            return;
        Connection? c = _connection;
        if (c is not null)
        {
            c.Close(new ObjectDisposedException(nameof(ModbusTcpClient)));
            await c.ReadLoop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        _connectLock.Dispose();
    }

    /// <summary>One TCP connection: a reader task matches responses to requests by transaction id.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1001", Justification = "Close() releases the socket; the semaphore and token source may still be awaited by late senders")]
    private sealed class Connection(Socket socket)
    {
        private readonly SemaphoreSlim _sendLock = new(1, 1);
        private readonly ConcurrentDictionary<ushort, Pending> _pending = new();
        private readonly CancellationTokenSource _closing = new();
        private int _closed;

        public Task ReadLoop { get; private set; } = Task.CompletedTask;
        public bool IsClosed => Volatile.Read(ref _closed) != 0;

        public void Start(ModbusTcpClient owner) => ReadLoop = Task.Run(() => ReadLoopAsync(owner));

        public async Task SendAsync(ModbusTcpClient owner, byte[] adu, int length, byte unitId, PduHandler handle, TimeSpan timeout, CancellationToken cancellationToken)
        {
            var pending = new Pending(unitId, handle);
            ushort tid;
            do
            {
                tid = owner.NextTransactionId();
            }
            while (!_pending.TryAdd(tid, pending));
            try
            {
                if (IsClosed)
                    throw new IOException("Modbus connection closed");
                await _sendLock.WaitAsync(cancellationToken);
                try
                {
                    adu[0] = (byte)(tid >> 8);
                    adu[1] = (byte)tid;
                    await socket.SendAsync(adu.AsMemory(0, length), SocketFlags.None, cancellationToken);
                }
                catch (OperationCanceledException)
                {
                    Close(new IOException("a request was cancelled part-way through sending")); // the server may hold half a frame
                    throw;
                }
                finally
                {
                    _sendLock.Release();
                }
                try
                {
                    await pending.Completion.Task.WaitAsync(timeout, cancellationToken);
                }
                catch (TimeoutException)
                {
                    var ex = new TimeoutException($"no Modbus response to transaction {tid} (unit {unitId}) within {timeout.TotalMilliseconds} ms");
                    Close(ex); // the stream may hold a partial frame: start again on a fresh connection
                    throw ex;
                }
            }
            catch (SocketException ex)
            {
                Close(ex);
                throw;
            }
            finally
            {
                _pending.TryRemove(tid, out _);
            }
        }

        public void Close(Exception reason)
        {
            if (Interlocked.Exchange(ref _closed, 1) != 0)
                return;
            _closing.Cancel();
            socket.Dispose();
            foreach (var pair in _pending)
                pair.Value.Completion.TrySetException(reason is IOException or TimeoutException or ModbusProtocolException or ObjectDisposedException
                    ? reason : new IOException($"Modbus connection lost: {reason.Message}", reason));
        }

        private async Task ReadLoopAsync(ModbusTcpClient owner)
        {
            byte[] buffer = ArrayPool<byte>.Shared.Rent(8192);
            int start = 0, end = 0;
            try
            {
                while (true)
                {
                    // ensure a header
                    while (end - start < ModbusLimits.MbapHeaderLength)
                        (start, end) = await FillAsync(buffer, start, end);
                    MbapHeader header = ModbusCodec.ReadHeader(buffer.AsSpan(start, ModbusLimits.MbapHeaderLength));
                    int frameLength = ModbusLimits.MbapHeaderLength + header.PduLength;
                    while (end - start < frameLength)
                        (start, end) = await FillAsync(buffer, start, end);
                    Dispatch(owner, header, buffer.AsSpan(start + ModbusLimits.MbapHeaderLength, header.PduLength));
                    start += frameLength;
                    if (start == end)
                        start = end = 0;
                }
            }
            catch (Exception ex)
            {
                Close(ex is EndOfStreamException or OperationCanceledException
                    ? new IOException("Modbus connection closed by the server" + (end > start ? $" in the middle of a frame ({end - start} bytes of it received)" : ""), ex)
                    : ex);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        private async ValueTask<(int Start, int End)> FillAsync(byte[] buffer, int start, int end)
        {
            if (buffer.Length - end < ModbusLimits.MaxAduLength)
            {
                Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                end -= start;
                start = 0;
            }
            int n = await socket.ReceiveAsync(buffer.AsMemory(end), SocketFlags.None, _closing.Token);
            if (n == 0)
                throw new EndOfStreamException();
            return (start, end + n);
        }

        private void Dispatch(ModbusTcpClient owner, MbapHeader header, ReadOnlySpan<byte> pdu)
        {
            if (!_pending.TryRemove(header.TransactionId, out Pending? pending))
            {
                Interlocked.Increment(ref owner._unmatchedResponses);
                return;
            }
            try
            {
                if (header.UnitId != pending.UnitId)
                    Throw.Protocol($"response unit id {header.UnitId} does not match the request's {pending.UnitId}");
                pending.Handle(pdu);
                pending.Completion.TrySetResult();
            }
            catch (Exception ex)
            {
                pending.Completion.TrySetException(ex);
            }
        }
    }

    private sealed class Pending(byte unitId, PduHandler handle)
    {
        public byte UnitId { get; } = unitId;
        public PduHandler Handle { get; } = handle;
        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
