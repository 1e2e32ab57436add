using System.Net.Sockets;
using CodexApiServer.Storage;

namespace CodexApiServer.Hosting;

public static class StartupChecks
{
    /// <summary>Opens the database and binds the port, turning the usual failures into one line the user can act on.</summary>
    public static async Task StartListeningAsync(this WebApplication app, ServerSettings settings)
    {
        app.Services.GetRequiredService<Database>();
        try
        {
            await app.StartAsync();
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.AddressAlreadyInUse } || e.Message.Contains("address already in use", StringComparison.OrdinalIgnoreCase))
        {
            throw new StartupException($"port {settings.Port} on {settings.Host} is already in use; stop the program using it or choose another with --port N");
        }
        catch (Exception e) when (e is IOException or SocketException)
        {
            throw new StartupException($"cannot listen on {settings.Host}:{settings.Port} ({e.Message}); choose another with --host H or --port N");
        }
    }
}
