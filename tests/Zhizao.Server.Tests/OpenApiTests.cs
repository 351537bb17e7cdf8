namespace Zhizao.Server.Tests;

public sealed class OpenApiTests
{
    /// <summary>The committed docs/openapi.json must match what the server publishes. UPDATE_OPENAPI=1 rewrites it.</summary>
    [Fact]
    public async Task Committed_openapi_document_matches_the_server()
    {
        await using var node = await Node.StartAsync();
        string live = (await node.Http.GetStringAsync("openapi/v1.json")).ReplaceLineEndings("\n").Trim() + "\n";
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Zhizao.slnx")))
        {
            dir = dir.Parent;
        }

        Assert.NotNull(dir);
        string path = Path.Combine(dir.FullName, "docs", "openapi.json");
        if (Environment.GetEnvironmentVariable("UPDATE_OPENAPI") == "1")
        {
            await File.WriteAllTextAsync(path, live);
        }

        Assert.True(File.Exists(path), "docs/openapi.json is missing: run the tests once with UPDATE_OPENAPI=1");
        Assert.Equal(await File.ReadAllTextAsync(path), live);
    }
}
