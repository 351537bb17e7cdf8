using Zhizao.Core;

namespace Zhizao.Rules.Expressions;

/// <summary>
/// A Bool expression over the tags of one equipment type, parsed, type-checked and compiled to a tree of closures
/// that read tag values from a slot array (slot i = tag i of the type). Evaluation does not allocate.
/// No user code is ever executed: the only operations are the operators of the grammar and the functions in
/// <see cref="Functions"/>.
/// </summary>
public sealed class CompiledExpression
{
    /// <summary>The whitelist of callable functions; all take and return numbers.</summary>
    public static readonly IReadOnlyList<string> Functions = ["abs", "avg", "max", "min", "sqrt"];

    /// <summary>Longest expression accepted, in characters.</summary>
    public const int MaxLength = ExpressionParser.MaxLength;

    /// <summary>Deepest nesting accepted (parentheses, operators, calls).</summary>
    public const int MaxDepth = ExpressionParser.MaxDepth;

    private readonly Func<TagValue[], int, bool> _evaluate;
    private readonly int[] _tagIndices;

    private CompiledExpression(string text, Func<TagValue[], int, bool> evaluate, int[] tagIndices, string[] tagNames)
    {
        Text = text;
        _evaluate = evaluate;
        _tagIndices = tagIndices;
        TagNames = tagNames;
    }

    public string Text { get; }

    /// <summary>The tags the expression reads, each once, in order of first use.</summary>
    public IReadOnlyList<string> TagNames { get; }

    /// <summary>Indices (into the equipment type's tag list) of <see cref="TagNames"/>.</summary>
    public ReadOnlySpan<int> TagIndices => _tagIndices;

    /// <summary>Parses and type-checks; throws <see cref="InvalidInputException"/> ("position N: ...") on the first error.</summary>
    public static CompiledExpression Compile(string text, IReadOnlyList<TagDefinition> tags)
    {
        if (!TryCompile(text, tags, out CompiledExpression? compiled, out ExpressionError? error))
        {
            throw new InvalidInputException(error.Message, $"position {error.Position}");
        }

        return compiled;
    }

    public static bool TryCompile(
        string text,
        IReadOnlyList<TagDefinition> tags,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out CompiledExpression? compiled,
        [System.Diagnostics.CodeAnalysis.NotNullWhen(false)] out ExpressionError? error)
    {
        compiled = null;
        error = null;
        try
        {
            Node root = ExpressionParser.Parse(text);
            var compiler = new Compiler(tags);
            Typed typed = compiler.Compile(root);
            if (typed.Type != ValueKind.Bool)
            {
                throw new ExpressionSyntaxException(1, $"the expression must be a condition (Bool), but it is {typed.Type}; compare it, e.g. '... > 10'");
            }

            compiled = new CompiledExpression(text, typed.Bool!, [.. compiler.UsedIndices], [.. compiler.UsedIndices.Select(i => tags[i].Name)]);
            return true;
        }
        catch (ExpressionSyntaxException e)
        {
            error = new ExpressionError(e.Position, e.Message);
            return false;
        }
    }

    /// <summary>
    /// Evaluates against <paramref name="slots"/>[<paramref name="slotBase"/> + tag index]. Returns false without a result
    /// when a tag the expression reads has no value yet (a default <see cref="TagValue"/>).
    /// </summary>
    public bool TryEvaluate(TagValue[] slots, int slotBase, out bool result)
    {
        foreach (int index in _tagIndices)
        {
            if (slots[slotBase + index].Kind == 0)
            {
                result = false;
                return false;
            }
        }

        result = _evaluate(slots, slotBase);
        return true;
    }

    private readonly record struct Typed(
        ValueKind Type,
        Func<TagValue[], int, double>? Num = null,
        Func<TagValue[], int, bool>? Bool = null,
        Func<TagValue[], int, string?>? Str = null)
    {
        public bool IsNumber => Type is ValueKind.Float64 or ValueKind.Int64;
    }

    private sealed class Compiler(IReadOnlyList<TagDefinition> tags)
    {
        public List<int> UsedIndices { get; } = [];

        public Typed Compile(Node node) => node switch
        {
            NumberNode n => Constant(n),
            StringNode s => new Typed(ValueKind.String, Str: (_, _) => s.Value),
            BoolNode b => b.Value ? new Typed(ValueKind.Bool, Bool: static (_, _) => true) : new Typed(ValueKind.Bool, Bool: static (_, _) => false),
            TagNode t => Tag(t),
            UnaryNode u => Unary(u),
            BinaryNode b => Binary(b),
            CallNode c => Call(c),
            _ => throw new ExpressionSyntaxException(node.Position, "unsupported expression"),
        };

        private static Typed Constant(NumberNode n)
        {
            double value = n.Value;
            return new Typed(n.IsInteger ? ValueKind.Int64 : ValueKind.Float64, Num: (_, _) => value);
        }

