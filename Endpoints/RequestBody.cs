using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>Reads a JSON request body with a source-generated type, turning every failure into a 400 or 413.</summary>
public static class RequestBody
{
    public static async Task<(T? Value, JsonHttpResult<ErrorBody>? Error)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type)
        where T : class
    {
        if (request.ContentType is { } contentType && !contentType.Contains("json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, OpenAIErrors.InvalidRequest($"Unsupported content type '{contentType}'; send application/json.", code: "invalid_content_type"));
        }
        try
        {
            // Whole, then checked, then deserialized: Kestrel has already capped the size (maxRequestBodyBytes).
            using var buffer = new MemoryStream(request.ContentLength is { } length and <= int.MaxValue ? (int)length : 4096);
            await request.Body.CopyToAsync(buffer, request.HttpContext.RequestAborted);
            var json = buffer.GetBuffer().AsSpan(0, (int)buffer.Length);
            if (Check(json) is { } bad)
            {
                return (null, bad.ToResult());
            }
            var value = JsonSerializer.Deserialize(json, type);
            return value is null
                ? (null, OpenAIErrors.InvalidRequest("The request body must be a JSON object.", code: "invalid_json"))
                : (value, null);
        }
        catch (JsonException e)
        {
            return (null, OpenAIErrors.FromJsonException(e));
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, TooLarge());
        }
    }

    public static JsonHttpResult<ErrorBody> TooLarge() =>
        OpenAIErrors.Result(StatusCodes.Status413PayloadTooLarge, OpenAIErrors.TooLargeMessage, "invalid_request_error", "request_too_large");

    private sealed record BadJson(string Message, string? Param)
    {
        public JsonHttpResult<ErrorBody> ToResult() => OpenAIErrors.InvalidRequest(Message, Param, "invalid_json");
    }

    /// <summary>
    /// What the JSON reader lets through but no field may hold: text that is not UTF-8 or whose escapes
    /// make a lone surrogate (either would fail later, deep in a handler or a CLI, as a 500), and a key
    /// given twice in one object (which value counts would be our guess). Null when the body is clean;
    /// a syntax error is left to the deserializer, which reports it the usual way.
    /// </summary>
    private static BadJson? Check(ReadOnlySpan<byte> json)
    {
        var reader = new Utf8JsonReader(json);
        var open = new List<Container>();
        string? property = null;
        try
        {
            while (reader.Read())
            {
                var token = reader.TokenType;
                if (token == JsonTokenType.PropertyName)
                {
                    property = Text(ref reader);
                    if (property is null)
                    {
                        return new BadJson("A key in the JSON body is not valid UTF-8 text (invalid bytes or a lone surrogate escape).", Param(open, null));
                    }
                    if (!open[^1].Keys!.Add(property))
                    {
                        return new BadJson($"The key '{property}' appears more than once in the same object of the JSON body.", Param(open, property));
                    }
                    continue;
                }
                if (token is JsonTokenType.EndObject or JsonTokenType.EndArray)
                {
                    open.RemoveAt(open.Count - 1);
                }
                else
                {
                    // A value starts: in an object it is the property just read, in an array the next index.
                    var name = open.Count == 0 ? null : open[^1].Keys is null ? $"[{open[^1].Index}]" : property;
                    if (token is JsonTokenType.StartObject or JsonTokenType.StartArray)
                    {
                        open.Add(new Container(name, token == JsonTokenType.StartObject ? new HashSet<string>(StringComparer.Ordinal) : null));
                        continue;
                    }
                    if (token == JsonTokenType.String && !IsValidText(ref reader))
                    {
                        var param = Param(open, name);
                        return new BadJson($"The value of '{param}' is not valid UTF-8 text (invalid bytes or a lone surrogate escape).", param);
                    }
                }
                if (open.Count > 0 && open[^1].Keys is null)
                {
                    open[^1].Index++;
                }
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return null;
    }

    /// <summary>An object (with the keys seen so far) or an array (with the index of its next value) not closed yet.</summary>
    private sealed class Container(string? name, HashSet<string>? keys)
    {
        public string? Name { get; } = name;
        public HashSet<string>? Keys { get; } = keys;
        public int Index { get; set; }
    }

    private static bool IsValidText(ref Utf8JsonReader reader) =>
        reader.ValueIsEscaped ? Text(ref reader) is not null : Utf8.IsValid(reader.ValueSpan);

    /// <summary>The token's text, or null when it is not valid Unicode (the reader checks that only when asked for the string).</summary>
    private static string? Text(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString();
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The field as our other errors name it: messages[0].content, metadata.note.</summary>
    private static string? Param(List<Container> open, string? last)
    {
        var all = new StringBuilder();
        foreach (var name in open.Select(c => c.Name).Append(last))
        {
            if (name is null)
            {
                continue;
            }
            if (all.Length > 0 && !name.StartsWith('['))
            {
                all.Append('.');
            }
            all.Append(name);
        }
        return all.Length == 0 ? null : all.ToString();
    }
}
