namespace CodexApiServer.Storage;

public sealed record HourTotals(long Hour, long Requests, long Errors, long Tokens);
