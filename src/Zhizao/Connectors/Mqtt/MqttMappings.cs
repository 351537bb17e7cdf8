using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Zhizao.Core;
using Zhizao.Mqtt;
using Zhizao.Mqtt.Broker;
using Zhizao.Storage.Metadata;

namespace Zhizao.Connectors.Mqtt;

/// <summary>One configurable JSON ingestion mapping (see docs/INGEST.md, "MQTT JSON mappings").</summary>
public sealed record MqttJsonMapping
{
    /// <summary>Set from the URL; letters, digits, '-', '_', '.'.</summary>
    public string? Id { get; init; }

    /// <summary>A topic filter whose <c>+name</c> levels capture that level as variable <c>{name}</c>; <c>#</c> at the end matches the rest.</summary>
    public required string Topic { get; init; }

    /// <summary>Selector of the timestamp; absent = the broker's receive time.</summary>
    public string? Timestamp { get; init; }

    /// <summary><c>auto</c> (text = ISO 8601, number = epoch with the unit from its magnitude), <c>iso8601</c>, <c>s</c>, <c>ms</c>, <c>us</c>, <c>ns</c>.</summary>
    public string? TimestampFormat { get; init; }

    public required IReadOnlyList<MqttJsonTagMapping> Tags { get; init; }
}

/// <summary>One value of a mapped payload: where it is, and which equipment/tag it goes to.</summary>
public sealed record MqttJsonTagMapping
{
    /// <summary><c>$.a.b</c>, <c>$.arr[0]</c>, <c>$['a b']</c>, <c>$.items[*].value</c> (one value per element).</summary>
    public required string Selector { get; init; }

    /// <summary>Equipment id; may use topic variables, e.g. <c>{eq}</c>.</summary>
    public required string Equipment { get; init; }

    /// <summary>Tag name; may use topic variables and <c>{i}</c>, the index matched by the selector's <c>[*]</c>.</summary>
    public required string Tag { get; init; }

    /// <summary>Optional expected JSON type: <c>number</c>, <c>bool</c> or <c>string</c>; anything else is a wrong type.</summary>
    public string? Type { get; init; }
}

/// <summary>A mapping checked and compiled: the topic levels and the parsed selectors.</summary>
public sealed class CompiledMqttMapping
{
    private readonly string[] _levels;
    private readonly JsonSelector? _timestamp;
    private readonly (JsonSelector Selector, MqttJsonTagMapping Map)[] _tags;

    private CompiledMqttMapping(MqttJsonMapping source, string[] levels, JsonSelector? ts, (JsonSelector, MqttJsonTagMapping)[] tags)
    {
        Source = source;
        _levels = levels;
        _timestamp = ts;
        _tags = tags;
    }

    public MqttJsonMapping Source { get; }

    /// <summary>Checks a mapping; throws <see cref="InvalidInputException"/> naming the field.</summary>
    public static CompiledMqttMapping Compile(MqttJsonMapping m)
    {
        if (m.Id is null || !SeriesKey.IsValidId(m.Id))
        {
            throw new InvalidInputException($"mapping id '{m.Id}' is invalid: use 1-128 letters, digits, '-', '_' or '.'", "id");
        }

        if (string.IsNullOrEmpty(m.Topic))
        {
            throw new InvalidInputException("topic is required", "topic");
        }

        string[] levels = m.Topic.Split('/');
        string plain = string.Join('/', levels.Select(l => l.StartsWith('+') ? "+" : l));
        if (!TopicFilter.IsValidFilter(plain) || levels.Any(l => l.StartsWith('+') && l.Length > 1 && !SeriesKey.IsValidId(l.AsSpan(1))))
        {
            throw new InvalidInputException($"topic '{m.Topic}' is not a valid filter (levels: text, '+' or '+name', '#' last)", "topic");
        }

        if (m.Topic.StartsWith("zhizao/", StringComparison.Ordinal) || m.Topic.StartsWith("spBv1.0/", StringComparison.Ordinal))
        {
            throw new InvalidInputException($"topic '{m.Topic}' is reserved for the built-in convention or Sparkplug B", "topic");
        }

        var ts = m.Timestamp is null ? null : JsonSelector.Parse(m.Timestamp, "timestamp");
        if (ts is { HasWildcard: true })
        {
            throw new InvalidInputException("timestamp selector cannot use [*]", "timestamp");
        }

        if (m.TimestampFormat is not (null or "auto" or "iso8601" or "s" or "ms" or "us" or "ns"))
        {
            throw new InvalidInputException($"timestampFormat '{m.TimestampFormat}' is not auto, iso8601, s, ms, us or ns", "timestampFormat");
        }

        if (m.Tags is null || m.Tags.Count == 0)
        {
            throw new InvalidInputException("at least one tag mapping is needed", "tags");
        }

        var tags = new (JsonSelector, MqttJsonTagMapping)[m.Tags.Count];
        for (int i = 0; i < m.Tags.Count; i++)
        {
            var t = m.Tags[i] ?? throw new InvalidInputException("null entry", $"tags[{i}]");
            if (string.IsNullOrEmpty(t.Equipment) || string.IsNullOrEmpty(t.Tag))
            {
                throw new InvalidInputException("equipment and tag are required", $"tags[{i}]");
            }

            if (t.Type is not (null or "number" or "bool" or "string"))
            {
                throw new InvalidInputException($"type '{t.Type}' is not number, bool or string", $"tags[{i}].type");
            }

            tags[i] = (JsonSelector.Parse(t.Selector, $"tags[{i}].selector"), t);
        }

        return new CompiledMqttMapping(m, levels, ts, tags);
    }

