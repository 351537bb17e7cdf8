using System.Text.Json;
using System.Text.Json.Serialization;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;
using Zhizao.Core;
using Zhizao.Storage.Metadata;

namespace Zhizao.Api;

/// <summary>Reads and writes the asset model document as JSON or YAML, with errors that name the line.</summary>
public static class ModelFormats
{
    public static readonly JsonSerializerOptions Json = CreateJson();

    public static JsonSerializerOptions CreateJson()
    {
        var o = new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true };
        o.Converters.Add(new JsonStringEnumConverter());
        o.DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull;
        return o;
    }

    public static string ToYaml(AssetModelDocument doc) =>
        new SerializerBuilder()
            .WithNamingConvention(CamelCaseNamingConvention.Instance)
            .ConfigureDefaultValuesHandling(DefaultValuesHandling.OmitNull)
            .DisableAliases() // a file people edit by hand: no &anchors or *aliases for shared tag definitions
            .Build()
            .Serialize(doc);

    public static string ToJson(AssetModelDocument doc) => JsonSerializer.Serialize(doc, Json);

    /// <summary>Parses JSON when the text starts with '{' or the content type says JSON; YAML otherwise.</summary>
    public static AssetModelDocument Parse(string text, string? contentType = null)
    {
        string t = text.TrimStart();
        bool json = (contentType?.Contains("json", StringComparison.OrdinalIgnoreCase) ?? false) || t.StartsWith('{');
        if (t.Length == 0)
        {
            throw new InvalidInputException("the model document is empty");
        }

        if (json)
        {
            try
            {
                return JsonSerializer.Deserialize<AssetModelDocument>(text, Json) ?? throw new InvalidInputException("the model document is null");
            }
            catch (JsonException e)
            {
                throw new InvalidInputException($"invalid JSON at line {(e.LineNumber ?? 0) + 1}, byte {e.BytePositionInLine ?? 0} ({e.Path}): {e.Message.Split(". Path")[0]}");
            }
        }

        try
        {
            var d = new DeserializerBuilder()
                .WithNamingConvention(CamelCaseNamingConvention.Instance)
                .WithTypeMapping<IReadOnlyList<TagDefinition>, List<TagDefinition>>()
                .Build();
            return d.Deserialize<AssetModelDocument>(text) ?? throw new InvalidInputException("the model document is empty");
        }
        catch (YamlException e)
        {
            throw new InvalidInputException($"invalid YAML at line {e.Start.Line}, column {e.Start.Column}: {(e.InnerException ?? e).Message}");
        }
    }
}
