using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using Zhizao.Modbus;

namespace Zhizao.Modbus.Tests;

public readonly record struct FakeRequest(int Index, ushort TransactionId, byte UnitId, byte Function, ushort Address, ushort Count);

/// <summary>What the fake server does with one request.</summary>
public abstract record FakeReply
{
    public static readonly FakeReply Normal = new NormalReply();
    public static readonly FakeReply Silent = new SilentReply();
    public static readonly FakeReply Disconnect = new DisconnectReply();
    public static FakeReply Exception(ModbusExceptionCode code) => new ExceptionReply(code);
    public static FakeReply Delay(TimeSpan delay) => new DelayReply(delay);
    /// <summary>Sends only the first <paramref name="bytes"/> of the normal answer, then closes the connection or keeps it open.</summary>
    public static FakeReply Truncate(int bytes, bool close) => new TruncateReply(bytes, close);
    public static FakeReply WrongTransactionId => new WrongTransactionIdReply();
    /// <summary>Replaces the normal response ADU.</summary>
    public static FakeReply Rewrite(Func<byte[], byte[]> rewrite) => new RewriteReply(rewrite);

    internal sealed record NormalReply : FakeReply;
    internal sealed record SilentReply : FakeReply;
    internal sealed record DisconnectReply : FakeReply;
    internal sealed record ExceptionReply(ModbusExceptionCode Code) : FakeReply;
    internal sealed record DelayReply(TimeSpan Duration) : FakeReply;
    internal sealed record TruncateReply(int Bytes, bool Close) : FakeReply;
    internal sealed record WrongTransactionIdReply : FakeReply;
    internal sealed record RewriteReply(Func<byte[], byte[]> Transform) : FakeReply;
}

