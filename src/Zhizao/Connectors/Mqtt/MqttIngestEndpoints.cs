using Microsoft.AspNetCore.Http.HttpResults;

namespace Zhizao.Connectors.Mqtt;

/// <summary>MQTT ingest configuration and state: JSON mappings and the Sparkplug B host application.</summary>
public static class MqttIngestEndpoints
{
    public static void MapMqttIngestEndpoints(this IEndpointRouteBuilder app)
    {
        var g = app.MapGroup("/api/mqtt").WithTags("MQTT ingest");
        g.MapGet("/mappings", (MqttMappingStore store) => TypedResults.Ok(store.Mappings.Select(m => m.Source).ToList()))
            .WithSummary("The configured JSON ingestion mappings");
        g.MapGet("/mappings/{id}", Results<Ok<MqttJsonMapping>, NotFound> (MqttMappingStore store, string id) =>
            store.Mappings.FirstOrDefault(m => m.Source.Id == id) is { } m ? TypedResults.Ok(m.Source) : TypedResults.NotFound());
        g.MapPut("/mappings/{id}", Ok<MqttJsonMapping> (MqttMappingStore store, string id, MqttJsonMapping mapping) =>
            TypedResults.Ok(store.Save(id, mapping)))
            .WithSummary("Creates or replaces a JSON ingestion mapping (checked: 400 names the field)");
        g.MapDelete("/mappings/{id}", Results<NoContent, NotFound> (MqttMappingStore store, string id) =>
            store.Delete(id) ? TypedResults.NoContent() : TypedResults.NotFound());
        g.MapGet("/stats", (IServiceProvider sp) =>
        {
            var bridge = sp.GetService<MqttIngestBridge>();
            var (messages, errors) = bridge?.MappingStats ?? (0, 0);
            return TypedResults.Ok(new MqttIngestStats(bridge is not null, messages, errors));
        }).WithSummary("Counters of JSON mappings: messages decoded, problems found (invalid JSON, selector misses, wrong types)");
        g.MapGet("/sparkplug", (IServiceProvider sp) =>
        {
            var spb = sp.GetService<SparkplugIngest>();
            return TypedResults.Ok(new SparkplugState(spb is not null, spb?.Stats, spb?.Endpoints() ?? []));
        }).WithSummary("Sparkplug B edge nodes and devices seen (online or not) and the host application's counters");
    }
}

public sealed record SparkplugState(bool Enabled, SparkplugStats? Stats, IReadOnlyList<SparkplugEndpointInfo> Endpoints);

public sealed record MqttIngestStats(bool Enabled, long MappedMessages, long MappingErrors);