    /// <summary>Matches the topic and captures its named levels.</summary>
    public bool TryMatch(string topic, out Dictionary<string, string> vars)
    {
        vars = [];
        int at = 0;
        for (int i = 0; i < _levels.Length; i++)
        {
            string level = _levels[i];
            if (level == "#")
            {
                return true;
            }

            if (at > topic.Length)
            {
                return false;
            }

            int end = topic.IndexOf('/', at);
            if (end < 0)
            {
                end = topic.Length;
            }

            var part = topic.AsSpan(at, end - at);
            if (level.StartsWith('+'))
            {
                if (level.Length > 1)
                {
                    vars[level[1..]] = part.ToString();
                }
            }
            else if (!part.SequenceEqual(level))
            {
                return false;
            }

            at = end + 1;
        }

        return at > topic.Length;
    }

    /// <summary>Extracts the samples of one payload; problems go to <paramref name="errors"/> (selector, reason), the rest is kept.</summary>
    public void Extract(JsonElement root, Dictionary<string, string> vars, long receivedNs, List<Sample> samples, List<(string Selector, string Reason)> errors)
    {
        long ns = receivedNs;
        if (_timestamp is not null)
        {
            var found = new List<(JsonElement, int)>(1);
            _timestamp.Select(root, found);
            if (found.Count == 0)
            {
                errors.Add((_timestamp.Text, "timestamp not found; the message is skipped"));
                return;
            }

            if (!TryTimestamp(found[0].Item1, Source.TimestampFormat ?? "auto", out ns, out string? why))
            {
                errors.Add((_timestamp.Text, why + "; the message is skipped"));
                return;
            }
        }

        var values = new List<(JsonElement, int)>();
        foreach (var (selector, map) in _tags)
        {
            values.Clear();
            selector.Select(root, values);
            if (values.Count == 0)
            {
                errors.Add((selector.Text, "selector matched nothing"));
                continue;
            }

            foreach (var (element, index) in values)
            {
                if (!TryValue(element, map.Type, out TagValue v, out string? why))
                {
                    errors.Add((selector.Text, why!));
                    continue;
                }

                string eq = Substitute(map.Equipment, vars, index), tag = Substitute(map.Tag, vars, index);
                samples.Add(new Sample(SeriesKey.ForTag(eq, tag), ns, v));
            }
        }
    }

    private static string Substitute(string template, Dictionary<string, string> vars, int index)
    {
        if (!template.Contains('{'))
        {
            return template;
        }

        string s = template.Replace("{i}", index.ToString(CultureInfo.InvariantCulture), StringComparison.Ordinal);
        foreach (var (k, v) in vars)
        {
            s = s.Replace("{" + k + "}", v, StringComparison.Ordinal);
        }

        return s;
    }

