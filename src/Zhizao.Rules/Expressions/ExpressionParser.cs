using System.Globalization;

namespace Zhizao.Rules.Expressions;

/// <summary>An error in an expression: 1-based character position and a message meant for the rule editor.</summary>
public sealed record ExpressionError(int Position, string Message)
{
    public override string ToString() => $"position {Position}: {Message}";
}

internal enum TokenKind
{
    End,
    Number,
    String,
    Identifier,
    True,
    False,
    And,
    Or,
    Not,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    LParen,
    RParen,
    Comma,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

internal readonly record struct Token(TokenKind Kind, int Position, string Text, double Number);

/// <summary>Thrown inside the parser and checker; turned into an <see cref="ExpressionError"/> at the boundary.</summary>
internal sealed class ExpressionSyntaxException(int position, string message) : Exception(message)
{
    public int Position { get; } = position;
}

internal abstract record Node(int Position);
internal sealed record NumberNode(int Position, double Value, bool IsInteger) : Node(Position);
internal sealed record StringNode(int Position, string Value) : Node(Position);
internal sealed record BoolNode(int Position, bool Value) : Node(Position);
internal sealed record TagNode(int Position, string Name) : Node(Position);
internal sealed record UnaryNode(int Position, TokenKind Op, Node Operand) : Node(Position);
internal sealed record BinaryNode(int Position, TokenKind Op, Node Left, Node Right) : Node(Position);
internal sealed record CallNode(int Position, string Function, IReadOnlyList<Node> Arguments) : Node(Position);

/// <summary>
/// Hand-written lexer and recursive-descent parser. The grammar is closed: literals, tag names, the operators below and
/// a fixed list of functions. There is no member access, indexing, assignment or any way to name a .NET type.
/// <code>
/// expr    := or
/// or      := and (('or' | '||') and)*
/// and     := not (('and' | '&amp;&amp;') not)*
/// not     := ('not' | '!') not | cmp
/// cmp     := sum (('==' | '!=' | '&lt;' | '&lt;=' | '&gt;' | '&gt;=') sum)?
/// sum     := product (('+' | '-') product)*
/// product := unary (('*' | '/' | '%') unary)*
/// unary   := '-' unary | primary
/// primary := number | string | 'true' | 'false' | tag | function '(' expr (',' expr)* ')' | '(' expr ')'
/// </code>
/// </summary>
internal sealed class ExpressionParser
{
    public const int MaxLength = 1024;
    /// <summary>Nesting of parentheses, unary operators and calls. Operator chains (a + b + c …) are bounded by <see cref="MaxLength"/>.</summary>
    public const int MaxDepth = 32;

    private readonly string _text;
    private readonly List<Token> _tokens;
    private int _index;
    private int _depth;

    private ExpressionParser(string text, List<Token> tokens)
    {
        _text = text;
        _tokens = tokens;
    }

    public static Node Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            throw new ExpressionSyntaxException(1, "expression is empty");
        }

        if (text.Length > MaxLength)
        {
            throw new ExpressionSyntaxException(MaxLength + 1, $"expression is longer than the limit of {MaxLength} characters");
        }

        var parser = new ExpressionParser(text, Lex(text));
        Node node = parser.ParseOr();
        Token next = parser.Peek;
        if (next.Kind != TokenKind.End)
        {
            throw new ExpressionSyntaxException(next.Position, $"unexpected {Describe(next)} after the end of the expression");
        }

