using System.Net;
using Zhizao.Hosting;

namespace Zhizao.Server.Tests;

public sealed class SecurityTests
{
    [Fact]
    public void Refuses_to_listen_off_loopback_without_a_token()
    {
        var e = Assert.Throws<InvalidOperationException>(() => ServerHost.Build(new PlatformOptions { Urls = "http://0.0.0.0:0", Demo = false, DataDirectory = Path.GetTempPath() }));
        Assert.Contains("without credentials", e.Message);
    }

    [Fact]
    public async Task With_a_token_the_api_requires_it_and_healthz_stays_open()
    {
        await using var node = await Node.StartAsync(o => o.ApiToken = "s3cret-token");
        using var anonymous = new HttpClient { BaseAddress = new Uri(node.Url + "/") };
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/assets")).StatusCode);
        anonymous.DefaultRequestHeaders.Add("Authorization", "Token wrong");
        Assert.Equal(HttpStatusCode.Unauthorized, (await anonymous.GetAsync("api/assets")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await anonymous.GetAsync("healthz")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("api/assets")).StatusCode);
    }
}