    private static bool TryValue(JsonElement e, string? expected, out TagValue v, out string? error)
    {
        v = default;
        error = null;
        string actual = e.ValueKind switch
        {
            JsonValueKind.Number => "number",
            JsonValueKind.True or JsonValueKind.False => "bool",
            JsonValueKind.String => "string",
            _ => e.ValueKind.ToString().ToLowerInvariant(),
        };
        if ((expected is not null && expected != actual) || actual is not ("number" or "bool" or "string"))
        {
            error = $"wrong type: {actual}{(expected is null ? "" : $" where {expected} was expected")}";
            return false;
        }

        switch (actual)
        {
            case "number":
                double d = e.GetDouble();
                if (!double.IsFinite(d))
                {
                    error = "number out of range";
                    return false;
                }

                v = TagValue.FromDouble(d);
                return true;
            case "bool":
                v = TagValue.FromBool(e.GetBoolean());
                return true;
            default:
                v = TagValue.FromString(e.GetString()!);
                return true;
        }
    }

    /// <summary>ISO 8601 text, or epoch seconds/milliseconds/microseconds/nanoseconds.</summary>
    public static bool TryTimestamp(JsonElement e, string format, out long ns, out string? error)
    {
        ns = 0;
        error = null;
        if (e.ValueKind == JsonValueKind.String && format is "auto" or "iso8601")
        {
            if (DateTimeOffset.TryParse(e.GetString(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var t)
                && t.UtcDateTime >= DateTime.UnixEpoch)
            {
                ns = Time.FromDateTime(t);
                return true;
            }

            error = $"timestamp '{e.GetString()}' is not an ISO 8601 date-time after 1970";
            return false;
        }

        if (e.ValueKind == JsonValueKind.Number && format != "iso8601")
        {
            // exact arithmetic: a double loses nanoseconds (and milliseconds' last digits) at today's epoch values
            if (!e.TryGetDecimal(out decimal raw))
            {
                error = $"timestamp {e.GetRawText()} is out of range";
                return false;
            }

            long unit = format switch
            {
                "s" => 1_000_000_000,
                "ms" => 1_000_000,
                "us" => 1_000,
                "ns" => 1,
                _ => Math.Abs(raw) switch { < 1e11m => 1_000_000_000, < 1e14m => 1_000_000, < 1e17m => 1_000, _ => 1 },
            };
            if (raw < 0 || raw >= long.MaxValue / (decimal)unit)
            {
                error = $"timestamp {e.GetRawText()} is out of range (before 1970 or after 2262)";
                return false;
            }

            ns = (long)(raw * unit);
            return true;
        }

        error = $"timestamp is a {e.ValueKind.ToString().ToLowerInvariant()}, not {(format is "auto" ? "text or a number" : format == "iso8601" ? "ISO 8601 text" : "a number")}";
        return false;
    }
}

/// <summary>
/// A JSONPath subset: <c>$</c> followed by <c>.name</c>, <c>['name']</c>, <c>[n]</c> (array index, negative from the end) and
/// <c>[*]</c> (every element of an array, or every value of an object). At most one <c>[*]</c>.
/// </summary>
public sealed class JsonSelector
{
    private readonly Step[] _steps;

    private JsonSelector(string text, Step[] steps)
    {
        Text = text;
        _steps = steps;
    }

    public string Text { get; }

    public bool HasWildcard => _steps.Any(s => s.Wildcard);

    public static JsonSelector Parse(string? text, string field)
    {
        if (string.IsNullOrEmpty(text) || text[0] != '$')
        {
            throw new InvalidInputException($"selector '{text}' must start with '$'", field);
        }

        var steps = new List<Step>();
        int i = 1;
        while (i < text.Length)
        {
            if (text[i] == '.')
            {
                int start = ++i;
                while (i < text.Length && text[i] is not ('.' or '['))
                {
                    i++;
                }

                if (i == start)
                {
                    throw new InvalidInputException($"selector '{text}': empty name at position {start}", field);
                }

                steps.Add(new Step(text[start..i], null, false));
            }
            else if (text[i] == '[')
            {
                int close = text.IndexOf(']', i);
                if (close < 0)
                {
                    throw new InvalidInputException($"selector '{text}': '[' at position {i} is not closed", field);
                }

                string inner = text[(i + 1)..close];
                if (inner == "*")
                {
                    steps.Add(new Step(null, null, true));
                }
                else if (inner.Length >= 2 && inner[0] is '\'' or '"' && inner[^1] == inner[0])
                {
                    steps.Add(new Step(inner[1..^1], null, false));
                }
                else if (int.TryParse(inner, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int index))
                {
                    steps.Add(new Step(null, index, false));
                }
                else
                {
                    throw new InvalidInputException($"selector '{text}': '[{inner}]' at position {i} is not [n], [*] or ['name']", field);
                }

                i = close + 1;
            }
            else
            {
                throw new InvalidInputException($"selector '{text}': unexpected '{text[i]}' at position {i} (expected '.' or '[')", field);
            }
        }

        if (steps.Count(s => s.Wildcard) > 1)
        {
            throw new InvalidInputException($"selector '{text}': at most one [*]", field);
        }

        return new JsonSelector(text, [.. steps]);
    }

