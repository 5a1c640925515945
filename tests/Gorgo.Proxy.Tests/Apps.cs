using Microsoft.AspNetCore.Builder;

namespace Gorgo.Proxy.Tests;

/// <summary>Helpers for the web applications a test fixture runs.</summary>
internal static class Apps
{
    /// <summary>Stops and disposes each application that was built, in the order given.</summary>
    public static async Task StopAllAsync(params WebApplication?[] apps)
    {
        foreach (WebApplication? app in apps)
        {
            if (app is not null)
            {
                await app.StopAsync();
                await app.DisposeAsync();
            }
        }
    }
}
