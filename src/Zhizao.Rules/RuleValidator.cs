using System.Globalization;
using Zhizao.Core;
using Zhizao.Rules.Expressions;

namespace Zhizao.Rules;

/// <summary>One problem with a rule definition: which field, what is wrong, and for expressions the 1-based position.</summary>
public sealed record RuleError(string Field, string Message, int? Position = null)
{
    public override string ToString() => Position is int p ? $"{Field}: position {p}: {Message}" : $"{Field}: {Message}";
}

/// <summary>Checks a rule against its equipment type before it is saved or compiled ("parsed and type-checked on save").</summary>
public static class RuleValidator
{
    public const double MaxDelaySeconds = 86_400;
    public const double MaxWindowSeconds = 3_600;
    public const int MaxNameLength = 200;
    public const int MaxMessageLength = 1_000;

    public static IReadOnlyList<RuleError> Validate(RuleDefinition rule, EquipmentType? type)
    {
        var errors = new List<RuleError>();
        if (rule is null)
        {
            errors.Add(new RuleError("rule", "is missing"));
            return errors;
        }

        if (rule.Id is null || !SeriesKey.IsValidId(rule.Id))
        {
            errors.Add(new RuleError("id", "must be 1-128 letters, digits, '-', '_' or '.'"));
        }

        if (string.IsNullOrWhiteSpace(rule.Name) || rule.Name.Length > MaxNameLength)
        {
            errors.Add(new RuleError("name", $"must be non-empty and at most {MaxNameLength} characters"));
        }

        if (rule.Message is { Length: > MaxMessageLength })
        {
            errors.Add(new RuleError("message", $"is longer than {MaxMessageLength} characters"));
        }

        if (!Enum.IsDefined(rule.Priority))
        {
            errors.Add(new RuleError("priority", "must be Urgent, High, Medium or Low"));
        }

        CheckSeconds(errors, "onDelaySeconds", rule.OnDelaySeconds, 0, MaxDelaySeconds);
        CheckSeconds(errors, "offDelaySeconds", rule.OffDelaySeconds, 0, MaxDelaySeconds);

        if (type is null)
        {
            errors.Add(new RuleError("equipmentTypeId", $"unknown equipment type '{rule.EquipmentTypeId}'"));
            return errors;
        }

        if (!string.Equals(type.Id, rule.EquipmentTypeId, StringComparison.Ordinal))
        {
            errors.Add(new RuleError("equipmentTypeId", $"rule is for type '{rule.EquipmentTypeId}', not '{type.Id}'"));
        }

        int blocks = (rule.Limit is null ? 0 : 1) + (rule.RateOfChange is null ? 0 : 1) + (rule.StateDuration is null ? 0 : 1) + (rule.Expression is null ? 0 : 1);
        if (blocks > 1)
        {
            errors.Add(new RuleError("kind", "set only the parameters of the rule's kind"));
        }

        switch (rule.Kind)
        {
            case RuleKind.Limit:
                if (rule.Limit is not { } limit)
                {
                    errors.Add(new RuleError("limit", "is required for a Limit rule"));
                    break;
                }

                CheckNumericTag(errors, "limit.tag", limit.Tag, type);
                if (!Enum.IsDefined(limit.Type))
                {
                    errors.Add(new RuleError("limit.type", "must be HighHigh, High, Low or LowLow"));
                }

                if (!double.IsFinite(limit.Setpoint))
                {
                    errors.Add(new RuleError("limit.setpoint", "must be a finite number"));
                }

                CheckNonNegative(errors, "limit.deadband", limit.Deadband);
                break;
            case RuleKind.RateOfChange:
                if (rule.RateOfChange is not { } rate)
                {
                    errors.Add(new RuleError("rateOfChange", "is required for a RateOfChange rule"));
                    break;
                }

                CheckNumericTag(errors, "rateOfChange.tag", rate.Tag, type);
                if (!double.IsFinite(rate.MaxRatePerSecond) || rate.MaxRatePerSecond <= 0)
                {
                    errors.Add(new RuleError("rateOfChange.maxRatePerSecond", "must be a positive number"));
                }

                if (!Enum.IsDefined(rate.Direction))
                {
                    errors.Add(new RuleError("rateOfChange.direction", "must be Either, Rising or Falling"));
                }

                CheckSeconds(errors, "rateOfChange.windowSeconds", rate.WindowSeconds, 0.001, MaxWindowSeconds);
                CheckNonNegative(errors, "rateOfChange.deadband", rate.Deadband);
                break;
            case RuleKind.StateDuration:
                if (rule.StateDuration is not { } state)
                {
                    errors.Add(new RuleError("stateDuration", "is required for a StateDuration rule"));
                    break;
                }

                if (FindTag(errors, "stateDuration.tag", state.Tag, type) is { } tag && !TryParseState(state.State, tag.DataType, out _))
                {
                    errors.Add(new RuleError("stateDuration.state", $"'{state.State}' is not a {tag.DataType} value (the type of tag '{tag.Name}')"));
                }

                CheckSeconds(errors, "stateDuration.durationSeconds", state.DurationSeconds, 0, MaxDelaySeconds);
                break;
            case RuleKind.Expression:
                if (string.IsNullOrWhiteSpace(rule.Expression))
                {
                    errors.Add(new RuleError("expression", "is required for an Expression rule"));
                    break;
                }

                if (!CompiledExpression.TryCompile(rule.Expression, type.Tags, out _, out ExpressionError? error))
                {
                    errors.Add(new RuleError("expression", error.Message, error.Position));
                }

                break;
            default:
                errors.Add(new RuleError("kind", "must be Limit, RateOfChange, StateDuration or Expression"));
                break;
        }

        return errors;
    }

