namespace Zhizao.Core;

/// <summary>ISA-95 equipment hierarchy levels, from the top.</summary>
public enum AssetLevel
{
    Enterprise = 0,
    Site = 1,
    Area = 2,
    Line = 3,
    Cell = 4,
    Equipment = 5,
}

/// <summary>A node of the asset tree. <see cref="Id"/> is a slug (letters, digits, '-', '_') unique in the plant.</summary>
public sealed record Asset
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public required AssetLevel Level { get; init; }
    public string? ParentId { get; init; }
    /// <summary>Equipment type (template) id; only for <see cref="AssetLevel.Equipment"/>.</summary>
    public string? TypeId { get; init; }
    public string? Description { get; init; }
}

/// <summary>A tag defined by an equipment type: every equipment of the type has it.</summary>
public sealed record TagDefinition
{
    public required string Name { get; init; }
    public ValueKind DataType { get; init; } = ValueKind.Float64;
    public string? Unit { get; init; }
    public double? RangeLow { get; init; }
    public double? RangeHigh { get; init; }
    public string? Description { get; init; }
}

/// <summary>An equipment type (template): the tags every machine of this type reports.</summary>
public sealed record EquipmentType
{
    public required string Id { get; init; }
    public required string Name { get; init; }
    public string? Description { get; init; }
    public IReadOnlyList<TagDefinition> Tags { get; init; } = [];
}

/// <summary>
/// Series keys. An equipment tag is stored as <c>{equipmentId}/{tag}</c>. A line-protocol point is stored as
/// <c>{measurement}[,k=v...]/{field}</c> with tag keys sorted, so <c>cnc-01 spindle_speed=1200</c> lands in the
/// same series as the equipment tag.
/// </summary>
public static class SeriesKey
{
    public const int MaxLength = 512;

    public static string ForTag(string equipmentId, string tag) => string.Concat(equipmentId, "/", tag);

    /// <summary>Splits a key into its measurement part (before the last '/') and field part.</summary>
    public static bool TrySplit(string key, out string measurement, out string field)
    {
        int slash = key.LastIndexOf('/');
        if (slash <= 0 || slash == key.Length - 1)
        {
            measurement = field = string.Empty;
            return false;
        }

        measurement = key[..slash];
        field = key[(slash + 1)..];
        return true;
    }

    public static bool IsValidId(ReadOnlySpan<char> id)
    {
        if (id.IsEmpty || id.Length > 128)
        {
            return false;
        }

        foreach (char c in id)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
            {
                return false;
            }
        }

        return true;
    }
}
