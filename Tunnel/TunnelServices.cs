using CodexApiServer.Children;
using CodexApiServer.Hosting;
using Microsoft.AspNetCore.Hosting.Server;

namespace CodexApiServer.Tunnel;

public static class TunnelServices
{
    public static IServiceCollection AddTunnel(this IServiceCollection services)
    {
        services.AddSingleton<TunnelOptions>();
        services.AddSingleton<CloudflaredInstaller>();
        services.AddSingleton(sp => new TunnelManager(
            sp.GetRequiredService<ServerSettings>(),
            sp.GetRequiredService<ChildProcesses>(),
            sp.GetRequiredService<IServer>(),
            sp.GetRequiredService<IHostApplicationLifetime>(),
            sp.GetRequiredService<TunnelOptions>(),
            sp.GetRequiredService<CloudflaredInstaller>(),
            sp.GetRequiredService<ILogger<TunnelManager>>()));
        services.AddHostedService(sp => sp.GetRequiredService<TunnelManager>());
        return services;
    }
}
