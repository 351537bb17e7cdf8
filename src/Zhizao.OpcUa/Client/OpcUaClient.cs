using System.Security.Cryptography.X509Certificates;
using System.Text;
using Zhizao.OpcUa.Security;
using Zhizao.OpcUa.Transport;

namespace Zhizao.OpcUa.Client;

/// <summary>
/// An OPC UA client session over UA-TCP that survives the loss of its connection or of the server: it reconnects
/// with back-off, reactivates its session or creates a new one, transfers or recreates its subscriptions, and
/// back-fills monitored items from history where asked. Service calls made while reconnecting wait for the
/// connection (up to the request timeout).
/// </summary>
public sealed partial class OpcUaClient : IAsyncDisposable
{
    private readonly OpcUaClientOptions _options;
    private readonly object _stateLock = new();
    private readonly List<OpcUaSubscription> _subscriptions = [];
    private readonly CancellationTokenSource _life = new();
    private readonly Queue<SubscriptionAcknowledgement> _acks = new();
    private SecureChannel? _channel;
    private NodeId _authenticationToken = NodeId.Null;
    private NodeId _sessionId = NodeId.Null;
    private byte[]? _serverNonce;
    private X509Certificate2? _serverCertificate;
    private EndpointDescription? _endpoint;
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ConnectionState _state = ConnectionState.Disconnected;
    private Task? _reconnect;
    private Task? _keepAlive;
    private readonly List<Task> _publishers = [];
    private int _requestHandle;
    private int _clientHandle;
    private DateTime _lastResponseUtc;
    private bool _closed;

    public OpcUaClient(OpcUaClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options;
    }

    public OpcUaClientOptions Options => _options;
    public ConnectionState State => _state;
    public NodeId SessionId => _sessionId;
    public EndpointDescription? Endpoint => _endpoint;

    /// <summary>The current secure channel (replaced on every reconnect).</summary>
    public SecureChannel? Channel => _channel;

    /// <summary>Successful reconnects since <see cref="ConnectAsync"/>.</summary>
    public int ReconnectCount { get; private set; }

    /// <summary>Reconnects where the server still had our session (it was reactivated on a new channel).</summary>
    public int SessionReactivatedCount { get; private set; }

    /// <summary>Values delivered from HistoryRead after outages.</summary>
    public long BackfilledValueCount => Interlocked.Read(ref _backfilled);

    private long _backfilled;
    private long _backfillFailures;

    /// <summary>Batches of items whose gap could not be read from history after an outage (the server refused
    /// HistoryRead three times or has no history); their values between the outage and the reconnect are missing.
    /// <see cref="LastBackfillError"/> says why.</summary>
    public long BackfillFailureCount => Interlocked.Read(ref _backfillFailures);

    /// <summary>The reason of the last failed back-fill, or null.</summary>
    public string? LastBackfillError { get; private set; }

    public event EventHandler<ConnectionStateChangedEventArgs>? StateChanged;

    public IReadOnlyList<OpcUaSubscription> Subscriptions
    {
        get
        {
            lock (_stateLock)
                return [.. _subscriptions];
        }
    }

    // ---------------------------------------------------------------- connection

