using Zhizao.Core;
using Zhizao.Storage;

namespace Zhizao.Server.Tests;

/// <summary>Writes simulator samples straight into a node's store (history for model tests; no ingest, no alarms).</summary>
internal static class StoreSamples
{
    public static async Task WriteAsync(ITimeSeriesStore store, IReadOnlyList<Sample> samples)
    {
        var batch = new PointBatch(samples.Count);
        foreach (var s in samples)
        {
            batch.Add(store.GetOrCreateSeries(s.SeriesKey, s.Value.Kind).Id, s.TimestampNs, s.Value);
        }

        await store.WriteAsync(batch);
    }

    public static async Task WriteAsync(ITimeSeriesStore store, IEnumerable<IReadOnlyList<Sample>> batches)
    {
        foreach (var samples in batches)
        {
            await WriteAsync(store, samples);
        }
    }
}