    /// <summary>Adds every match with the index its <c>[*]</c> took (0 without one).</summary>
    public void Select(JsonElement root, List<(JsonElement Value, int Index)> results) => Walk(root, 0, 0, results);

    private void Walk(JsonElement e, int step, int index, List<(JsonElement, int)> results)
    {
        for (; step < _steps.Length; step++)
        {
            var s = _steps[step];
            if (s.Wildcard)
            {
                int n = 0;
                if (e.ValueKind == JsonValueKind.Array)
                {
                    foreach (var child in e.EnumerateArray())
                    {
                        Walk(child, step + 1, n++, results);
                    }
                }
                else if (e.ValueKind == JsonValueKind.Object)
                {
                    foreach (var p in e.EnumerateObject())
                    {
                        Walk(p.Value, step + 1, n++, results);
                    }
                }

                return;
            }

            if (s.Name is not null)
            {
                if (e.ValueKind != JsonValueKind.Object || !e.TryGetProperty(s.Name, out e))
                {
                    return;
                }
            }
            else
            {
                if (e.ValueKind != JsonValueKind.Array)
                {
                    return;
                }

                int len = e.GetArrayLength(), at = s.Index!.Value < 0 ? len + s.Index.Value : s.Index.Value;
                if (at < 0 || at >= len)
                {
                    return;
                }

                e = e[at];
            }
        }

        results.Add((e, index));
    }

    private readonly record struct Step(string? Name, int? Index, bool Wildcard);
}

/// <summary>
/// The configured JSON mappings of a node: kept in the metadata store (documents of kind <c>mqtt-mapping</c>), loaded
/// at start and reloaded when one is saved or deleted.
/// </summary>
public sealed class MqttMappingStore
{
    public const string DocumentKind = "mqtt-mapping";

    internal static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    private readonly MetadataStore _meta;
    private volatile CompiledMqttMapping[] _mappings = [];

    public MqttMappingStore(MetadataStore meta, ILogger<MqttMappingStore> log)
    {
        _meta = meta;
        Log = log;
        Reload();
        meta.DocumentsChanged += kind =>
        {
            if (kind == DocumentKind)
            {
                Reload();
            }
        };
    }

    private ILogger<MqttMappingStore> Log { get; }

    public IReadOnlyList<CompiledMqttMapping> Mappings => _mappings;

    /// <summary>Checks and stores a mapping; throws <see cref="InvalidInputException"/> naming the field.</summary>
    public MqttJsonMapping Save(string id, MqttJsonMapping mapping)
    {
        var m = mapping with { Id = id };
        CompiledMqttMapping.Compile(m);
        _meta.SaveDocument(DocumentKind, id, JsonSerializer.Serialize(m, Json));
        return m;
    }

    public bool Delete(string id) => _meta.DeleteDocument(DocumentKind, id);

    private void Reload()
    {
        var list = new List<CompiledMqttMapping>();
        foreach (var (id, json) in _meta.ListDocuments(DocumentKind))
        {
            try
            {
                var m = JsonSerializer.Deserialize<MqttJsonMapping>(json, Json) ?? throw new InvalidInputException("empty document");
                list.Add(CompiledMqttMapping.Compile(m with { Id = id }));
            }
            catch (Exception e) when (e is JsonException or InvalidInputException)
            {
                Log.LogWarning(5250, "MQTT mapping '{Id}' in the metadata store is not valid and is not used: {Error}", id, e.Message);
            }
        }

        _mappings = [.. list];
    }
}
