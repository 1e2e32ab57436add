namespace CodexApiServer.Endpoints;

public sealed record DeletedObject(string Id, string Object, bool Deleted);
