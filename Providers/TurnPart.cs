namespace CodexApiServer.Providers;

// A closed set: the base and its cases live together.

/// <summary>One piece of a message's content.</summary>
public abstract record TurnPart;

public sealed record TextPart(string Text) : TurnPart;

/// <param name="Url">An http(s) URL, passed on as it is.</param>
public sealed record ImageUrlPart(string Url) : TurnPart;

/// <param name="MediaType">image/png, image/jpeg, image/gif or image/webp.</param>
public sealed record ImageDataPart(string MediaType, byte[] Data) : TurnPart;
