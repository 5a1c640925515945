using Microsoft.Playwright;

namespace Gorgo.Mesh.Tests;

/// <summary>A test that needs headless Chromium: skipped when no Chromium is installed, except in CI (<c>CI=true</c>), where <c>.ci/run</c> installs Debian's package and a missing browser fails.</summary>
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        if (StatusPageBrowserTests.Chromium is null && Environment.GetEnvironmentVariable("CI") != "true")
        {
            Skip = "Chromium is not installed (apt-get install chromium; .ci/run does it).";
        }
    }
}

/// <summary>The status page rendered by a real browser against the running three-region mesh.</summary>
public class StatusPageBrowserTests(MeshFixture fixture) : IClassFixture<MeshFixture>
{
    /// <summary>Debian's Chromium (or <c>CHROMIUM_PATH</c>), when installed.</summary>
    public static string? Chromium { get; } =
        new[] { Environment.GetEnvironmentVariable("CHROMIUM_PATH"), "/usr/bin/chromium", "/usr/bin/chromium-browser" }
            .FirstOrDefault(p => !string.IsNullOrEmpty(p) && File.Exists(p));

    [BrowserFact]
    public async Task Page_shows_every_region_and_replica_and_the_decision_list_updates_after_a_request()
    {
        Assert.True(Chromium is not null, "Chromium is not installed: apt-get install chromium (CI installs it in .ci/run).");
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        });
        IPage page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 1400, Height = 900 } });
        page.SetDefaultTimeout(15_000);
        Uri node = fixture.Ingress("us-east");
        await page.GotoAsync(node.ToString());

        foreach (string region in fixture.Options.Regions.Keys)
        {
            await Assertions.Expect(page.Locator($"#regions tr[data-key='{region}']")).ToBeVisibleAsync();
        }

        foreach (var replica in fixture.Options.Replicas)
        {
            await Assertions.Expect(page.Locator($"#replicas tr[data-key='{replica.Id}']")).ToBeVisibleAsync();
        }

        await Assertions.Expect(page.Locator("#region")).ToHaveTextAsync("us-east");
        int before = await page.Locator("#decisions tbody tr").CountAsync();
        using (var http = new HttpClient { BaseAddress = node, Timeout = TimeSpan.FromSeconds(30) })
        {
            await NodeOperationsTests.SendAsync(http, 1, "us-east");
        }

        // The page polls every second: the new decision appears, finished, with its measured TTFT.
        await Assertions.Expect(page.Locator("#decisions tbody tr")).Not.ToHaveCountAsync(before == 50 ? 0 : before);
        await Assertions.Expect(page.Locator("#decisions tbody tr").First.Locator("td").Nth(9)).ToHaveTextAsync("ok");
        await Assertions.Expect(page.Locator("#decisions tbody tr").First.Locator("td").Nth(8)).ToHaveTextAsync(new System.Text.RegularExpressions.Regex(@"^\d+ ms$"));
        if (Environment.GetEnvironmentVariable("GORGO_SCREENSHOT") is { Length: > 0 } screenshot)
        {
            await page.ScreenshotAsync(new PageScreenshotOptions { Path = screenshot, FullPage = true });
        }
    }
}
