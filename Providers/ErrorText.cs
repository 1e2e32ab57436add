using System.Buffers;

namespace CodexApiServer.Providers;

/// <summary>What of a CLI's error text may reach a caller with an API key.</summary>
internal static class ErrorText
{
    private const string Removed = "(address removed)";
    private static readonly SearchValues<char> UrlEnd = SearchValues.Create(" \t\n\r\"'<>),");

    /// <summary>
    /// The text without the addresses of model servers the operator configured: codex ends an upstream
    /// error with ", url: ...", and either CLI may name the server elsewhere ("error sending request for
    /// url (http://10.0.0.5/v1/responses)", "connect ECONNREFUSED 10.0.0.5:443"). The log keeps them.
    /// </summary>
    public static string WithoutAddresses(string message)
    {
        const string Marker = ", url: ";
        var at = message.IndexOf(Marker, StringComparison.Ordinal);
        if (at >= 0)
        {
            var end = message.AsSpan(at + Marker.Length).IndexOfAny(" ,)\n");
            message = end < 0 ? message[..at] : message[..at] + message[(at + Marker.Length + end)..];
        }
        // Bounded: each pass removes one address or stops.
        for (var i = 0; i < 32 && FindAddress(message) is var (start, length) && length > 0; i++)
        {
            message = message[..start] + Removed + message[(start + length)..];
        }
        return message;
    }

    /// <summary>The first URL (scheme://...) or IPv4 address (with its port) in the text, or length 0.</summary>
    private static (int Start, int Length) FindAddress(string text)
    {
        var scheme = text.IndexOf("://", StringComparison.Ordinal);
        if (scheme > 0)
        {
            var start = scheme;
            while (start > 0 && char.IsAsciiLetter(text[start - 1]))
            {
                start--;
            }
            if (start < scheme)
            {
                return (start, TokenEnd(text, scheme + 3) - start);
            }
        }
        for (var i = 0; i < text.Length; i++)
        {
            if (char.IsAsciiDigit(text[i]) && (i == 0 || !char.IsAsciiLetterOrDigit(text[i - 1]) && text[i - 1] != '.') && IsIPv4At(text, i, out var end))
            {
                if (end < text.Length - 1 && text[end] == ':' && char.IsAsciiDigit(text[end + 1]))
                {
                    end++;
                    while (end < text.Length && char.IsAsciiDigit(text[end]))
                    {
                        end++;
                    }
                }
                return (i, end - i);
            }
        }
        return (0, 0);
    }

    private static bool IsIPv4At(string text, int i, out int end)
    {
        end = i;
        for (var part = 0; part < 4; part++)
        {
            var digits = 0;
            while (end < text.Length && char.IsAsciiDigit(text[end]) && digits < 3)
            {
                end++;
                digits++;
            }
            if (digits == 0 || (part < 3 && (end >= text.Length || text[end] != '.')))
            {
                return false;
            }
            if (part < 3)
            {
                end++;
            }
        }
        return end >= text.Length || !char.IsAsciiDigit(text[end]) && (text[end] != '.' || end + 1 >= text.Length || !char.IsAsciiDigit(text[end + 1]));
    }

    private static int TokenEnd(string text, int from)
    {
        var end = text.AsSpan(from).IndexOfAny(UrlEnd);
        return end < 0 ? text.Length : from + end;
    }
}
