using Zhizao.Core;
using Zhizao.Rules.Expressions;
using static Zhizao.Rules.Tests.TestModel;

namespace Zhizao.Rules.Tests;

public class ExpressionTests
{
    // slot order = Press.Tags: temperature, pressure, state, mode, running, speed
    private static TagValue[] Slots(double temperature = 20, double pressure = 5, long state = 1, string mode = "auto", bool running = true, double speed = 1000) =>
    [
        TagValue.FromDouble(temperature), TagValue.FromDouble(pressure), TagValue.FromInt64(state),
        TagValue.FromString(mode), TagValue.FromBool(running), TagValue.FromDouble(speed),
    ];

    private static bool Eval(string text, TagValue[]? slots = null)
    {
        CompiledExpression expression = CompiledExpression.Compile(text, Press.Tags);
        Assert.True(expression.TryEvaluate(slots ?? Slots(), 0, out bool result));
        return result;
    }

    private static ExpressionError Error(string text)
    {
        Assert.False(CompiledExpression.TryCompile(text, Press.Tags, out _, out ExpressionError? error));
        return error;
    }

    [Theory]
    [InlineData("temperature > 10", true)]
    [InlineData("temperature > 10 and pressure < 5", false)]
    [InlineData("temperature > 10 && pressure <= 5", true)]
    [InlineData("not running or state == 1", true)]
    [InlineData("!running || state != 1", false)]
    [InlineData("(temperature - 20) * 2 + pressure / 5 == 1", true)]
    [InlineData("-temperature < -19.5", true)]
    [InlineData("state % 2 == 1", true)]
    [InlineData("abs(temperature - 30) >= 10", true)]
    [InlineData("sqrt(pressure * 5) == 5", true)]
    [InlineData("min(temperature, pressure, 3) == 3", true)]
    [InlineData("max(temperature, speed) > 999", true)]
    [InlineData("avg(temperature, 40) == 30", true)]
    [InlineData("mode == \"auto\"", true)]
    [InlineData("mode != 'manual'", true)]
    [InlineData("running == true", true)]
    [InlineData("1.5e3 < speed + 501", true)]
    [InlineData(".5 < 1", true)]
    [InlineData("true", true)]
    [InlineData("running and (temperature > 100 or (pressure > 1 and not (state == 0)))", true)]
    public void Valid_expressions_evaluate(string text, bool expected) => Assert.Equal(expected, Eval(text));

    [Fact]
    public void Precedence_follows_arithmetic_then_comparison_then_not_and_or()
    {
        Assert.True(Eval("2 + 3 * 4 == 14"));
        Assert.True(Eval("false and false or true"));
        Assert.False(Eval("false and (false or true)"));
        Assert.True(Eval("not false and true"));
        Assert.True(Eval("10 - 4 - 3 == 3"));
    }

    [Fact]
    public void Division_by_zero_gives_infinity_not_an_exception()
    {
        Assert.True(Eval("pressure / 0 > 1000000"));
        Assert.False(Eval("0 / 0 == 0 / 0"));
    }

    [Fact]
    public void Missing_tag_values_mean_the_expression_is_not_evaluated()
    {
        CompiledExpression expression = CompiledExpression.Compile("temperature > 10 and running", Press.Tags);
        TagValue[] slots = Slots();
        slots[4] = default;
        Assert.False(expression.TryEvaluate(slots, 0, out _));
        Assert.Equal(["temperature", "running"], expression.TagNames);
    }

    [Fact]
    public void Unknown_tag_is_reported_with_position_and_a_suggestion()
    {
        ExpressionError error = Error("temperature > 8 and presure > 2");
        Assert.Equal(21, error.Position);
        Assert.Equal("unknown tag 'presure' (did you mean 'pressure'?)", error.Message);
        Assert.Equal("position 21: unknown tag 'presure' (did you mean 'pressure'?)", error.ToString());
        Assert.Equal("unknown tag 'flux'", Error("flux > 1").Message);
    }

    [Fact]
    public void Compile_throws_invalid_input_naming_the_position()
    {
        var e = Assert.Throws<InvalidInputException>(() => CompiledExpression.Compile("running == 1.5", Press.Tags));
        Assert.Equal("position 9: cannot compare Bool with Float64", e.Message);
    }

    [Theory]
    [InlineData("running == 1.5", 9, "cannot compare Bool with Float64")]
    [InlineData("mode > 'a'", 6, "operator '>' needs numbers, got String; String values can only be compared with '==' or '!='")]
    [InlineData("mode == 3", 6, "cannot compare String with Int64")]
    [InlineData("temperature + running > 1", 15, "'+' needs numbers, got Bool")]
    [InlineData("temperature and running", 1, "'and' needs Bool operands, got Float64")]
    [InlineData("not pressure", 5, "'not' needs Bool operands, got Float64")]
    [InlineData("-running", 2, "'-' needs numbers, got Bool")]
    [InlineData("abs(mode) > 1", 5, "'abs()' needs numbers, got String")]
    [InlineData("temperature + 1", 1, "the expression must be a condition (Bool), but it is Float64; compare it, e.g. '... > 10'")]
    [InlineData("mode", 1, "the expression must be a condition (Bool), but it is String; compare it, e.g. '... > 10'")]
    public void Type_errors_name_position_and_types(string text, int position, string message)
    {
        ExpressionError error = Error(text);
        Assert.Equal(message, error.Message);
        Assert.Equal(position, error.Position);
    }

