using System.Collections.Concurrent;
using Zhizao.Alarms;
using Zhizao.Core;
using Zhizao.Hosting;
using Zhizao.Storage;
using Zhizao.Storage.Metadata;

using Zhizao.Ingest;

namespace Zhizao.Pipeline;

/// <summary>
/// The one write path every protocol uses: resolve series (checking the asset model), fill a batch, store it,
/// acknowledge only after the store says it is durable.
/// </summary>
/// <remarks>
/// A point for registered equipment must name a tag of its equipment type, and its value must fit the tag's data
/// type (an integer into a Float64 tag is widened; other mismatches are rejected). Measurements that are not
/// registered equipment are stored as free series when <see cref="PlatformOptions.AcceptUnregisteredSeries"/> is on.
/// </remarks>
public sealed partial class IngestService
{
    private readonly ITimeSeriesStore _store;
    private readonly MetadataStore _meta;
    private readonly PlatformOptions _options;
    private readonly ConcurrentBag<Worker> _workers = [];
    private SeriesKeyCache _cache;

    private readonly AlarmService? _alarms;

    public IngestService(ITimeSeriesStore store, MetadataStore meta, PlatformOptions options, AlarmService? alarms = null)
    {
        _alarms = alarms;
        _store = store;
        _meta = meta;
        _options = options;
        _cache = NewCache();
        // a changed asset model may turn accepted keys into unknown tags: start a fresh cache
        meta.Changed += _ => Volatile.Write(ref _cache, NewCache());
    }

    /// <summary>Parses and stores a line-protocol body. Valid lines are stored even when others are rejected.</summary>
    public async Task<IngestOutcome> WriteLineProtocolAsync(ReadOnlyMemory<byte> body, TimestampPrecision precision, CancellationToken ct)
    {
        var w = Rent();
        try
        {
            var writer = new BatchWriter(w.Batch);
            var result = w.Parser.Ingest(body.Span, precision, Time.NowNs(), Volatile.Read(ref _cache), ref writer, new IngestResult());
            return await StoreAsync(w.Batch, result, ct);
        }
        finally
        {
            Return(w);
        }
    }

    /// <summary>Parses and stores a JSON batch (see docs/INGEST.md). Valid items are stored even when others are rejected.</summary>
    public async Task<IngestOutcome> WriteJsonAsync(ReadOnlyMemory<byte> body, CancellationToken ct)
    {
        var w = Rent();
        try
        {
            var writer = new BatchWriter(w.Batch);
            var result = w.Json.Ingest(body.Span, Time.NowNs(), Volatile.Read(ref _cache), ref writer, new IngestResult());
            return await StoreAsync(w.Batch, result, ct);
        }
        finally
        {
            Return(w);
        }
    }

    /// <summary>
    /// Stores points a connector already decoded (MQTT mappings, Sparkplug B), keys <c>equipment/tag</c>, with the same
    /// asset-model and type checks as line protocol. Valid points are stored even when others are rejected.
    /// </summary>
    public async Task<SampleWriteOutcome> WriteSamplesAsync(IReadOnlyList<Sample> samples, CancellationToken ct)
    {
        var w = Rent();
        try
        {
            var (rejected, firstError) = FillBatch(w.Batch, samples, Volatile.Read(ref _cache));
            int accepted = w.Batch.Count;
            var stored = accepted == 0 ? default : await StoreAsync(w.Batch, new IngestResult(), ct);
            return new SampleWriteOutcome(accepted, rejected, firstError, stored?.Stored ?? default);
        }
        finally
        {
            Return(w);
        }
    }