/// <summary>A small in-process Modbus TCP server whose replies a test can corrupt.</summary>
public sealed class FakeModbusServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _acceptLoop;
    private int _requests;
    private int _connections;

    public FakeModbusServer()
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = AcceptLoopAsync();
    }

    public int Port { get; }
    public bool[] Coils { get; } = new bool[1000];
    public bool[] DiscreteInputs { get; } = new bool[1000];
    public ushort[] HoldingRegisters { get; } = new ushort[1000];
    public ushort[] InputRegisters { get; } = new ushort[1000];
    public Func<FakeRequest, FakeReply> Behavior { get; set; } = _ => FakeReply.Normal;
    public int Requests => Volatile.Read(ref _requests);
    public int Connections => Volatile.Read(ref _connections);

    public ModbusTcpClient CreateClient(int retries = 2, int timeoutMs = 5000, int maxOutstanding = 1) => new(new ModbusTcpClientOptions
    {
        Host = "127.0.0.1",
        Port = Port,
        Retries = retries,
        RequestTimeout = TimeSpan.FromMilliseconds(timeoutMs),
        RetryDelay = TimeSpan.FromMilliseconds(10),
        MaxOutstandingRequests = maxOutstanding,
    });

    private async Task AcceptLoopAsync()
    {
        try
        {
            while (true)
            {
                Socket s = await _listener.AcceptSocketAsync(_stop.Token);
                Interlocked.Increment(ref _connections);
                lock (_sockets)
                    _sockets.Add(s);
                _ = Task.Run(() => ServeAsync(s));
            }
        }
        catch (Exception) when (_stop.IsCancellationRequested)
        {
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var header = new byte[7];
        try
        {
            while (true)
            {
                await ReceiveExactly(socket, header);
                int length = BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(4));
                var pdu = new byte[length - 1];
                await ReceiveExactly(socket, pdu);
                ushort tid = BinaryPrimitives.ReadUInt16BigEndian(header);
                int index = Interlocked.Increment(ref _requests) - 1;
                var request = new FakeRequest(index, tid, header[6], pdu[0],
                    pdu.Length >= 3 ? BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(1)) : (ushort)0,
                    pdu.Length >= 5 ? BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(3)) : (ushort)0);
                FakeReply reply = Behavior(request);
                byte[] responsePdu;
                switch (reply)
                {
                    case FakeReply.SilentReply:
                        continue;
                    case FakeReply.DisconnectReply:
                        socket.Close();
                        return;
                    case FakeReply.ExceptionReply e:
                        responsePdu = [(byte)(pdu[0] | 0x80), (byte)e.Code];
                        break;
                    case FakeReply.DelayReply d:
                        await Task.Delay(d.Duration, _stop.Token);
                        responsePdu = Execute(pdu);
                        break;
                    default:
                        responsePdu = Execute(pdu);
                        break;
                }
                byte[] adu = new byte[7 + responsePdu.Length];
                BinaryPrimitives.WriteUInt16BigEndian(adu, reply is FakeReply.WrongTransactionIdReply ? (ushort)(tid + 1000) : tid);
                BinaryPrimitives.WriteUInt16BigEndian(adu.AsSpan(4), (ushort)(responsePdu.Length + 1));
                adu[6] = header[6];
                responsePdu.CopyTo(adu, 7);
                if (reply is FakeReply.RewriteReply r)
                    adu = r.Transform(adu);
                if (reply is FakeReply.TruncateReply t)
                {
                    await socket.SendAsync(adu.AsMemory(0, Math.Min(t.Bytes, adu.Length)), SocketFlags.None);
                    if (t.Close)
                    {
                        socket.Close();
                        return;
                    }
                    continue;
                }
                await socket.SendAsync(adu, SocketFlags.None);
            }
        }
        catch (Exception)
        {
            socket.Dispose();
        }
    }

    private byte[] Execute(byte[] pdu)
    {
        ushort a = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(1));
        ushort n = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(3));
        lock (HoldingRegisters)
        {
            switch (pdu[0])
            {
                case 1:
                case 2:
                    {
                        bool[] table = pdu[0] == 1 ? Coils : DiscreteInputs;
                        if (a + n > table.Length)
                            return [(byte)(pdu[0] | 0x80), 2];
                        var r = new byte[2 + ((n + 7) / 8)];
                        r[0] = pdu[0];
                        r[1] = (byte)((n + 7) / 8);
                        for (int i = 0; i < n; i++)
                        {
                            if (table[a + i])
                                r[2 + (i / 8)] |= (byte)(1 << (i % 8));
                        }
                        return r;
                    }
                case 3:
                case 4:
                    return ReadRegs(pdu[0], pdu[0] == 3 ? HoldingRegisters : InputRegisters, a, n);
                case 5:
                    Coils[a] = n == 0xFF00;
                    return pdu[..5];
                case 6:
                    HoldingRegisters[a] = n;
                    return pdu[..5];
                case 15:
                    for (int i = 0; i < n; i++)
                        Coils[a + i] = (pdu[6 + (i / 8)] & (1 << (i % 8))) != 0;
                    return pdu[..5];
                case 16:
                    for (int i = 0; i < n; i++)
                        HoldingRegisters[a + i] = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(6 + (2 * i)));
                    return pdu[..5];
                case 23:
                    {
                        ushort wa = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(5));
                        ushort wn = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(7));
                        for (int i = 0; i < wn; i++)
                            HoldingRegisters[wa + i] = BinaryPrimitives.ReadUInt16BigEndian(pdu.AsSpan(10 + (2 * i)));
                        return ReadRegs(23, HoldingRegisters, a, n);
                    }
                default:
                    return [(byte)(pdu[0] | 0x80), 1];
            }
        }
    }

    private static byte[] ReadRegs(byte function, ushort[] table, ushort a, ushort n)
    {
        if (a + n > table.Length)
            return [(byte)(function | 0x80), 2];
        var r = new byte[2 + (2 * n)];
        r[0] = function;
        r[1] = (byte)(2 * n);
        for (int i = 0; i < n; i++)
            BinaryPrimitives.WriteUInt16BigEndian(r.AsSpan(2 + (2 * i)), table[a + i]);
        return r;
    }

    private async Task ReceiveExactly(Socket socket, byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await socket.ReceiveAsync(buffer.AsMemory(read), SocketFlags.None, _stop.Token);
            if (n == 0)
                throw new EndOfStreamException();
            read += n;
        }
    }

    /// <summary>Closes every open connection (the listener stays up).</summary>
    public void DropConnections()
    {
        lock (_sockets)
        {
            foreach (Socket s in _sockets)
                s.Dispose();
            _sockets.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        DropConnections();
        await _acceptLoop;
        _stop.Dispose();
    }
}
