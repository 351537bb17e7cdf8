using System.Text.Json;
using Zhizao.Core;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class RuleDefinitionTests
{
    private static readonly JsonSerializerOptions Web = new(JsonSerializerDefaults.Web);

    [Fact]
    public void Rules_round_trip_through_json_with_enums_as_strings()
    {
        RuleDefinition rule = HighTemperature(85, deadband: 2, onDelay: 5);
        string json = JsonSerializer.Serialize(rule, Web);
        Assert.Contains("\"kind\":\"Limit\"", json);
        Assert.Contains("\"type\":\"High\"", json);
        Assert.Contains("\"priority\":\"High\"", json);
        Assert.Equal(rule, JsonSerializer.Deserialize<RuleDefinition>(json, Web));

        const string expression = """{"id":"x","name":"X","equipmentTypeId":"press","kind":"Expression","expression":"running and pressure > 2"}""";
        RuleDefinition parsed = JsonSerializer.Deserialize<RuleDefinition>(expression, Web)!;
        Assert.Equal(RuleKind.Expression, parsed.Kind);
        Assert.Equal(AlarmPriority.Medium, parsed.Priority);
        Assert.True(parsed.Enabled);
        Assert.Empty(RuleValidator.Validate(parsed, Press));
    }

    [Fact]
    public void Validation_lists_every_problem_with_its_field()
    {
        var rule = new RuleDefinition
        {
            Id = "bad id!",
            Name = "",
            EquipmentTypeId = "press",
            Kind = RuleKind.Limit,
            OnDelaySeconds = -1,
            Limit = new LimitParameters { Tag = "mode", Type = LimitType.High, Setpoint = double.NaN, Deadband = -1 },
        };
        string[] errors = [.. RuleValidator.Validate(rule, Press).Select(e => e.ToString())];
        Assert.Equal(
        [
            "id: must be 1-128 letters, digits, '-', '_' or '.'",
            "name: must be non-empty and at most 200 characters",
            "onDelaySeconds: must be between 0 and 86400 seconds",
            "limit.tag: tag 'mode' is String; this rule needs a number",
            "limit.setpoint: must be a finite number",
            "limit.deadband: must be a non-negative number",
        ], errors);
    }

    [Fact]
    public void Expression_errors_carry_their_position_and_unknown_types_are_reported()
    {
        var rule = new RuleDefinition { Id = "e", Name = "E", EquipmentTypeId = "press", Kind = RuleKind.Expression, Expression = "running == 1.5" };
        RuleError error = Assert.Single(RuleValidator.Validate(rule, Press));
        Assert.Equal(new RuleError("expression", "cannot compare Bool with Float64", 9), error);
        Assert.Equal("expression: position 9: cannot compare Bool with Float64", error.ToString());
        var e = Assert.Throws<InvalidInputException>(() => RuleValidator.ThrowIfInvalid(rule, Press));
        Assert.Equal("rule 'e': expression: position 9: cannot compare Bool with Float64", e.Message);

        Assert.Equal("equipmentTypeId: unknown equipment type 'press'", Assert.Single(RuleValidator.Validate(rule, null)).ToString());
    }

    [Fact]
    public void Missing_parameters_and_wrong_state_values_are_reported()
    {
        var missing = new RuleDefinition { Id = "m", Name = "M", EquipmentTypeId = "press", Kind = RuleKind.RateOfChange };
        Assert.Equal("rateOfChange: is required for a RateOfChange rule", Assert.Single(RuleValidator.Validate(missing, Press)).ToString());
        var state = new RuleDefinition
        {
            Id = "s",
            Name = "S",
            EquipmentTypeId = "press",
            Kind = RuleKind.StateDuration,
            StateDuration = new StateDurationParameters { Tag = "running", State = "maybe", DurationSeconds = 60 },
        };
        Assert.Equal("stateDuration.state: 'maybe' is not a Bool value (the type of tag 'running')", Assert.Single(RuleValidator.Validate(state, Press)).ToString());
    }

    [Fact]
    public void Duplicate_rule_ids_are_reported_by_the_engine()
    {
        RuleEngine engine = Engine(HighTemperature(), HighTemperature(90));
        Assert.Equal("rule 'temp-high': id: duplicate rule id 'temp-high'", Assert.Single(engine.Problems).ToString());
        Assert.Equal(2, engine.Instances.Count);
    }

    [Fact]
    public void Hostile_rule_json_is_rejected_or_reported_never_crashes()
    {
        string[] seeds =
        [
            JsonSerializer.Serialize(HighTemperature(85, 2, 5), Web),
            """{"id":"x","name":"X","equipmentTypeId":"press","kind":"Expression","expression":"running and pressure > 2"}""",
            """{"id":"r","name":"R","equipmentTypeId":"press","kind":"RateOfChange","rateOfChange":{"tag":"pressure","maxRatePerSecond":1,"windowSeconds":5}}""",
            """{"id":"s","name":"S","equipmentTypeId":"press","kind":"StateDuration","stateDuration":{"tag":"state","state":"0","durationSeconds":600}}""",
            """{"id":null,"name":null,"equipmentTypeId":null,"kind":"Limit","limit":{"tag":null,"type":"High","setpoint":1}}""",
        ];
        const string alphabet = "{}[]\":,0123456789-.eE truefalsnul\"xyzLimitHigh";
        var random = new Random(11);
        int valid = 0;
        for (int n = 0; n < 5_000; n++)
        {
            char[] text = seeds[random.Next(seeds.Length)].ToCharArray();
            for (int m = random.Next(0, 4); m > 0; m--)
            {
                text[random.Next(text.Length)] = alphabet[random.Next(alphabet.Length)];
            }

            RuleDefinition? rule;
            try
            {
                rule = JsonSerializer.Deserialize<RuleDefinition>(new string(text), Web);
            }
            catch (JsonException)
            {
                continue;
            }

            if (rule is null)
            {
                continue;
            }

            if (RuleValidator.Validate(rule, Press).Count == 0)
            {
                valid++;
                RuleEngine engine = RuleEngine.Compile([rule], [Press], Assets);
                Assert.Empty(engine.Problems);
            }
        }

        Assert.True(valid > 0);
    }
}