    /// <summary>Connects once (throwing the reason on failure); afterwards the client reconnects on its own.</summary>
    public async Task ConnectAsync(CancellationToken ct = default)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        SetState(ConnectionState.Connecting, null);
        try
        {
            await EstablishAsync(reconnect: false, ct);
        }
        catch (Exception e)
        {
            SetState(ConnectionState.Disconnected, e);
            throw;
        }
        SetConnected();
        _keepAlive ??= Task.Run(KeepAliveLoopAsync, CancellationToken.None);
    }

    /// <summary>Lists the server's endpoints over an unsecured channel.</summary>
    public static async Task<EndpointDescription[]> GetEndpointsAsync(string endpointUrl, OpcUaLimits? limits = null, CancellationToken ct = default)
    {
        await using var channel = await SecureChannel.OpenAsync(new SecureChannelOptions { EndpointUrl = endpointUrl, Limits = limits ?? OpcUaLimits.Default }, ct);
        return await GetEndpointsAsync(channel, endpointUrl, TimeSpan.FromSeconds(15), ct);
    }

    private static async Task<EndpointDescription[]> GetEndpointsAsync(SecureChannel channel, string endpointUrl, TimeSpan timeout, CancellationToken ct)
    {
        var reply = await channel.SendRequestAsync(new GetEndpointsRequest
        {
            RequestHeader = new RequestHeader { Timestamp = DateTime.UtcNow, RequestHandle = 1, TimeoutHint = (uint)timeout.TotalMilliseconds },
            EndpointUrl = endpointUrl,
            ProfileUris = ["http://opcfoundation.org/UA-Profile/Transport/uatcp-uasc-uabinary"],
        }, timeout, ct);
        return Check<GetEndpointsResponse>("GetEndpoints", reply).Endpoints;
    }

    private async Task EstablishAsync(bool reconnect, CancellationToken ct)
    {
        if (reconnect)
        {
            foreach (var s in Subscriptions.Where(s => s.Items.Any(i => i.Options.BackfillFromHistory)))
                s.HoldLive = true; // released by BackfillAsync once the gap is filled
        }

        var limits = _options.Limits;
        // discovery over SecurityPolicy None: the endpoint, its certificate and its user token policies
        var discovery = await SecureChannel.OpenAsync(new SecureChannelOptions
        {
            EndpointUrl = _options.EndpointUrl,
            Limits = limits,
            ConnectTimeout = _options.ConnectTimeout,
            TokenLifetime = _options.TokenLifetime,
        }, ct);
        SecureChannel? channel = discovery;
        try
        {
            var endpoints = await GetEndpointsAsync(discovery, _options.EndpointUrl, _options.RequestTimeout, ct);
            var endpoint = endpoints.FirstOrDefault(e => e.SecurityMode == _options.SecurityMode && e.SecurityPolicyUri == _options.SecurityPolicyUri
                    && (e.TransportProfileUri is null || e.TransportProfileUri.Contains("uatcp", StringComparison.Ordinal)))
                ?? throw new OpcUaSecurityException(
                    $"{_options.EndpointUrl} offers no endpoint with {_options.SecurityMode} / {_options.SecurityPolicyUri}; it offers: {string.Join("; ", endpoints.Select(e => $"{e.SecurityMode} {e.SecurityPolicyUri}"))}",
                    StatusCodes.BadSecurityPolicyRejected);
            X509Certificate2? serverCertificate = null;
            if (endpoint.ServerCertificate is { Length: > 0 })
            {
                serverCertificate = _options.SecurityMode != MessageSecurityMode.None
                    ? (_options.Certificates ?? throw new OpcUaSecurityException("a secure endpoint needs OpcUaClientOptions.Certificates", StatusCodes.BadCertificateInvalid))
                        .ValidateServerCertificate(endpoint.ServerCertificate)
                    : LoadCertificate(endpoint.ServerCertificate);
            }
            if (_options.SecurityMode != MessageSecurityMode.None)
            {
                await discovery.CloseAsync();
                await discovery.DisposeAsync();
                channel = null;
                channel = await SecureChannel.OpenAsync(new SecureChannelOptions
                {
                    EndpointUrl = _options.EndpointUrl,
                    SecurityMode = _options.SecurityMode,
                    SecurityPolicyUri = _options.SecurityPolicyUri,
                    ClientCertificate = _options.Certificates!.ApplicationCertificate,
                    ServerCertificate = serverCertificate,
                    Limits = limits,
                    ConnectTimeout = _options.ConnectTimeout,
                    TokenLifetime = _options.TokenLifetime,
                }, ct);
            }
            bool reactivated = false;
            if (reconnect && !_authenticationToken.IsNull)
            {
                try
                {
                    await ActivateAsync(channel, endpoint, serverCertificate, ct);
                    reactivated = true;
                }
                catch (OpcUaServiceException)
                {
                    // the session is gone (server restarted or it timed out): make a new one
                }
            }
            if (!reactivated)
            {
                await CreateSessionAsync(channel, endpoint, serverCertificate, ct);
                await ActivateAsync(channel, endpoint, serverCertificate, ct);
            }
            var old = _channel;
            _endpoint = endpoint;
            _serverCertificate = serverCertificate;
            channel.Faulted += OnChannelFaulted;
            _channel = channel;
            channel = null;
            _lastResponseUtc = DateTime.UtcNow;
            if (old is not null)
                _ = old.DisposeAsync().AsTask();
            if (reconnect)
            {
                if (reactivated)
                    SessionReactivatedCount++;
                await RestoreSubscriptionsAsync(reactivated, ct);
                // the gap is read from history once publishing has resumed (ReconnectLoopAsync): live values then wait
                // in Held instead of overflowing the server's item queues while HistoryRead runs, so history (up to the
                // moment of the call) and the held live values (from the moment publishing resumed) overlap
            }
        }
        finally
        {
            if (channel is not null)
                await channel.DisposeAsync();
        }
    }

    private static X509Certificate2 LoadCertificate(byte[] der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new OpcUaSecurityException($"the server certificate ({der.Length} bytes) does not parse: {e.Message}", StatusCodes.BadCertificateInvalid, e);
        }
    }

    private async Task CreateSessionAsync(SecureChannel channel, EndpointDescription endpoint, X509Certificate2? serverCertificate, CancellationToken ct)
    {
        bool secure = _options.SecurityMode != MessageSecurityMode.None;
        byte[] clientNonce = CryptoUtils.Nonce();
        X509Certificate2? own = secure ? _options.Certificates!.ApplicationCertificate : _options.Certificates?.ApplicationCertificate;
        var request = new CreateSessionRequest
        {
            ClientDescription = new ApplicationDescription
            {
                ApplicationUri = _options.Certificates?.ApplicationUri ?? _options.ApplicationUri,
                ProductUri = "urn:zhizao",
                ApplicationName = new LocalizedText(null, _options.ApplicationName),
                ApplicationType = ApplicationType.Client,
            },
            EndpointUrl = _options.EndpointUrl,
            SessionName = _options.SessionName,
            ClientNonce = clientNonce,
            ClientCertificate = own?.RawData,
            RequestedSessionTimeout = _options.SessionTimeout.TotalMilliseconds,
            MaxResponseMessageSize = (uint)_options.Limits.MaxMessageSize,
        };
        var response = Check<CreateSessionResponse>("CreateSession", await SendAsync(channel, request, NodeId.Null, _options.RequestTimeout, ct));
        if (secure)
        {
            if (response.ServerCertificate is null || !response.ServerCertificate.AsSpan().SequenceEqual(serverCertificate!.RawData))
                throw new OpcUaSecurityException("CreateSession returned a server certificate other than the endpoint's", StatusCodes.BadCertificateInvalid);
            byte[] signed = [.. own!.RawData, .. clientNonce];
            if (response.ServerSignature.Signature is null || !CryptoUtils.RsaVerify(serverCertificate, signed, response.ServerSignature.Signature))
                throw new OpcUaSecurityException("the server's CreateSession signature does not verify", StatusCodes.BadApplicationSignatureInvalid);
        }
        _sessionId = response.SessionId;
        _authenticationToken = response.AuthenticationToken;
        _serverNonce = response.ServerNonce;
    }

    private async Task ActivateAsync(SecureChannel channel, EndpointDescription endpoint, X509Certificate2? serverCertificate, CancellationToken ct)
    {
        var request = new ActivateSessionRequest
        {
            UserIdentityToken = new ExtensionObject(IdentityToken(endpoint, serverCertificate)),
            LocaleIds = ["en"],
        };
        if (_options.SecurityMode != MessageSecurityMode.None)
        {
            byte[] data = [.. serverCertificate!.RawData, .. _serverNonce ?? []];
            request.ClientSignature = new SignatureData
            {
                Algorithm = CryptoUtils.RsaSha256SignatureUri,
                Signature = CryptoUtils.RsaSign(_options.Certificates!.ApplicationCertificate, data),
            };
        }
        var response = Check<ActivateSessionResponse>("ActivateSession", await SendAsync(channel, request, _authenticationToken, _options.RequestTimeout, ct));
        _serverNonce = response.ServerNonce;
    }

    private IEncodeable IdentityToken(EndpointDescription endpoint, X509Certificate2? serverCertificate)
    {
        var wanted = _options.Identity is UserNameIdentity ? UserTokenType.UserName : UserTokenType.Anonymous;
        var policy = endpoint.UserIdentityTokens.FirstOrDefault(p => p.TokenType == wanted)
            ?? throw new OpcUaSecurityException(
                $"endpoint {endpoint} accepts no {wanted} identity (it accepts: {string.Join(", ", endpoint.UserIdentityTokens.Select(p => p.TokenType))})",
                StatusCodes.BadIdentityTokenRejected);
        if (_options.Identity is not UserNameIdentity user)
            return new AnonymousIdentityToken { PolicyId = policy.PolicyId };
        string tokenPolicy = string.IsNullOrEmpty(policy.SecurityPolicyUri) ? endpoint.SecurityPolicyUri ?? SecurityPolicies.None : policy.SecurityPolicyUri;
        byte[] password = Encoding.UTF8.GetBytes(user.Password);
        if (tokenPolicy == SecurityPolicies.None)
            return new UserNameIdentityToken { PolicyId = policy.PolicyId, UserName = user.UserName, Password = password };
        if (tokenPolicy != SecurityPolicies.Basic256Sha256)
            throw new OpcUaSecurityException($"user token policy {tokenPolicy} is not supported (None and Basic256Sha256 are)", StatusCodes.BadSecurityPolicyRejected);
        if (serverCertificate is null)
            throw new OpcUaSecurityException("the server wants an encrypted password but sent no certificate", StatusCodes.BadCertificateInvalid);
        byte[] nonce = _serverNonce ?? [];
        byte[] plain = new byte[4 + password.Length + nonce.Length];
        System.Buffers.Binary.BinaryPrimitives.WriteInt32LittleEndian(plain, password.Length + nonce.Length);
        password.CopyTo(plain, 4);
        nonce.CopyTo(plain, 4 + password.Length);
        byte[] encrypted = CryptoUtils.RsaEncrypt(serverCertificate, plain);
        Array.Clear(plain);
        Array.Clear(password);
        return new UserNameIdentityToken
        {
            PolicyId = policy.PolicyId,
            UserName = user.UserName,
            Password = encrypted,
            EncryptionAlgorithm = CryptoUtils.RsaOaepEncryptionUri,
        };
    }

    private void OnChannelFaulted(object? sender, Exception error)
    {
        if (sender != _channel)
            return;
        ConnectionLost(error);
    }

    private void ConnectionLost(Exception error)
    {
        lock (_stateLock)
        {
            if (_closed || _state != ConnectionState.Connected)
                return;
            _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            _state = ConnectionState.Reconnecting;
            _reconnect = Task.Run(() => ReconnectLoopAsync(), CancellationToken.None);
        }
        RaiseState(ConnectionState.Reconnecting, error);
    }

    /// <summary>Drops the current connection as if it were lost; the client reconnects on its own.</summary>
    public void ForceReconnect(string reason)
    {
        var channel = _channel;
        ConnectionLost(new OpcUaTransportException(reason, StatusCodes.BadConnectionClosed));
        if (channel is not null)
            _ = channel.DisposeAsync().AsTask();
    }

    private async Task ReconnectLoopAsync()
    {
        var delay = _options.ReconnectDelay;
        while (!_life.IsCancellationRequested)
        {
            try
            {
                await EstablishAsync(reconnect: true, _life.Token);
                ReconnectCount++;
                SetConnected();
                _ = BackfillAfterReconnectAsync();
                return;
            }
            catch (OperationCanceledException) when (_life.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                RaiseState(ConnectionState.Reconnecting, e);
            }
            try
            {
                await Task.Delay(delay, _life.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.MaxReconnectDelay.Ticks));
        }
    }

    private void SetConnected()
    {
        TaskCompletionSource signal;
        lock (_stateLock)
        {
            if (_closed)
                return;
            _state = ConnectionState.Connected;
            signal = _connected;
        }
        // the keep-alive watchdog counts from now, not from before the outage
        foreach (var subscription in Subscriptions)
            subscription.LastMessageUtc = DateTime.UtcNow;
        signal.TrySetResult();
        RaiseState(ConnectionState.Connected, null);
        EnsurePublishers();
    }

    private void SetState(ConnectionState state, Exception? error)
    {
        lock (_stateLock)
            _state = state;
        RaiseState(state, error);
    }

    private void RaiseState(ConnectionState state, Exception? error)
    {
        try
        {
            StateChanged?.Invoke(this, new ConnectionStateChangedEventArgs(state, error));
        }
        catch (Exception)
        {
            // a failing handler must not break reconnects
        }
    }

    /// <summary>Waits until the client is connected (for example after a reconnect).</summary>
    public async Task WaitConnectedAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        Task signal;
        lock (_stateLock)
        {
            ObjectDisposedException.ThrowIf(_closed, this);
            if (_state == ConnectionState.Disconnected)
                throw new InvalidOperationException("call ConnectAsync first");
            signal = _connected.Task;
        }
        try
        {
            await signal.WaitAsync(timeout, ct);
        }
        catch (TimeoutException)
        {
            throw new OpcUaTransportException($"not connected to {_options.EndpointUrl} within {timeout.TotalSeconds:0.#} s", StatusCodes.BadServerNotConnected);
        }
    }

    private async Task KeepAliveLoopAsync()
    {
        while (!_life.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.KeepAliveInterval / 2, _life.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            if (_state != ConnectionState.Connected)
                continue;
            CheckSubscriptionKeepAlive();
            if (DateTime.UtcNow - _lastResponseUtc < _options.KeepAliveInterval)
                continue;
            try
            {
                await ReadAsync([new ReadValueId(ObjectIds.ServerStatusState)], _life.Token);
            }
            catch (OperationCanceledException) when (_life.IsCancellationRequested)
            {
                return;
            }
            catch (OpcUaException e) when (e.IsTransient)
            {
                if (_state == ConnectionState.Connected)
                    ForceReconnect($"keep-alive Read failed: {e.Message}");
            }
            catch (OpcUaException)
            {
                // a non-transient answer still proves the connection alive
            }
        }
    }

    private void CheckSubscriptionKeepAlive()
    {
        foreach (var s in Subscriptions)
        {
            if (s.ServerId == 0 || s.Deleted)
                continue;
            var limit = s.RevisedPublishingInterval * Math.Max(1, s.RevisedKeepAliveCount) * 2 + _options.KeepAliveInterval;
            if (DateTime.UtcNow - s.LastMessageUtc > limit)
            {
                ForceReconnect($"subscription {s.ServerId} sent nothing for {limit.TotalSeconds:0.#} s (keep-alive missed)");
                return;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_closed)
            return;
        var channel = _channel;
        if (channel is not null && _state == ConnectionState.Connected)
        {
            try
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                await SendAsync(channel, new CloseSessionRequest { DeleteSubscriptions = true }, _authenticationToken, TimeSpan.FromSeconds(3), cts.Token);
            }
            catch (Exception e) when (e is OpcUaException or OperationCanceledException)
            {
                // closing anyway
            }
        }
        lock (_stateLock)
        {
            _closed = true;
            _state = ConnectionState.Closed;
            _connected.TrySetException(new ObjectDisposedException(nameof(OpcUaClient)));
        }
        _life.Cancel();
        if (channel is not null)
            await channel.DisposeAsync();
        Task[] tasks;
        lock (_stateLock)
            tasks = [.. _publishers, _reconnect ?? Task.CompletedTask, _keepAlive ?? Task.CompletedTask];
        await Task.WhenAll(tasks).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        if (_channel is { } late && late != channel)
            await late.DisposeAsync(); // a reconnect that finished while we were closing
        _life.Dispose();
        RaiseState(ConnectionState.Closed, null);
    }

    // ---------------------------------------------------------------- calls

    private static T Check<T>(string service, IEncodeable reply) where T : ServiceResponse
    {
        if (reply is ServiceFault fault)
            throw new OpcUaServiceException(service, fault.ResponseHeader.ServiceResult, fault.ResponseHeader.StringTable.FirstOrDefault(s => !string.IsNullOrEmpty(s)));
        if (reply is not T response)
            throw new OpcUaProtocolException($"{service} answered with {reply.GetType().Name}", StatusCodes.BadUnknownResponse);
        if (response.ResponseHeader.ServiceResult.IsBad)
            throw new OpcUaServiceException(service, response.ResponseHeader.ServiceResult);
        return response;
    }

    private Task<IEncodeable> SendAsync(SecureChannel channel, ServiceRequest request, NodeId authenticationToken, TimeSpan timeout, CancellationToken ct)
    {
        request.RequestHeader = new RequestHeader
        {
            AuthenticationToken = authenticationToken,
            Timestamp = DateTime.UtcNow,
            RequestHandle = (uint)Interlocked.Increment(ref _requestHandle),
            TimeoutHint = (uint)Math.Min(timeout.TotalMilliseconds, uint.MaxValue),
        };
        return channel.SendRequestAsync(request, timeout, ct);
    }

    /// <summary>Sends a request on the session, waiting for the connection first when reconnecting.</summary>
    internal async Task<T> CallAsync<T>(string service, ServiceRequest request, CancellationToken ct, TimeSpan? timeout = null, bool waitForConnection = true)
        where T : ServiceResponse
    {
        var limit = timeout ?? _options.RequestTimeout;
        if (waitForConnection && _state != ConnectionState.Connected)
            await WaitConnectedAsync(limit, ct);
        var channel = _channel ?? throw new InvalidOperationException("call ConnectAsync first");
        var reply = await SendAsync(channel, request, _authenticationToken, limit, ct);
        _lastResponseUtc = DateTime.UtcNow;
        return Check<T>(service, reply);
    }

    public async Task<DataValue[]> ReadAsync(IReadOnlyList<ReadValueId> nodes, CancellationToken ct = default)
    {
        var response = await CallAsync<ReadResponse>("Read", new ReadRequest { NodesToRead = [.. nodes], TimestampsToReturn = TimestampsToReturn.Both }, ct);
        if (response.Results.Length != nodes.Count)
            throw new OpcUaProtocolException($"Read returned {response.Results.Length} results for {nodes.Count} nodes", StatusCodes.BadUnknownResponse);
        return response.Results;
    }

    public async Task<DataValue> ReadValueAsync(NodeId node, CancellationToken ct = default) =>
        (await ReadAsync([new ReadValueId(node)], ct))[0];

    public async Task<StatusCode[]> WriteAsync(IReadOnlyList<WriteValue> values, CancellationToken ct = default)
    {
        var response = await CallAsync<WriteResponse>("Write", new WriteRequest { NodesToWrite = [.. values] }, ct);
        if (response.Results.Length != values.Count)
            throw new OpcUaProtocolException($"Write returned {response.Results.Length} results for {values.Count} values", StatusCodes.BadUnknownResponse);
        return response.Results;
    }

    public async Task<StatusCode> WriteValueAsync(NodeId node, Variant value, CancellationToken ct = default) =>
        (await WriteAsync([new WriteValue { NodeId = node, Value = new DataValue(value) }], ct))[0];

    public async Task<BrowseResult[]> BrowseAsync(IReadOnlyList<BrowseDescription> nodes, uint maxReferencesPerNode = 0, CancellationToken ct = default) =>
        (await CallAsync<BrowseResponse>("Browse", new BrowseRequest { NodesToBrowse = [.. nodes], RequestedMaxReferencesPerNode = maxReferencesPerNode }, ct)).Results;

    public async Task<BrowseResult[]> BrowseNextAsync(IReadOnlyList<byte[]?> continuationPoints, bool release = false, CancellationToken ct = default) =>
        (await CallAsync<BrowseNextResponse>("BrowseNext", new BrowseNextRequest { ContinuationPoints = [.. continuationPoints], ReleaseContinuationPoints = release }, ct)).Results;

    /// <summary>All references of one node, following continuation points with BrowseNext.</summary>
    public async Task<IReadOnlyList<ReferenceDescription>> BrowseAllAsync(NodeId node, BrowseDirection direction = BrowseDirection.Forward,
        NodeId? referenceType = null, uint maxReferencesPerCall = 0, CancellationToken ct = default)
    {
        var all = new List<ReferenceDescription>();
        var result = (await BrowseAsync([new BrowseDescription
        {
            NodeId = node,
            BrowseDirection = direction,
            ReferenceTypeId = referenceType ?? ObjectIds.HierarchicalReferences,
        }], maxReferencesPerCall, ct))[0];
        for (int round = 0; ; round++)
        {
            if (result.StatusCode.IsBad)
                throw new OpcUaServiceException("Browse", result.StatusCode, $"node {node}");
            all.AddRange(result.References);
            if (result.ContinuationPoint is not { Length: > 0 } cp)
                return all;
            if (round > 100_000)
                throw new OpcUaProtocolException($"Browse of {node} did not end after {round} continuation points", StatusCodes.BadUnexpectedError);
            result = (await BrowseNextAsync([cp], false, ct))[0];
        }
    }

    public async Task<BrowsePathResult[]> TranslateBrowsePathsAsync(IReadOnlyList<BrowsePath> paths, CancellationToken ct = default) =>
        (await CallAsync<TranslateBrowsePathsToNodeIdsResponse>("TranslateBrowsePathsToNodeIds",
            new TranslateBrowsePathsToNodeIdsRequest { BrowsePaths = [.. paths] }, ct)).Results;

    /// <summary>The node at a path of browse names below <paramref name="start"/> (hierarchical references).</summary>
    public async Task<NodeId> TranslateAsync(NodeId start, IReadOnlyList<QualifiedName> path, CancellationToken ct = default)
    {
        var result = (await TranslateBrowsePathsAsync([new BrowsePath
        {
            StartingNode = start,
            Elements = [.. path.Select(p => new RelativePathElement { TargetName = p })],
        }], ct))[0];
        if (result.StatusCode.IsBad || result.Targets.Length == 0)
            throw new OpcUaServiceException("TranslateBrowsePathsToNodeIds", result.StatusCode.IsBad ? result.StatusCode : StatusCodes.BadNodeIdUnknown,
                $"{start}/{string.Join("/", path)}");
        return result.Targets[0].TargetId.NodeId;
    }

    /// <summary>Raw history of one node between two times, following continuation points.</summary>
    public async Task<IReadOnlyList<DataValue>> HistoryReadRawAsync(NodeId node, DateTime start, DateTime end, uint maxValues = 0, CancellationToken ct = default)
    {
        var results = await HistoryReadRawAsync([node], start, end, maxValues, ct);
        if (results[0].Status.IsBad)
            throw new OpcUaServiceException("HistoryRead", results[0].Status, $"node {node}");
        return results[0].Values;
    }

    internal Task<(StatusCode Status, List<DataValue> Values)[]> HistoryReadRawAsync(IReadOnlyList<NodeId> nodes, DateTime start, DateTime end, uint maxValues, CancellationToken ct) =>
        HistoryReadRawAsync(nodes, start, end, maxValues, waitForConnection: true, ct);

    /// <summary>HistoryRead (raw) of several nodes, following each node's continuation points.</summary>
    private async Task<(StatusCode Status, List<DataValue> Values)[]> HistoryReadRawAsync(IReadOnlyList<NodeId> nodes, DateTime start, DateTime end,
        uint maxValues, bool waitForConnection, CancellationToken ct)
    {
        var details = new ExtensionObject(new ReadRawModifiedDetails { StartTime = start, EndTime = end, NumValuesPerNode = maxValues });
        var output = nodes.Select(_ => (Status: (StatusCode)StatusCodes.Good.Code, Values: new List<DataValue>())).ToArray();
        var todo = nodes.Select((n, i) => (Node: n, Index: i, Cp: (byte[]?)null)).ToList();
        for (int round = 0; todo.Count > 0; round++)
        {
            if (round > 10_000)
                throw new OpcUaProtocolException("HistoryRead did not end after 10000 continuation points", StatusCodes.BadUnexpectedError);
            var response = await CallAsync<HistoryReadResponse>("HistoryRead", new HistoryReadRequest
            {
                HistoryReadDetails = details,
                TimestampsToReturn = TimestampsToReturn.Both,
                NodesToRead = [.. todo.Select(t => new HistoryReadValueId { NodeId = t.Node, ContinuationPoint = t.Cp })],
            }, ct, waitForConnection: waitForConnection);
            var next = new List<(NodeId, int, byte[]?)>();
            for (int i = 0; i < todo.Count && i < response.Results.Length; i++)
            {
                var r = response.Results[i];
                int index = todo[i].Index;
                if (r.StatusCode.IsBad)
                {
                    output[index].Status = r.StatusCode;
                    continue;
                }
                if (r.HistoryData.Body is HistoryData data)
                    output[index].Values.AddRange(data.DataValues);
                if (r.ContinuationPoint is { Length: > 0 } cp)
                    next.Add((todo[i].Node, index, cp));
            }
            todo = next;
        }
        return output;
    }
}