    [Theory]
    [InlineData("", 1, "expression is empty")]
    [InlineData("temperature >", 14, "unexpected end of expression; a value is missing")]
    [InlineData("temperature > 1 )", 17, "unexpected ')' after the end of the expression")]
    [InlineData("(temperature > 1", 17, "expected ')' to close the '(' at position 1, found end of expression")]
    [InlineData("temperature = 1", 13, "'=' is not an operator; use '==' to compare")]
    [InlineData("temperature > 1 # x", 17, "unexpected character '#'")]
    [InlineData("temperature > 'abc", 15, "string is not terminated")]
    [InlineData("temperature > 12abc", 17, "unexpected character 'a' after number 12")]
    [InlineData("temperature > 1.2.3", 15, "'1.2.3' is not a valid number")]
    [InlineData("0 < temperature < 10", 17, "comparisons cannot be chained; use 'and' (a < b and b < c)")]
    [InlineData("temperature > > 1", 15, "unexpected '>'; expected a value, tag or '('")]
    [InlineData("max() > 1", 5, "function 'max' needs at least one argument")]
    [InlineData("abs(1, 2) > 1", 1, "function 'abs' takes 1 argument, got 2")]
    [InlineData("max(1, 2 > 1", 13, "expected ')' to close the call of 'max', found end of expression")]
    [InlineData("exp(1) > 1", 1, "unknown function 'exp' (functions: abs, avg, max, min, sqrt)")]
    [InlineData("abs > 1", 1, "'abs' is a function; call it with '('")]
    [InlineData("temperature. > 1", 12, "name 'temperature.' cannot end with '.'")]
    public void Syntax_errors_name_the_position(string text, int position, string message)
    {
        ExpressionError error = Error(text);
        Assert.Equal(message, error.Message);
        Assert.Equal(position, error.Position);
    }

    [Fact]
    public void Nesting_deeper_than_the_limit_is_rejected()
    {
        string ok = new string('(', 30) + "temperature > 1" + new string(')', 30);
        Assert.True(Eval(ok));
        string deep = new string('(', 40) + "temperature > 1" + new string(')', 40);
        ExpressionError error = Error(deep);
        Assert.Equal($"expression is nested deeper than the limit of {CompiledExpression.MaxDepth}", error.Message);
        Assert.Equal(CompiledExpression.MaxDepth + 1, error.Position);
        Assert.Contains("nested deeper", Error(string.Concat(Enumerable.Repeat("not ", 100)) + "running").Message);
        Assert.Contains("nested deeper", Error(string.Concat(Enumerable.Repeat("-", 100)) + "1 > 0").Message);
        Assert.Contains("nested deeper", Error(string.Concat(Enumerable.Repeat("abs(", 40)) + "1" + new string(')', 40) + " > 0").Message);
        // long flat chains are not nesting: bounded by the length limit only
        Assert.True(Eval(string.Join(" + ", Enumerable.Repeat("1", 250)) + " == 250"));
        Assert.True(Eval(string.Join(" and ", Enumerable.Repeat("running", 60))));
    }

    [Fact]
    public void Expressions_longer_than_the_limit_are_rejected()
    {
        string text = "temperature > " + new string('1', CompiledExpression.MaxLength);
        ExpressionError error = Error(text);
        Assert.Equal($"expression is longer than the limit of {CompiledExpression.MaxLength} characters", error.Message);
    }

    [Theory]
    [InlineData("System.IO.File.Delete(\"x\")")]
    [InlineData("System.Diagnostics.Process.Start(\"rm\") == 0")]
    [InlineData("typeof(System.IO.File) == 1")]
    [InlineData("temperature.GetType() == 1")]
    [InlineData("new Object() == 1")]
    [InlineData("temperature[0] > 1")]
    [InlineData("x => x")]
    [InlineData("temperature > 1; File.Delete('x')")]
    [InlineData("`rm -rf /`")]
    [InlineData("eval('1') > 0")]
    public void Code_cannot_be_executed(string text)
    {
        ExpressionError error = Error(text);
        Assert.InRange(error.Position, 1, text.Length + 1);
        Assert.False(string.IsNullOrEmpty(error.Message));
    }

    [Fact]
    public void Member_access_is_an_unknown_function_not_a_call()
    {
        ExpressionError error = Error("System.IO.File.Delete(\"x\")");
        Assert.Equal(1, error.Position);
        Assert.Equal("unknown function 'System.IO.File.Delete' (functions: abs, avg, max, min, sqrt)", error.Message);
    }

    [Fact]
    public void Random_input_only_ever_produces_errors_or_expressions()
    {
        var random = new Random(7);
        const string alphabet = "temperaturpsdnoib()!=<>&|+-*/%., \"'0123456789e_\t";
        for (int n = 0; n < 20_000; n++)
        {
            var chars = new char[random.Next(1, 40)];
            for (int i = 0; i < chars.Length; i++)
            {
                chars[i] = alphabet[random.Next(alphabet.Length)];
            }

            string text = new(chars);
            if (CompiledExpression.TryCompile(text, Press.Tags, out CompiledExpression? compiled, out ExpressionError? error))
            {
                compiled.TryEvaluate(Slots(), 0, out _);
            }
            else
            {
                Assert.InRange(error.Position, 1, text.Length + 1);
            }
        }
    }

    [Fact]
    public void Tag_names_may_use_any_letters_and_dots()
    {
        TagDefinition[] tags = [new() { Name = "温度" }, new() { Name = "axis.x" }];
        CompiledExpression expression = CompiledExpression.Compile("温度 > 80 and axis.x < 1", tags);
        Assert.True(expression.TryEvaluate([TagValue.FromDouble(90), TagValue.FromDouble(0)], 0, out bool result));
        Assert.True(result);
        Assert.False(CompiledExpression.TryCompile("温 > 1", tags, out _, out ExpressionError? error));
        Assert.Equal("unknown tag '温' (did you mean '温度'?)", error.Message);
    }
}