    private static (int Rejected, string? FirstError) FillBatch(PointBatch batch, IReadOnlyList<Sample> samples, SeriesKeyCache cache)
    {
        int rejected = 0;
        string? first = null;
        Span<byte> key = stackalloc byte[SeriesKey.MaxLength * 3];
        for (int i = 0; i < samples.Count; i++)
        {
            var s = samples[i];
            string? error;
            if (s.SeriesKey.Length > SeriesKey.MaxLength)
            {
                error = $"series key '{s.SeriesKey[..40]}…' is longer than {SeriesKey.MaxLength} characters";
            }
            else if (s.TimestampNs < IngestLimits.MinTimestampNs)
            {
                error = $"'{s.SeriesKey}': timestamp before 1970-01-01T00:00:00Z";
            }
            else
            {
                int n = System.Text.Encoding.UTF8.GetBytes(s.SeriesKey, key);
                ValueKind kind = s.Value.Kind;
                long bits = s.Value.Bits;
                if (cache.TryResolve(key[..n], ref kind, ref bits, out int id, out error, allowFloatToInt: true))
                {
                    batch.Add(id, s.TimestampNs, kind == ValueKind.String ? s.Value : kind switch
                    {
                        ValueKind.Float64 => TagValue.FromDouble(BitConverter.Int64BitsToDouble(bits)),
                        ValueKind.Int64 => TagValue.FromInt64(bits),
                        _ => TagValue.FromBool(bits != 0),
                    });
                    continue;
                }

                error = $"'{s.SeriesKey}': {error}";
            }

            rejected++;
            first ??= error;
        }

        return (rejected, first);
    }

    private async Task<IngestOutcome> StoreAsync(PointBatch batch, IngestResult result, CancellationToken ct)
    {
        if (batch.Count == 0)
        {
            return new IngestOutcome(result, default);
        }

        var stored = await _store.WriteAsync(batch, ct);
        if (_alarms is not null)
        {
            await _alarms.ObserveAsync(batch, ct);
        }

        return new IngestOutcome(result, stored);
    }

    private (int Id, ValueKind Kind) Resolve(string key, ValueKind kind)
    {
        if (key.Length > SeriesKey.MaxLength)
        {
            throw new InvalidInputException($"series key is {key.Length} characters, longer than the limit of {SeriesKey.MaxLength}");
        }

        if (!SeriesKey.TrySplit(key, out string measurement, out string field))
        {
            throw new InvalidInputException($"series key '{key}' must look like 'equipment/tag'");
        }

        var snapshot = _meta.Snapshot;
        if (snapshot.TryGetEquipmentTags(measurement, out var tags))
        {
            if (!tags.TryGetValue(field, out var def))
            {
                string typeId = snapshot.AssetsById[measurement].TypeId!;
                throw new InvalidInputException($"unknown tag '{field}' for equipment '{measurement}' (type '{typeId}' defines {tags.Count} tags, e.g. {string.Join(", ", tags.Keys.Take(5))})");
            }

            var s = _store.GetOrCreateSeries(key, def.DataType);
            return (s.Id, s.Kind);
        }

        if (!_options.AcceptUnregisteredSeries)
        {
            throw new InvalidInputException($"'{measurement}' is not registered equipment and this node only accepts registered equipment");
        }

        if (_store.TryGetSeries(key, out var existing))
        {
            return (existing.Id, existing.Kind);
        }

        var created = _store.GetOrCreateSeries(key, kind);
        return (created.Id, created.Kind);
    }

    private SeriesKeyCache NewCache() => new(Resolve);

    private Worker Rent()
    {
        if (_workers.TryTake(out var w))
        {
            return w;
        }

        return new Worker();
    }

    private void Return(Worker w)
    {
        w.Batch.Clear();
        if (_workers.Count < Environment.ProcessorCount * 4)
        {
            _workers.Add(w);
        }
    }

    private sealed class Worker
    {
        public readonly LineProtocolParser Parser = new();
        public readonly JsonBatchParser Json = new();
        public readonly PointBatch Batch = new(16 * 1024);
    }

    private readonly struct BatchWriter(PointBatch batch) : IPointWriter
    {
        public void Add(int seriesId, long timestampNs, TagValue value) => batch.Add(seriesId, timestampNs, value);
    }
}

/// <summary>Outcome of <see cref="IngestService.WriteSamplesAsync"/>: points accepted and rejected by the checks, then by storage.</summary>
public sealed record SampleWriteOutcome(int Accepted, int Rejected, string? FirstError, WriteResult Stored)
{
    public int RejectedTotal => Rejected + Stored.Rejected;
}

/// <summary>What the parser accepted and rejected, and what the store then accepted (it may refuse points outside its window).</summary>
public sealed record IngestOutcome(IngestResult Parse, WriteResult Stored)
{
    public int RejectedTotal => Parse.Rejected + Stored.Rejected;
}