        return node;
    }

    private Token Peek => _tokens[_index];

    private Token Next() => _tokens[_index++];

    private void Enter(int position)
    {
        if (++_depth > MaxDepth)
        {
            throw new ExpressionSyntaxException(position, $"expression is nested deeper than the limit of {MaxDepth}");
        }
    }

    private Node ParseOr()
    {
        Node left = ParseAnd();
        while (Peek.Kind == TokenKind.Or)
        {
            Token op = Next();
            left = new BinaryNode(op.Position, TokenKind.Or, left, ParseAnd());
        }

        return left;
    }

    private Node ParseAnd()
    {
        Node left = ParseNot();
        while (Peek.Kind == TokenKind.And)
        {
            Token op = Next();
            left = new BinaryNode(op.Position, TokenKind.And, left, ParseNot());
        }

        return left;
    }

    private Node ParseNot()
    {
        if (Peek.Kind == TokenKind.Not)
        {
            Token op = Next();
            Enter(op.Position);
            Node operand = ParseNot();
            _depth--;
            return new UnaryNode(op.Position, TokenKind.Not, operand);
        }

        return ParseComparison();
    }

    private Node ParseComparison()
    {
        Node left = ParseSum();
        if (Peek.Kind is TokenKind.Eq or TokenKind.Ne or TokenKind.Lt or TokenKind.Le or TokenKind.Gt or TokenKind.Ge)
        {
            Token op = Next();
            left = new BinaryNode(op.Position, op.Kind, left, ParseSum());
            if (Peek.Kind is TokenKind.Eq or TokenKind.Ne or TokenKind.Lt or TokenKind.Le or TokenKind.Gt or TokenKind.Ge)
            {
                throw new ExpressionSyntaxException(Peek.Position, "comparisons cannot be chained; use 'and' (a < b and b < c)");
            }
        }

        return left;
    }

    private Node ParseSum()
    {
        Node left = ParseProduct();
        while (Peek.Kind is TokenKind.Plus or TokenKind.Minus)
        {
            Token op = Next();
            left = new BinaryNode(op.Position, op.Kind, left, ParseProduct());
        }

        return left;
    }

    private Node ParseProduct()
    {
        Node left = ParseUnary();
        while (Peek.Kind is TokenKind.Star or TokenKind.Slash or TokenKind.Percent)
        {
            Token op = Next();
            left = new BinaryNode(op.Position, op.Kind, left, ParseUnary());
        }

        return left;
    }

    private Node ParseUnary()
    {
        if (Peek.Kind == TokenKind.Minus)
        {
            Token op = Next();
            Enter(op.Position);
            Node operand = ParseUnary();
            _depth--;
            return new UnaryNode(op.Position, TokenKind.Minus, operand);
        }

        return ParsePrimary();
    }

    private Node ParsePrimary()
    {
        Token token = Next();
        switch (token.Kind)
        {
            case TokenKind.Number:
                return new NumberNode(token.Position, token.Number, !token.Text.Contains('.', StringComparison.Ordinal) && !token.Text.Contains('e', StringComparison.OrdinalIgnoreCase));
            case TokenKind.String:
                return new StringNode(token.Position, token.Text);
            case TokenKind.True:
                return new BoolNode(token.Position, true);
            case TokenKind.False:
                return new BoolNode(token.Position, false);
            case TokenKind.Identifier:
                if (Peek.Kind == TokenKind.LParen)
                {
                    return ParseCall(token);
                }

                return new TagNode(token.Position, token.Text);
            case TokenKind.LParen:
                {
                    Enter(token.Position);
                    Node inner = ParseOr();
                    _depth--;
                    Expect(TokenKind.RParen, "')' to close the '(' at position " + token.Position.ToString(CultureInfo.InvariantCulture));
                    return inner;
                }
            case TokenKind.End:
                throw new ExpressionSyntaxException(token.Position, "unexpected end of expression; a value is missing");
            default:
                throw new ExpressionSyntaxException(token.Position, $"unexpected {Describe(token)}; expected a value, tag or '('");
        }
    }

    private CallNode ParseCall(Token name)
    {
        Token open = Next();
        Enter(open.Position);
        var arguments = new List<Node>();
        if (Peek.Kind == TokenKind.RParen)
        {
            throw new ExpressionSyntaxException(Peek.Position, $"function '{name.Text}' needs at least one argument");
        }

        while (true)
        {
            if (arguments.Count >= 16)
            {
                throw new ExpressionSyntaxException(Peek.Position, "a function takes at most 16 arguments");
            }

            arguments.Add(ParseOr());
            if (Peek.Kind == TokenKind.Comma)
            {
                Next();
                continue;
            }

            break;
        }

        Expect(TokenKind.RParen, "')' to close the call of '" + name.Text + "'");
        _depth--;
        return new CallNode(name.Position, name.Text, arguments);
    }

    private void Expect(TokenKind kind, string what)
    {
        Token token = Peek;
        if (token.Kind != kind)
        {
            throw new ExpressionSyntaxException(token.Position, $"expected {what}, found {Describe(token)}");
        }

        _index++;
    }

    private static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "end of expression",
        TokenKind.Number => $"number {token.Text}",
        TokenKind.String => $"string \"{token.Text}\"",
        TokenKind.Identifier => $"name '{token.Text}'",
        _ => $"'{token.Text}'",
    };

    internal static List<Token> Lex(string text)
    {
        var tokens = new List<Token>();
        int i = 0;
        while (i < text.Length)
        {
            char c = text[i];
            int position = i + 1;
            if (char.IsWhiteSpace(c))
            {
                i++;
                continue;
            }

            if (char.IsAsciiDigit(c) || (c == '.' && i + 1 < text.Length && char.IsAsciiDigit(text[i + 1])))
            {
                i = LexNumber(text, i, tokens);
                continue;
            }

            if (char.IsLetter(c) || c == '_')
            {
                int start = i;
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || text[i] is '_' or '.'))
                {
                    i++;
                }

                string word = text[start..i];
                if (word.EndsWith('.'))
                {
                    throw new ExpressionSyntaxException(i, $"name '{word}' cannot end with '.'");
                }

                TokenKind kind = word switch
                {
                    "and" => TokenKind.And,
                    "or" => TokenKind.Or,
                    "not" => TokenKind.Not,
                    "true" => TokenKind.True,
                    "false" => TokenKind.False,
                    _ => TokenKind.Identifier,
                };
                tokens.Add(new Token(kind, position, word, 0));
                continue;
            }

            if (c is '"' or '\'')
            {
                i = LexString(text, i, tokens);
                continue;
            }

            char n = i + 1 < text.Length ? text[i + 1] : '\0';
            (TokenKind op, int length) = c switch
            {
                '+' => (TokenKind.Plus, 1),
                '-' => (TokenKind.Minus, 1),
                '*' => (TokenKind.Star, 1),
                '/' => (TokenKind.Slash, 1),
                '%' => (TokenKind.Percent, 1),
                '(' => (TokenKind.LParen, 1),
                ')' => (TokenKind.RParen, 1),
                ',' => (TokenKind.Comma, 1),
                '=' when n == '=' => (TokenKind.Eq, 2),
                '!' when n == '=' => (TokenKind.Ne, 2),
                '!' => (TokenKind.Not, 1),
                '<' when n == '=' => (TokenKind.Le, 2),
                '<' when n == '>' => (TokenKind.Ne, 2),
                '<' => (TokenKind.Lt, 1),
                '>' when n == '=' => (TokenKind.Ge, 2),
                '>' => (TokenKind.Gt, 1),
                '&' when n == '&' => (TokenKind.And, 2),
                '|' when n == '|' => (TokenKind.Or, 2),
                '=' => throw new ExpressionSyntaxException(position, "'=' is not an operator; use '==' to compare"),
                _ => throw new ExpressionSyntaxException(position, $"unexpected character '{Printable(c)}'"),
            };
            tokens.Add(new Token(op, position, text.Substring(i, length), 0));
            i += length;
        }

        tokens.Add(new Token(TokenKind.End, text.Length + 1, string.Empty, 0));
        return tokens;
    }

    private static string Printable(char c) => char.IsControl(c) ? $"\\u{(int)c:X4}" : c.ToString();

    private static int LexNumber(string text, int i, List<Token> tokens)
    {
        int start = i;
        while (i < text.Length && (char.IsAsciiDigit(text[i]) || text[i] == '.'))
        {
            i++;
        }

        if (i < text.Length && text[i] is 'e' or 'E')
        {
            int save = i;
            i++;
            if (i < text.Length && text[i] is '+' or '-')
            {
                i++;
            }

            if (i >= text.Length || !char.IsAsciiDigit(text[i]))
            {
                i = save;
            }
            else
            {
                while (i < text.Length && char.IsAsciiDigit(text[i]))
                {
                    i++;
                }
            }
        }

        string literal = text[start..i];
        if (i < text.Length && (char.IsLetter(text[i]) || text[i] == '_'))
        {
            throw new ExpressionSyntaxException(i + 1, $"unexpected character '{text[i]}' after number {literal}");
        }

        if (!double.TryParse(literal, NumberStyles.AllowDecimalPoint | NumberStyles.AllowExponent, CultureInfo.InvariantCulture, out double value)
            || !double.IsFinite(value))
        {
            throw new ExpressionSyntaxException(start + 1, $"'{literal}' is not a valid number");
        }

        tokens.Add(new Token(TokenKind.Number, start + 1, literal, value));
        return i;
    }

    private static int LexString(string text, int i, List<Token> tokens)
    {
        char quote = text[i];
        int start = i;
        i++;
        var value = new System.Text.StringBuilder();
        while (true)
        {
            if (i >= text.Length)
            {
                throw new ExpressionSyntaxException(start + 1, "string is not terminated");
            }

            char c = text[i];
            if (c == quote)
            {
                i++;
                break;
            }

            if (c == '\\' && i + 1 < text.Length && (text[i + 1] == quote || text[i + 1] == '\\'))
            {
                value.Append(text[i + 1]);
                i += 2;
                continue;
            }

            value.Append(c);
            i++;
        }

        tokens.Add(new Token(TokenKind.String, start + 1, value.ToString(), 0));
        return i;
    }
}