    /// <summary>Throws <see cref="InvalidInputException"/> listing every error of the rule.</summary>
    public static void ThrowIfInvalid(RuleDefinition rule, EquipmentType? type)
    {
        IReadOnlyList<RuleError> errors = Validate(rule, type);
        if (errors.Count > 0)
        {
            throw new InvalidInputException(string.Join("; ", errors), $"rule '{rule?.Id}'");
        }
    }

    internal static bool TryParseState(string? text, ValueKind kind, out TagValue value)
    {
        value = default;
        if (text is null)
        {
            return false;
        }

        switch (kind)
        {
            case ValueKind.String:
                value = TagValue.FromString(text);
                return true;
            case ValueKind.Bool:
                if (bool.TryParse(text, out bool b))
                {
                    value = TagValue.FromBool(b);
                    return true;
                }

                if (text is "0" or "1")
                {
                    value = TagValue.FromBool(text == "1");
                    return true;
                }

                return false;
            default:
                if (double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double d) && double.IsFinite(d))
                {
                    value = TagValue.FromDouble(d);
                    return true;
                }

                return false;
        }
    }

    private static TagDefinition? FindTag(List<RuleError> errors, string field, string? name, EquipmentType type)
    {
        TagDefinition? tag = type.Tags.FirstOrDefault(t => string.Equals(t.Name, name, StringComparison.Ordinal));
        if (tag is null)
        {
            string? suggestion = name is null ? null : CompiledExpression.Suggest(name, type.Tags.Select(t => t.Name));
            errors.Add(new RuleError(field, suggestion is null
                ? $"type '{type.Id}' has no tag '{name}'"
                : $"type '{type.Id}' has no tag '{name}' (did you mean '{suggestion}'?)"));
        }

        return tag;
    }

    private static void CheckNumericTag(List<RuleError> errors, string field, string? name, EquipmentType type)
    {
        if (FindTag(errors, field, name, type) is { } tag && tag.DataType is not (ValueKind.Float64 or ValueKind.Int64))
        {
            errors.Add(new RuleError(field, $"tag '{tag.Name}' is {tag.DataType}; this rule needs a number"));
        }
    }

    private static void CheckSeconds(List<RuleError> errors, string field, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
        {
            errors.Add(new RuleError(field, $"must be between {min.ToString(CultureInfo.InvariantCulture)} and {max.ToString(CultureInfo.InvariantCulture)} seconds"));
        }
    }

    private static void CheckNonNegative(List<RuleError> errors, string field, double value)
    {
        if (!double.IsFinite(value) || value < 0)
        {
            errors.Add(new RuleError(field, "must be a non-negative number"));
        }
    }
}