        private Typed Tag(TagNode node)
        {
            int index = -1;
            for (int i = 0; i < tags.Count; i++)
            {
                if (string.Equals(tags[i].Name, node.Name, StringComparison.Ordinal))
                {
                    index = i;
                    break;
                }
            }

            if (index < 0)
            {
                string? suggestion = Suggest(node.Name, tags.Select(t => t.Name));
                if (CompiledExpression.Functions.Contains(node.Name))
                {
                    throw new ExpressionSyntaxException(node.Position, $"'{node.Name}' is a function; call it with '('");
                }

                throw new ExpressionSyntaxException(node.Position, suggestion is null
                    ? $"unknown tag '{node.Name}'"
                    : $"unknown tag '{node.Name}' (did you mean '{suggestion}'?)");
            }

            if (!UsedIndices.Contains(index))
            {
                UsedIndices.Add(index);
            }

            return tags[index].DataType switch
            {
                ValueKind.Bool => new Typed(ValueKind.Bool, Bool: (s, b) => s[b + index].AsBool),
                ValueKind.String => new Typed(ValueKind.String, Str: (s, b) => s[b + index].AsString),
                ValueKind.Int64 => new Typed(ValueKind.Int64, Num: (s, b) => s[b + index].AsDouble),
                _ => new Typed(ValueKind.Float64, Num: (s, b) => s[b + index].AsDouble),
            };
        }

        private Typed Unary(UnaryNode node)
        {
            Typed operand = Compile(node.Operand);
            if (node.Op == TokenKind.Not)
            {
                RequireBool(operand, node.Operand.Position, "not");
                Func<TagValue[], int, bool> f = operand.Bool!;
                return new Typed(ValueKind.Bool, Bool: (s, b) => !f(s, b));
            }

            RequireNumber(operand, node.Operand.Position, "-");
            Func<TagValue[], int, double> g = operand.Num!;
            return new Typed(operand.Type, Num: (s, b) => -g(s, b));
        }

        private Typed Binary(BinaryNode node)
        {
            Typed left = Compile(node.Left);
            Typed right = Compile(node.Right);
            switch (node.Op)
            {
                case TokenKind.And:
                case TokenKind.Or:
                    {
                        string name = node.Op == TokenKind.And ? "and" : "or";
                        RequireBool(left, node.Left.Position, name);
                        RequireBool(right, node.Right.Position, name);
                        Func<TagValue[], int, bool> l = left.Bool!, r = right.Bool!;
                        return node.Op == TokenKind.And
                            ? new Typed(ValueKind.Bool, Bool: (s, b) => l(s, b) && r(s, b))
                            : new Typed(ValueKind.Bool, Bool: (s, b) => l(s, b) || r(s, b));
                    }

                case TokenKind.Plus:
                case TokenKind.Minus:
                case TokenKind.Star:
                case TokenKind.Slash:
                case TokenKind.Percent:
                    {
                        string name = OperatorText(node.Op);
                        RequireNumber(left, node.Left.Position, name);
                        RequireNumber(right, node.Right.Position, name);
                        Func<TagValue[], int, double> l = left.Num!, r = right.Num!;
                        ValueKind type = left.Type == ValueKind.Int64 && right.Type == ValueKind.Int64 && node.Op != TokenKind.Slash
                            ? ValueKind.Int64
                            : ValueKind.Float64;
                        Func<TagValue[], int, double> f = node.Op switch
                        {
                            TokenKind.Plus => (s, b) => l(s, b) + r(s, b),
                            TokenKind.Minus => (s, b) => l(s, b) - r(s, b),
                            TokenKind.Star => (s, b) => l(s, b) * r(s, b),
                            TokenKind.Slash => (s, b) => l(s, b) / r(s, b),
                            _ => (s, b) => l(s, b) % r(s, b),
                        };
                        return new Typed(type, Num: f);
                    }

                default:
                    return Comparison(node, left, right);
            }
        }

