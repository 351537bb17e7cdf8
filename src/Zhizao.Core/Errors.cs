namespace Zhizao.Core;

/// <summary>
/// Base of Zhizao's small exception taxonomy. <see cref="IsTransient"/> tells callers whether a retry may help
/// (I/O, back-pressure) or whether the input itself is wrong.
/// </summary>
public class ZhizaoException : Exception
{
    public ZhizaoException(string message, Exception? inner = null) : base(message, inner) { }
    public virtual bool IsTransient => false;
}

/// <summary>The caller's input is wrong (bad format, wrong type, out of range). Retrying the same input will not help.</summary>
public sealed class InvalidInputException : ZhizaoException
{
    public InvalidInputException(string message, string? where = null) : base(where is null ? message : $"{where}: {message}")
    {
        Where = where;
    }

    public string? Where { get; }
}

/// <summary>Something that exists was asked for and is not there.</summary>
public sealed class NotFoundException(string message) : ZhizaoException(message);

/// <summary>The operation conflicts with existing state (duplicate name, type change of an existing series).</summary>
public sealed class ConflictException(string message) : ZhizaoException(message);

/// <summary>A resource is busy or full; retrying later may succeed.</summary>
public sealed class TransientException(string message, Exception? inner = null) : ZhizaoException(message, inner)
{
    public override bool IsTransient => true;
}
