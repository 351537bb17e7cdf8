using System.Net;
using System.Net.Sockets;

namespace Zhizao.OpcUa.Tests;

/// <summary>
/// A loopback TCP forwarder to cut the connection while the server stays up: <see cref="Cut"/> drops every
/// connection and refuses new ones; <see cref="Restore"/> listens again on the same port.
/// </summary>
public sealed class TcpProxy : IAsyncDisposable
{
    private readonly int _targetPort;
    private readonly List<TcpClient> _connections = [];
    private readonly object _lock = new();
    private TcpListener? _listener;
    private CancellationTokenSource _cts = new();

    public TcpProxy(int targetPort)
    {
        _targetPort = targetPort;
        Port = NodeOpcUaServer.FreePort();
        Restore();
    }

    public int Port { get; }

    public void Restore()
    {
        _cts = new CancellationTokenSource();
        for (int attempt = 0; ; attempt++)
        {
            try
            {
                _listener = new TcpListener(IPAddress.Loopback, Port);
                _listener.Server.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                _listener.Start();
                break;
            }
            catch (SocketException) when (attempt < 50)
            {
                Thread.Sleep(100);
            }
        }
        _ = AcceptLoopAsync(_listener, _cts.Token);
    }

    public void Cut()
    {
        _cts.Cancel();
        _listener?.Stop();
        lock (_lock)
        {
            foreach (var c in _connections)
            {
                try
                {
                    if (c.Client is { } socket)
                        socket.LingerState = new LingerOption(true, 0); // RST: the peer sees the loss at once
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                }
                c.Dispose();
            }
            _connections.Clear();
        }
    }

    private async Task AcceptLoopAsync(TcpListener listener, CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            TcpClient inbound;
            try
            {
                inbound = await listener.AcceptTcpClientAsync(ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            var outbound = new TcpClient();
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException)
            {
                inbound.Dispose();
                outbound.Dispose();
                continue;
            }
            lock (_lock)
            {
                _connections.Add(inbound);
                _connections.Add(outbound);
            }
            _ = PumpAsync(inbound, outbound, ct);
            _ = PumpAsync(outbound, inbound, ct);
        }
    }

    private static async Task PumpAsync(TcpClient from, TcpClient to, CancellationToken ct)
    {
        var buffer = new byte[65536];
        try
        {
            var source = from.GetStream();
            var sink = to.GetStream();
            while (true)
            {
                int n = await source.ReadAsync(buffer, ct);
                if (n == 0)
                    break;
                await sink.WriteAsync(buffer.AsMemory(0, n), ct);
            }
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException or OperationCanceledException or InvalidOperationException)
        {
        }
        from.Dispose();
        to.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        Cut();
        return ValueTask.CompletedTask;
    }
}
