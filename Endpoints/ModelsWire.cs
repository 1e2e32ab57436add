namespace CodexApiServer.Endpoints;

public sealed record ModelObject(string Id, string Object, long Created, string OwnedBy);

public sealed record ModelList(string Object, IReadOnlyList<ModelObject> Data);
