using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using CodexApiServer.Security;
using CodexApiServer.Storage;
using Microsoft.AspNetCore.Http.HttpResults;

namespace CodexApiServer.Endpoints;

/// <summary>Responses still running (foreground or background), so the cancel route can stop them.</summary>
public sealed class ResponseRegistry
{
    private readonly ConcurrentDictionary<string, Entry> _running = new(StringComparer.Ordinal);

    private sealed record Entry(CancellationTokenSource Cts, TaskCompletionSource<ResponseObject> Done);

    public CancellationTokenSource Register(string id, CancellationToken linked)
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(linked);
        _running[id] = new Entry(cts, new TaskCompletionSource<ResponseObject>(TaskCreationOptions.RunContinuationsAsynchronously));
        return cts;
    }

    public void Complete(string id, ResponseObject final)
    {
        if (_running.TryRemove(id, out var entry))
        {
            entry.Done.TrySetResult(final);
            entry.Cts.Dispose();
        }
    }

    /// <summary>Stops a running response and waits for its final state; null when it is not running here.</summary>
    public async Task<ResponseObject?> CancelAsync(string id)
    {
        if (!_running.TryGetValue(id, out var entry))
        {
            return null;
        }
        try
        {
            await entry.Cts.CancelAsync();
        }
        catch (ObjectDisposedException)
        {
            // It finished meanwhile; its final state is in Done.
        }
        return await entry.Done.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    public void CancelAll()
    {
        foreach (var entry in _running.Values)
        {
            try
            {
                entry.Cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }
    }
}

public static partial class ResponsesApi
{
    private static readonly JsonElement AutoToolChoice = JsonDocument.Parse("\"auto\"").RootElement.Clone();
    private static readonly JsonElement TextFormat = JsonDocument.Parse("""{"type":"text"}""").RootElement.Clone();
    private static readonly string[] InputRoles = ["user", "system", "developer", "assistant"];

    public static IEndpointRouteBuilder MapResponsesApi(this IEndpointRouteBuilder routes)
    {
        var group = routes.MapGroup("/v1/responses").RequireScope(RequiredScope.Responses);
        group.MapPost("/", Create);
        group.MapGet("/", List);
        group.MapGet("/{id}", Get);
        group.MapDelete("/{id}", Delete);
        group.MapGet("/{id}/input_items", InputItems);
        group.MapPost("/{id}/cancel", Cancel);
        var registry = routes.ServiceProvider.GetRequiredService<ResponseRegistry>();
        routes.ServiceProvider.GetRequiredService<IHostApplicationLifetime>().ApplicationStopping.Register(registry.CancelAll);
        return routes;
    }

    private sealed record ParsedRequest(
        string Model,
        string? Instructions,
        List<TurnMessage> Messages,
        List<InputItem> Items,
        string? Effort,
        string? Summary,
        JsonElement? Schema,
        JsonElement Format,
        Dictionary<string, string> Metadata,
        ResponsesRequest Body);

    private static async Task<IResult> Create(HttpContext context, ProviderRouter router, TurnDriver driver, ResponseStore store, ResponseRegistry registry, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("CodexApiServer.Responses");
        var (body, readError) = await RequestBody.ReadAsync(context.Request, ApiJsonContext.Wire.ResponsesRequest);
        if (readError is not null)
        {
            return readError;
        }
        var info = RequestInfo.Of(context);
        // Chosen first: the input and output item ids are derived from it (see ItemId).
        var responseId = TurnInput.NewId("resp_");
        ParsedRequest p;
        try
        {
            p = Parse(body!, router.DefaultModel, responseId, (id, path) => ResolveReference(store, info, id, path));
        }
        catch (InputException e)
        {
            return e.ToApiError().ToResult(context);
        }
        info.Model = p.Model;
        var background = body!.Background == true;
        var save = body.Store != false;
        var stream = body.Stream == true;
        if (background && !save)
        {
            return new ApiError(400, "Background responses must be stored: drop 'store': false.", "invalid_request_error", "invalid_value", "background").ToResult(context);
        }
        if (background && stream)
        {
            return new ApiError(400, "Streaming a background response is not supported by this server; poll GET /v1/responses/{id} instead.", "invalid_request_error", "invalid_value", "stream").ToResult(context);
        }

        StoredResponse? previous = null;
        if (body.PreviousResponseId is { } previousId)
        {
            previous = store.Get(previousId);
            if (previous is null || !Visible(previous, info))
            {
                return new ApiError(404, $"Previous response with id '{previousId}' not found.", "invalid_request_error", "not_found", "previous_response_id").ToResult(context);
            }
            if (previous.Status is "queued" or "in_progress")
            {
                return new ApiError(400, $"Previous response with id '{previousId}' is still {previous.Status}; wait for it to finish.", "invalid_request_error", "invalid_value", "previous_response_id").ToResult(context);
            }
        }

        if (ModelCheck.Error(p.Model) is { } modelError)
        {
            return modelError.ToResult(context);
        }
        var (route, routeError) = router.Resolve(p.Model);
        if (route is null)
        {
            return ProviderErrors.ToApiError(routeError!).ToResult(context);
        }
        info.Provider = route.Model.Provider.ToString().ToLowerInvariant();

        // Continue the previous response's live session with only the new input; if it is gone, replay the chain.
        var history = previous is null ? [] : History(store, previous);
        var full = new TurnRequest(route.Model, p.Instructions, [.. history, .. p.Messages], p.Effort, p.Schema);
        var request = full;
        TurnRequest? replay = null;
        if (previous?.SessionId is { } sessionId && previous.Model == p.Model)
        {
            request = full with { Messages = p.Messages, SessionId = sessionId };
            replay = full;
        }

        var response = NewResponse(responseId, p, background ? "queued" : "in_progress", background, save);
        var row = new StoredResponse(response.Id, "response", response.CreatedAt, response.Status, p.Model, info.Provider, info.ApiKeyId,
            body.PreviousResponseId, null, JsonSerializer.Serialize(p.Items, ApiJsonContext.Wire.ListInputItem), "");
        void Persist(ResponseObject r, string? session)
        {
            if (save)
            {
                store.Save(row with { Status = r.Status, SessionId = session, BodyJson = JsonSerializer.Serialize(r, ApiJsonContext.Wire.ResponseObject) });
            }
        }
        Persist(response, null);

        var job = new TurnJob(route, request, replay, stream);
        var encoder = new ResponseEncoder(response, p.Summary is not null);
        if (background)
        {
            var cts = registry.Register(response.Id, CancellationToken.None);
            _ = Task.Run(() => RunBackgroundAsync(driver, registry, job, encoder, cts, Persist, logger), CancellationToken.None);
            return TypedResults.Json(response, ApiJsonContext.Wire.ResponseObject);
        }

        var foreground = registry.Register(response.Id, context.RequestAborted);
        try
        {
            var outcome = await driver.RunAsync(job, encoder, context, foreground.Token,
                onEnded: end => Persist(encoder.Response, end.SessionId ?? request.SessionId));
            return outcome switch
            {
                { Streamed: true } => Results.Empty,
                { Error: { } error } => error.ToResult(context),
                _ => TypedResults.Json(encoder.Response, ApiJsonContext.Wire.ResponseObject),
            };
        }
        finally
        {
            registry.Complete(response.Id, encoder.Response);
        }
    }

    private static async Task RunBackgroundAsync(TurnDriver driver, ResponseRegistry registry, TurnJob job, ResponseEncoder encoder, CancellationTokenSource cts,
        Action<ResponseObject, string?> persist, ILogger logger)
    {
        var final = encoder.Response;
        try
        {
            await driver.RunAsync(job, encoder, null, cts.Token,
                onSlot: () => persist(encoder.Response with { Status = "in_progress" }, null),
                onEnded: end => persist(encoder.Response, end.SessionId ?? job.Request.SessionId));
            final = encoder.Response;
        }
        catch (Exception e)
        {
            LogBackgroundFailed(logger, final.Id, e.GetType().Name, e.Message);
            final = final with { Status = "failed", Error = new ResponseError("server_error", "The server had an error while running this response.") };
            persist(final, null);
        }
        finally
        {
            registry.Complete(final.Id, final);
        }
    }

    private static ResponseObject NewResponse(string id, ParsedRequest p, string status, bool background, bool store) => new(
        id, "response", DateTimeOffset.UtcNow.ToUnixTimeSeconds(), status, background, null, null, null,
        p.Body.Instructions, p.Body.MaxOutputTokens, p.Model, [], "", p.Body.ParallelToolCalls ?? true, p.Body.PreviousResponseId,
        new ReasoningConfig(p.Effort, p.Summary), store, p.Body.Temperature ?? 1.0, new TextConfig(p.Format),
        p.Body.ToolChoice.ValueKind is JsonValueKind.String or JsonValueKind.Object ? p.Body.ToolChoice.Clone() : AutoToolChoice,
        [], p.Body.TopP ?? 1.0, "disabled", p.Body.User, p.Metadata, null);

    /// <summary>The conversation up to and including <paramref name="last"/>: each turn's input, then its answer.</summary>
    private static List<TurnMessage> History(ResponseStore store, StoredResponse last)
    {
        var chain = new List<StoredResponse>();
        for (var r = last; r is not null && chain.Count < 1000; r = r.PreviousResponseId is { } id ? store.Get(id) : null)
        {
            chain.Add(r);
        }
        chain.Reverse();
        var messages = new List<TurnMessage>();
        foreach (var r in chain)
        {
            var items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
            foreach (var item in items)
            {
                try
                {
                    messages.Add(TurnInput.FromItem(item));
                }
                catch (InputException)
                {
                    // Stored by an earlier version in a form we no longer read; the rest of the history still helps.
                }
            }
            if (r.BodyJson.Length > 0 && JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body)
            {
                var answer = string.Concat(body.Output.Where(o => o.Type == "message").SelectMany(o => o.Content ?? []).Select(c => c.Text));
                if (answer.Length > 0)
                {
                    messages.Add(new TurnMessage("assistant", [new TextPart(answer)]));
                }
            }
        }
        return messages;
    }

    /// <param name="resolve">Looks up an item_reference: the message it stands for, null for an item that adds nothing (reasoning).</param>
    /// <param name="defaultModel">For a request without a model: the original product documents <c>model</c> as optional.</param>
    private static ParsedRequest Parse(ResponsesRequest body, string defaultModel, string responseId, Func<string, string, TurnMessage?> resolve)
    {
        body = body with { Model = string.IsNullOrEmpty(body.Model) ? defaultModel : body.Model };
        TurnInput.CheckIgnoredFields([.. body.Ignored ?? [], new("tool_choice", body.ToolChoice)]);
        var messages = new List<TurnMessage>();
        switch (body.Input.ValueKind)
        {
            case JsonValueKind.String:
                messages.Add(TurnMessage.User(body.Input.GetString()!));
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in body.Input.EnumerateArray())
                {
                    if (ParseItem(item, $"input[{i}]", resolve) is { } message)
                    {
                        messages.Add(message);
                    }
                    i++;
                }
                break;
            case JsonValueKind.Undefined or JsonValueKind.Null:
                throw new InputException("Missing required parameter: 'input'.", "input", "missing_required_parameter");
            default:
                throw new InputException("Invalid type for 'input': expected a string or an array of input items.", "input", "invalid_type");
        }
        if (messages.Count == 0)
        {
            throw new InputException("Invalid 'input': expected at least one input item.", "input", "empty_array");
        }
        var items = messages.Select((m, index) => TurnInput.ToItem(m, ItemId("msg_", responseId, "i", index))).ToList();

        // Leading system/developer input items join the instructions, as chat's leading system messages do.
        var instructions = new List<string>();
        if (!string.IsNullOrEmpty(body.Instructions))
        {
            instructions.Add(body.Instructions);
        }
        var lead = messages.TakeWhile(m => m.Role is "system" or "developer").ToList();
        if (lead.Count < messages.Count)
        {
            instructions.AddRange(lead.Select(m => string.Concat(m.Parts.OfType<TextPart>().Select(t => t.Text))));
            messages = messages.Skip(lead.Count).ToList();
        }

        string? effort = null;
        string? summary = null;
        if (body.Reasoning.ValueKind == JsonValueKind.Object)
        {
            if (body.Reasoning.TryGetProperty("effort", out var e) && e.ValueKind != JsonValueKind.Null)
            {
                effort = TurnInput.ReasoningEffort(e.ValueKind == JsonValueKind.String ? e.GetString() : e.GetRawText(), "reasoning.effort");
            }
            if (body.Reasoning.TryGetProperty("summary", out var s) && s.ValueKind == JsonValueKind.String)
            {
                summary = s.GetString();
            }
        }
        else if (body.Reasoning.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null))
        {
            throw new InputException("Invalid type for 'reasoning': expected an object.", "reasoning", "invalid_type");
        }

        JsonElement? schema = null;
        var format = TextFormat;
        if (body.Text.ValueKind == JsonValueKind.Object && body.Text.TryGetProperty("format", out var f) && f.ValueKind != JsonValueKind.Null)
        {
            schema = TurnInput.OutputSchema(f, "text.format", flat: true);
            format = f.Clone();
        }
        else if (body.Text.ValueKind is not (JsonValueKind.Undefined or JsonValueKind.Null or JsonValueKind.Object))
        {
            throw new InputException("Invalid type for 'text': expected an object.", "text", "invalid_type");
        }

        return new ParsedRequest(body.Model, instructions.Count > 0 ? string.Join("\n\n", instructions) : null, messages, items,
            effort, summary, schema, format, ParseMetadata(body.Metadata), body);
    }

    private static Dictionary<string, string> ParseMetadata(JsonElement metadata)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        if (metadata.ValueKind is JsonValueKind.Undefined or JsonValueKind.Null)
        {
            return result;
        }
        if (metadata.ValueKind != JsonValueKind.Object)
        {
            throw new InputException("Invalid type for 'metadata': expected an object with string values.", "metadata", "invalid_type");
        }
        foreach (var property in metadata.EnumerateObject())
        {
            if (property.Name.Length > 64)
            {
                throw new InputException($"Invalid 'metadata': key '{property.Name[..20]}...' is longer than 64 characters.", "metadata");
            }
            if (property.Value.ValueKind != JsonValueKind.String)
            {
                throw new InputException($"Invalid type for 'metadata.{property.Name}': expected a string.", $"metadata.{property.Name}", "invalid_type");
            }
            var value = property.Value.GetString()!;
            if (value.Length > 512)
            {
                throw new InputException($"Invalid 'metadata.{property.Name}': longer than 512 characters.", $"metadata.{property.Name}");
            }
            result[property.Name] = value;
        }
        if (result.Count > 16)
        {
            throw new InputException("Invalid 'metadata': at most 16 keys are allowed.", "metadata");
        }
        return result;
    }

    private static TurnMessage? ParseItem(JsonElement item, string path, Func<string, string, TurnMessage?> resolve)
    {
        if (item.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an input item object.", path, "invalid_type");
        }
        var type = Str(item, "type") ?? (item.TryGetProperty("role", out _) ? "message" : null);
        switch (type)
        {
            case "message":
                var role = Str(item, "role") ?? throw new InputException($"Missing required parameter: '{path}.role'.", path + ".role", "missing_required_parameter");
                if (!InputRoles.Contains(role))
                {
                    throw new InputException($"Invalid value: '{role}'. Supported values are: 'user', 'assistant', 'system' and 'developer'.", path + ".role");
                }
                var parts = new List<TurnPart>();
                if (!item.TryGetProperty("content", out var content) || content.ValueKind is JsonValueKind.Null)
                {
                    throw new InputException($"Missing required parameter: '{path}.content'.", path + ".content", "missing_required_parameter");
                }
                if (content.ValueKind == JsonValueKind.String)
                {
                    parts.Add(new TextPart(content.GetString()!));
                }
                else if (content.ValueKind == JsonValueKind.Array)
                {
                    var j = 0;
                    foreach (var part in content.EnumerateArray())
                    {
                        parts.Add(ParseContent(part, $"{path}.content[{j}]"));
                        j++;
                    }
                }
                else
                {
                    throw new InputException($"Invalid type for '{path}.content': expected a string or an array of content parts.", path + ".content", "invalid_type");
                }
                return new TurnMessage(role, parts);
            case "function_call":
                // No tool events in the provider contract: earlier calls travel as text so the history stays whole.
                return new TurnMessage("assistant", [new TextPart($"[called tool {Str(item, "name")} with arguments {Str(item, "arguments")}]")]);
            case "function_call_output":
                var output = item.TryGetProperty("output", out var o) ? (o.ValueKind == JsonValueKind.String ? o.GetString() : o.GetRawText()) : "";
                return new TurnMessage("tool", [new TextPart($"[result of tool call {Str(item, "call_id")}] {output}")]);
            case "reasoning":
                return null;
            case "item_reference":
                // Clients that keep store on (the Vercel AI SDK) send earlier output back by id alone.
                return resolve(Str(item, "id") ?? throw new InputException($"Missing required parameter: '{path}.id'.", path + ".id", "missing_required_parameter"), path + ".id");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Input items of type '{type}' are not supported by this server; send messages.", path + ".type");
        }
    }

    private static TurnPart ParseContent(JsonElement part, string path)
    {
        if (part.ValueKind != JsonValueKind.Object)
        {
            throw new InputException($"Invalid type for '{path}': expected an object.", path, "invalid_type");
        }
        var type = Str(part, "type");
        switch (type)
        {
            case "input_text" or "output_text" or "text":
                return Str(part, "text") is { } text
                    ? new TextPart(text)
                    : throw new InputException($"Missing required parameter: '{path}.text'.", path + ".text", "missing_required_parameter");
            case "refusal":
                return new TextPart(Str(part, "refusal") ?? "");
            case "input_image":
                if (part.TryGetProperty("file_id", out var fileId) && fileId.ValueKind == JsonValueKind.String)
                {
                    throw new InputException("Images by file_id are not supported by this server; send image_url (http(s) or data: URL).", path + ".file_id");
                }
                return TurnInput.Image(Str(part, "image_url"), path + ".image_url");
            case "input_file" or "input_audio":
                throw new InputException($"Content parts of type '{type}' are not supported by this server; send text or images.", path + ".type");
            case null:
                throw new InputException($"Missing required parameter: '{path}.type'.", path + ".type", "missing_required_parameter");
            default:
                throw new InputException($"Invalid value: '{type}'. Supported values are: 'input_text', 'input_image' and 'output_text'.", path + ".type");
        }
    }

    private static string? Str(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    /// <summary>
    /// Item ids carry their response's id ("msg_" + the hex of "resp_…" + "_o1"), so an item_reference
    /// finds its stored response by primary key, with no index of items.
    /// </summary>
    /// <param name="side">"i" for an input item, "o" for an output item.</param>
    private static string ItemId(string prefix, string responseId, string side, int index) =>
        $"{prefix}{responseId["resp_".Length..]}_{side}{index}";

    private static TurnMessage? ResolveReference(ResponseStore store, RequestInfo info, string id, string path)
    {
        var hexStart = id.IndexOf('_', StringComparison.Ordinal) + 1;
        var hexEnd = id.IndexOf('_', hexStart);
        var stored = hexStart > 0 && hexEnd > hexStart ? store.Get("resp_" + id[hexStart..hexEnd]) : null;
        if (stored is not null && Visible(stored, info))
        {
            if (stored.BodyJson.Length > 0 && JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject) is { } body
                && body.Output.FirstOrDefault(o => o.Id == id) is { } output)
            {
                return output.Type == "message"
                    ? new TurnMessage(output.Role ?? "assistant", [new TextPart(string.Concat((output.Content ?? []).Select(c => c.Text)))])
                    : null; // a reasoning summary: the model's own notes, not conversation
            }
            if ((JsonSerializer.Deserialize(stored.InputJson, ApiJsonContext.Wire.ListInputItem) ?? []).FirstOrDefault(i => i.Id == id) is { } input)
            {
                return TurnInput.FromItem(input);
            }
        }
        throw new InputException($"Item with id '{id}' not found.", path, "not_found");
    }

    private static bool Visible(StoredResponse r, RequestInfo info) => info.CanSee(r.ApiKeyId);

    private static ApiError NotFound(string id) => new(404, $"Response with id '{id}' not found.", "invalid_request_error", "not_found");

    private static Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>> Get(string id, HttpContext context, ResponseStore store) =>
        store.Get(id) is { } r && Visible(r, RequestInfo.Of(context))
            ? TypedResults.Json(JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!, ApiJsonContext.Wire.ResponseObject)
            : NotFound(id).ToResult(context);

    private static async Task<Results<JsonHttpResult<DeletedObject>, JsonHttpResult<ErrorBody>>> Delete(string id, HttpContext context, ResponseStore store, ResponseRegistry registry, ProviderRouter router)
    {
        if (store.Get(id) is not { } r || !Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        await registry.CancelAsync(id);
        store.Delete(id);
        // What was deleted must not live on in the CLI's own files.
        if (r.SessionId is { } session)
        {
            await router.DeleteSessionAsync(r.Provider, session);
        }
        return TypedResults.Json(new DeletedObject(id, "response", true), ApiJsonContext.Wire.DeletedObject);
    }

    private static async Task<Results<JsonHttpResult<ResponseObject>, JsonHttpResult<ErrorBody>>> Cancel(string id, HttpContext context, ResponseStore store, ResponseRegistry registry)
    {
        var stored = store.Get(id);
        if (stored is not null && !Visible(stored, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        if (await registry.CancelAsync(id) is { } cancelled)
        {
            return TypedResults.Json(cancelled, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored is null)
        {
            return NotFound(id).ToResult(context);
        }
        var body = JsonSerializer.Deserialize(stored.BodyJson, ApiJsonContext.Wire.ResponseObject)!;
        if (stored.Status is "queued" or "in_progress")
        {
            // Left over from a server that stopped mid-turn: nothing runs it any more.
            body = body with { Status = "cancelled" };
            store.Save(stored with { Status = "cancelled", BodyJson = JsonSerializer.Serialize(body, ApiJsonContext.Wire.ResponseObject) });
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        if (stored.Status == "cancelled")
        {
            return TypedResults.Json(body, ApiJsonContext.Wire.ResponseObject);
        }
        return new ApiError(400, $"Cannot cancel a response with status '{stored.Status}'.", "invalid_request_error", "invalid_value").ToResult(context);
    }

    private static (int Limit, bool Ascending, ApiError? Error) Paging(HttpRequest request)
    {
        var limit = 20;
        if (request.Query["limit"] is { Count: > 0 } l && (!int.TryParse(l[0], out limit) || limit is < 1 or > 100))
        {
            return (0, false, new ApiError(400, "Invalid 'limit': expected an integer between 1 and 100.", "invalid_request_error", "invalid_value", "limit"));
        }
        var order = request.Query["order"] is { Count: > 0 } o ? o[0] : "desc";
        if (order is not ("asc" or "desc"))
        {
            return (0, false, new ApiError(400, "Invalid 'order': expected 'asc' or 'desc'.", "invalid_request_error", "invalid_value", "order"));
        }
        return (limit, order == "asc", null);
    }

    private static Results<JsonHttpResult<ResponseList>, JsonHttpResult<ErrorBody>> List(HttpContext context, ResponseStore store)
    {
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        var info = RequestInfo.Of(context);
        StoredResponse? after = null;
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            after = store.Get(a[0]!);
            if (after is null || !Visible(after, info))
            {
                return new ApiError(404, $"Response with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
        }
        var (rows, hasMore) = store.List(info.OwnerFilter, limit, after, ascending);
        var data = rows.Select(r => JsonSerializer.Deserialize(r.BodyJson, ApiJsonContext.Wire.ResponseObject)!).ToList();
        return TypedResults.Json(new ResponseList("list", data, data.FirstOrDefault()?.Id, data.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.ResponseList);
    }

    private static Results<JsonHttpResult<InputItemList>, JsonHttpResult<ErrorBody>> InputItems(string id, HttpContext context, ResponseStore store)
    {
        if (store.Get(id) is not { } r || !Visible(r, RequestInfo.Of(context)))
        {
            return NotFound(id).ToResult(context);
        }
        var (limit, ascending, error) = Paging(context.Request);
        if (error is not null)
        {
            return error.ToResult(context);
        }
        IEnumerable<InputItem> items = JsonSerializer.Deserialize(r.InputJson, ApiJsonContext.Wire.ListInputItem) ?? [];
        if (!ascending)
        {
            items = items.Reverse();
        }
        if (context.Request.Query["after"] is { Count: > 0 } a && !string.IsNullOrEmpty(a[0]))
        {
            var list = items.ToList();
            var index = list.FindIndex(i => i.Id == a[0]);
            if (index < 0)
            {
                return new ApiError(404, $"Input item with id '{a[0]}' (after) not found.", "invalid_request_error", "not_found", "after").ToResult(context);
            }
            items = list.Skip(index + 1);
        }
        var page = items.Take(limit + 1).ToList();
        var hasMore = page.Count > limit;
        page = page.Take(limit).ToList();
        return TypedResults.Json(new InputItemList("list", page, page.FirstOrDefault()?.Id, page.LastOrDefault()?.Id, hasMore), ApiJsonContext.Wire.InputItemList);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "background response {ResponseId} failed: {ErrorType} {Reason}")]
    private static partial void LogBackgroundFailed(ILogger logger, string responseId, string errorType, string reason);
}
