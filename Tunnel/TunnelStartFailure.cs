using System.ComponentModel;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using CodexApiServer.Children;
using CodexApiServer.Hosting;
using CodexApiServer.Providers;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;

namespace CodexApiServer.Tunnel;

/// <summary>Why a start request was refused; <c>Code</c> is the OpenAI error code.</summary>
public sealed record TunnelStartFailure(int StatusCode, string Code, string Message);