        private static Typed Comparison(BinaryNode node, Typed left, Typed right)
        {
            string name = OperatorText(node.Op);
            bool equality = node.Op is TokenKind.Eq or TokenKind.Ne;
            if (left.IsNumber && right.IsNumber)
            {
                Func<TagValue[], int, double> l = left.Num!, r = right.Num!;
                Func<TagValue[], int, bool> f = node.Op switch
                {
                    TokenKind.Eq => (s, b) => l(s, b) == r(s, b),
                    TokenKind.Ne => (s, b) => l(s, b) != r(s, b),
                    TokenKind.Lt => (s, b) => l(s, b) < r(s, b),
                    TokenKind.Le => (s, b) => l(s, b) <= r(s, b),
                    TokenKind.Gt => (s, b) => l(s, b) > r(s, b),
                    _ => (s, b) => l(s, b) >= r(s, b),
                };
                return new Typed(ValueKind.Bool, Bool: f);
            }

            if (left.Type != right.Type)
            {
                throw new ExpressionSyntaxException(node.Position, $"cannot compare {left.Type} with {right.Type}");
            }

            if (!equality)
            {
                throw new ExpressionSyntaxException(node.Position, $"operator '{name}' needs numbers, got {left.Type}; {left.Type} values can only be compared with '==' or '!='");
            }

            bool negate = node.Op == TokenKind.Ne;
            if (left.Type == ValueKind.Bool)
            {
                Func<TagValue[], int, bool> l = left.Bool!, r = right.Bool!;
                return new Typed(ValueKind.Bool, Bool: (s, b) => (l(s, b) == r(s, b)) != negate);
            }

            Func<TagValue[], int, string?> ls = left.Str!, rs = right.Str!;
            return new Typed(ValueKind.Bool, Bool: (s, b) => string.Equals(ls(s, b), rs(s, b), StringComparison.Ordinal) != negate);
        }

        private Typed Call(CallNode node)
        {
            if (!CompiledExpression.Functions.Contains(node.Function))
            {
                throw new ExpressionSyntaxException(node.Position,
                    $"unknown function '{node.Function}' (functions: {string.Join(", ", CompiledExpression.Functions)})");
            }

            var arguments = new Func<TagValue[], int, double>[node.Arguments.Count];
            for (int i = 0; i < arguments.Length; i++)
            {
                Typed argument = Compile(node.Arguments[i]);
                RequireNumber(argument, node.Arguments[i].Position, node.Function + "()");
                arguments[i] = argument.Num!;
            }

            switch (node.Function)
            {
                case "abs":
                case "sqrt":
                    {
                        if (arguments.Length != 1)
                        {
                            throw new ExpressionSyntaxException(node.Position, $"function '{node.Function}' takes 1 argument, got {arguments.Length}");
                        }

                        Func<TagValue[], int, double> x = arguments[0];
                        return node.Function == "abs"
                            ? new Typed(ValueKind.Float64, Num: (s, b) => Math.Abs(x(s, b)))
                            : new Typed(ValueKind.Float64, Num: (s, b) => Math.Sqrt(x(s, b)));
                    }

                case "min":
                    return new Typed(ValueKind.Float64, Num: (s, b) =>
                    {
                        double m = arguments[0](s, b);
                        for (int i = 1; i < arguments.Length; i++)
                        {
                            m = Math.Min(m, arguments[i](s, b));
                        }

                        return m;
                    });
                case "max":
                    return new Typed(ValueKind.Float64, Num: (s, b) =>
                    {
                        double m = arguments[0](s, b);
                        for (int i = 1; i < arguments.Length; i++)
                        {
                            m = Math.Max(m, arguments[i](s, b));
                        }

                        return m;
                    });
                default:
                    return new Typed(ValueKind.Float64, Num: (s, b) =>
                    {
                        double sum = 0;
                        for (int i = 0; i < arguments.Length; i++)
                        {
                            sum += arguments[i](s, b);
                        }

                        return sum / arguments.Length;
                    });
            }
        }

        private static void RequireBool(Typed typed, int position, string op)
        {
            if (typed.Type != ValueKind.Bool)
            {
                throw new ExpressionSyntaxException(position, $"'{op}' needs Bool operands, got {typed.Type}");
            }
        }

        private static void RequireNumber(Typed typed, int position, string op)
        {
            if (!typed.IsNumber)
            {
                throw new ExpressionSyntaxException(position, $"'{op}' needs numbers, got {typed.Type}");
            }
        }

        private static string OperatorText(TokenKind op) => op switch
        {
            TokenKind.Plus => "+",
            TokenKind.Minus => "-",
            TokenKind.Star => "*",
            TokenKind.Slash => "/",
            TokenKind.Percent => "%",
            TokenKind.Eq => "==",
            TokenKind.Ne => "!=",
            TokenKind.Lt => "<",
            TokenKind.Le => "<=",
            TokenKind.Gt => ">",
            TokenKind.Ge => ">=",
            _ => op.ToString().ToLowerInvariant(),
        };
    }

    /// <summary>The closest candidate by edit distance (case-insensitive), if it is close enough to be a typo.</summary>
    internal static string? Suggest(string name, IEnumerable<string> candidates)
    {
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in candidates)
        {
            int distance = EditDistance(name.ToLowerInvariant(), candidate.ToLowerInvariant());
            if (distance < bestDistance)
            {
                bestDistance = distance;
                best = candidate;
            }
        }

        int allowed = Math.Max(1, Math.Min(3, name.Length / 3));
        return bestDistance <= allowed ? best : null;
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++)
        {
            previous[j] = j;
        }

        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + cost);
            }

            (previous, current) = (current, previous);
        }

        return previous[b.Length];
    }

    public override string ToString() => Text;
}
