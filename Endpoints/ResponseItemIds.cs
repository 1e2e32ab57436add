namespace CodexApiServer.Endpoints;

/// <summary>
/// Item ids carry their response's id ("msg_" + the hex of "resp_…" + "_o1"), so an item_reference
/// finds its stored response by primary key, with no index of items.
/// </summary>
public static class ResponseItemIds
{
    public static string Output(string prefix, string responseId, int index) => Make(prefix, responseId, "o", index);

    public static string Input(string prefix, string responseId, int index) => Make(prefix, responseId, "i", index);

    /// <summary>The id of the response an item id belongs to, or null when it is not one of ours.</summary>
    public static string? ResponseIdOf(string itemId)
    {
        var hexStart = itemId.IndexOf('_', StringComparison.Ordinal) + 1;
        var hexEnd = itemId.IndexOf('_', hexStart);
        return hexStart > 0 && hexEnd > hexStart ? "resp_" + itemId[hexStart..hexEnd] : null;
    }

    private static string Make(string prefix, string responseId, string side, int index) => $"{prefix}{responseId["resp_".Length..]}_{side}{index}";
}
