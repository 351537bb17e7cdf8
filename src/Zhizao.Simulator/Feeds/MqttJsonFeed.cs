using System.Buffers;
using System.Text.Json;
using Zhizao.Core;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Client;

namespace Zhizao.Simulator.Feeds;

/// <summary>
/// Publishes the assigned machines in the platform's JSON convention: one message per step on <c>zhizao/json</c>
/// (QoS 1), the body a JSON batch as for <c>POST /api/ingest/json</c>:
/// <c>{"points":[{"equipment":"l1-cnc-01","t":1767225600000000000,"values":{"spindle_speed":1200.5,"state":2}}]}</c>.
/// </summary>
public sealed class MqttJsonFeed(MqttFeedOptions options, Action<string>? log = null, string topic = "zhizao/json") : MqttFeedBase(options, log)
{
    private readonly ArrayBufferWriter<byte> _buffer = new(64 * 1024);

    public override string Name => "mqtt-json";

    public string Topic => topic;

    /// <summary>The JSON batch of one step.</summary>
    public static void Render(long timestampNs, IReadOnlyList<Sample> samples, IBufferWriter<byte> output)
    {
        using var w = new Utf8JsonWriter(output);
        w.WriteStartObject();
        w.WriteStartArray("points");
        string? machine = null;
        foreach (var s in samples)
        {
            int slash = s.SeriesKey.LastIndexOf('/');
            if (slash <= 0)
            {
                continue;
            }

            var eq = s.SeriesKey.AsSpan(0, slash);
            if (machine is null || !eq.SequenceEqual(machine))
            {
                if (machine is not null)
                {
                    w.WriteEndObject();
                    w.WriteEndObject();
                }

                machine = eq.ToString();
                w.WriteStartObject();
                w.WriteString("equipment", machine);
                w.WriteNumber("t", s.TimestampNs == 0 ? timestampNs : s.TimestampNs);
                w.WriteStartObject("values");
            }

            var name = s.SeriesKey.AsSpan(slash + 1);
            switch (s.Value.Kind)
            {
                case ValueKind.Float64: w.WriteNumber(name, s.Value.AsDouble); break;
                case ValueKind.Int64: w.WriteNumber(name, s.Value.AsInt64); break;
                case ValueKind.Bool: w.WriteBoolean(name, s.Value.AsBool); break;
                default: w.WriteString(name, s.Value.AsString); break;
            }
        }

        if (machine is not null)
        {
            w.WriteEndObject();
            w.WriteEndObject();
        }

        w.WriteEndArray();
        w.WriteEndObject();
    }

    protected override void PublishStep(MqttClient client, long timestampNs, Sample[] samples, List<Task<MqttReasonCode>> acks)
    {
        _buffer.ResetWrittenCount();
        Render(timestampNs, samples, _buffer);
        acks.Add(client.PublishAsync(topic, _buffer.WrittenMemory.ToArray(), MqttQoS.AtLeastOnce));
    }
}
