using CodexApiServer.Providers;

namespace CodexApiServer.Endpoints;

/// <summary>
/// A prompt's size in tokens before any CLI has seen it. Neither CLI can count tokens without running a
/// turn, so this is an estimate: a token per 4 UTF-8 bytes of text, arguments and tool schemas, and
/// 1,600 per image (what a ~1.15-megapixel image costs on Claude); what the CLI then reports is exact.
/// </summary>
public static class TokenEstimate
{
    private const int BytesPerToken = 4;
    private const int PerImage = 1600;

    public static long Of(string? instructions, IEnumerable<TurnMessage> messages, IEnumerable<ToolDefinition>? tools)
    {
        long bytes = Bytes(instructions);
        long images = 0;
        foreach (var part in messages.SelectMany(m => m.Parts))
        {
            switch (part)
            {
                case TextPart text:
                    bytes += Bytes(text.Text);
                    break;
                case ToolCallPart call:
                    bytes += Bytes(call.Name) + Bytes(call.Arguments);
                    break;
                case ToolResultPart result:
                    bytes += Bytes(result.Output);
                    break;
                case ImageUrlPart or ImageDataPart:
                    images++;
                    break;
            }
        }
        foreach (var tool in tools ?? [])
        {
            bytes += Bytes(tool.Name) + Bytes(tool.Description) + Bytes(tool.Parameters.GetRawText());
        }
        return (bytes + BytesPerToken - 1) / BytesPerToken + images * PerImage;
    }

    private static int Bytes(string? text) => text is null ? 0 : System.Text.Encoding.UTF8.GetByteCount(text);
}
