using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Zhizao.Server.Tests;

public sealed class AssetApiTests
{
    private const string ModelYaml = """
        types:
          - id: pump
            name: Centrifugal pump
            tags:
              - name: flow
                dataType: Float64
                unit: m3/h
                rangeLow: 0
                rangeHigh: 200
              - name: state
                dataType: Int64
        assets:
          - id: acme
            name: Acme
            level: Enterprise
          - id: plant-1
            name: Plant 1
            level: Site
            parentId: acme
          - id: utilities
            name: Utilities
            level: Area
            parentId: plant-1
          - id: p-01
            name: Pump 1
            level: Equipment
            parentId: utilities
            typeId: pump
        """;

    internal static async Task ImportModelAsync(HttpClient http)
    {
        using var resp = await http.PostAsync("api/model/import", new StringContent(ModelYaml, Encoding.UTF8, "application/yaml"));
        Assert.True(resp.StatusCode == HttpStatusCode.OK, await resp.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Yaml_model_imports_and_exports_round_trip()
    {
        await using var node = await Node.StartAsync();
        await ImportModelAsync(node.Http);

        var assets = await node.Http.GetFromJsonAsync<JsonElement>("api/assets");
        Assert.Equal(4, assets.GetArrayLength());
        var type = await node.Http.GetFromJsonAsync<JsonElement>("api/types/pump");
        Assert.Equal("Int64", type.GetProperty("tags")[1].GetProperty("dataType").GetString());

        string yaml = await node.Http.GetStringAsync("api/model/export?format=yaml");
        Assert.Contains("p-01", yaml);

        await using var other = await Node.StartAsync();
        using var resp = await other.Http.PostAsync("api/model/import", new StringContent(yaml, Encoding.UTF8, "application/yaml"));
        Assert.Equal(HttpStatusCode.OK, resp.StatusCode);
        Assert.Equal(4, (await other.Http.GetFromJsonAsync<JsonElement>("api/assets")).GetArrayLength());
    }

    [Fact]
    public async Task Crud_answers_with_problem_details()
    {
        await using var node = await Node.StartAsync();
        await ImportModelAsync(node.Http);

        using (var created = await node.Http.PostAsJsonAsync("api/assets", new { id = "line-1", name = "Line 1", level = "Line", parentId = "utilities" }))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        using (var dup = await node.Http.PostAsJsonAsync("api/assets", new { id = "line-1", name = "Line 1", level = "Line", parentId = "utilities" }))
        {
            Assert.Equal(HttpStatusCode.Conflict, dup.StatusCode);
        }

        using (var bad = await node.Http.PostAsJsonAsync("api/assets", new { id = "x", name = "X", level = "Site", parentId = "p-01" }))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            var problem = await bad.Content.ReadFromJsonAsync<JsonElement>();
            Assert.Contains("cannot sit under 'p-01'", problem.GetProperty("detail").GetString());
        }

        using (var put = await node.Http.PutAsJsonAsync("api/assets/line-1", new { id = "line-1", name = "Line One", level = "Line", parentId = "utilities" }))
        {
            Assert.Equal(HttpStatusCode.OK, put.StatusCode);
        }

        Assert.Equal("Line One", (await node.Http.GetFromJsonAsync<JsonElement>("api/assets/line-1")).GetProperty("name").GetString());
        using (var del = await node.Http.DeleteAsync("api/assets/line-1"))
        {
            Assert.Equal(HttpStatusCode.NoContent, del.StatusCode);
        }

        using (var gone = await node.Http.GetAsync("api/assets/line-1"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        using (var inUse = await node.Http.DeleteAsync("api/types/pump"))
        {
            Assert.Equal(HttpStatusCode.Conflict, inUse.StatusCode);
        }
    }

    [Fact]
    public async Task Malformed_json_and_yaml_get_400_naming_the_place()
    {
        await using var node = await Node.StartAsync();
        using (var resp = await node.Http.PostAsync("api/assets", new StringContent("{\"id\": \"a\", \"name\": ", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        }

        using (var resp = await node.Http.PostAsync("api/model/import", new StringContent("types:\n  - id: [unclosed\n", Encoding.UTF8, "application/yaml")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
            Assert.Contains("line", (await resp.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString());
        }

        using (var resp = await node.Http.PostAsync("api/model/import", new StringContent("{\"types\": 5}", Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, resp.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await node.Http.GetAsync("healthz")).StatusCode);
    }
}
