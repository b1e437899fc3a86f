using McpTunnel.Configuration;
using McpTunnel.Gateway.Routing;

namespace McpTunnel.Tests.Gateway;

public sealed class RouteTableTests
{
    private static readonly RouteTable Table = new(new Dictionary<string, UpstreamTarget>
    {
        ["echo"] = new("http", "10.0.0.1", 1),
        ["a.b"] = new("http", "10.0.0.2", 2),
        ["echo.abcd.tunnel.example"] = new("http", "10.0.0.3", 3),
        ["wiki.internal.example"] = new("http", "10.0.0.4", 4),
    }, "abcd.tunnel.example");

    [Theory]
    [InlineData("echo.abcd.tunnel.example", "echo.abcd.tunnel.example")]
    [InlineData("ECHO.abcd.tunnel.example:443", "echo.abcd.tunnel.example")]
    [InlineData("a.b.abcd.tunnel.example", "a.b")]
    [InlineData("wiki.internal.example", "wiki.internal.example")]
    [InlineData("wiki.internal.example.", "wiki.internal.example")]
    [InlineData("echo", "echo")]
    public void Hosts_resolve_exact_key_first_then_the_stripped_subdomain(string host, string route)
    {
        Assert.True(Table.TryResolve(host, out var resolved));
        Assert.Equal(route, resolved.Name);
    }

    [Theory]
    [InlineData("nosuch.abcd.tunnel.example")]
    [InlineData("abcd.tunnel.example")]
    [InlineData("echo.other.example")]
    [InlineData("x.echo.abcd.tunnel.example")]
    [InlineData("")]
    public void Unknown_hosts_have_no_route(string host) => Assert.False(Table.TryResolve(host, out _));

    [Fact]
    public void Without_a_tunnel_domain_keys_are_full_host_names()
    {
        var table = new RouteTable(new Dictionary<string, UpstreamTarget> { ["echo"] = new("http", "10.0.0.1", 1) }, "");
        Assert.True(table.TryResolve("echo:8443", out _));
        Assert.False(table.TryResolve("echo.abcd.tunnel.example", out _));
    }
}

public sealed class McpRequestPeekTests
{
    [Theory]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"search","arguments":{"name":"not-this","q":[1,{"name":"nor-this"}]}}}""", "tools/call", "search")]
    [InlineData("""{"params":{"arguments":{"x":1},"name":"fetch"},"method":"tools/call","id":2}""", "tools/call", "fetch")]
    [InlineData("""{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"name":"ignored"}}""", "initialize", null)]
    [InlineData("""[{"method":"tools/list"}]""", null, null)]
    [InlineData("""not json""", null, null)]
    public void The_method_and_tool_name_are_read_without_the_payload(string json, string? method, string? tool) =>
        Assert.Equal((method, tool), McpTunnel.Gateway.Forwarding.McpRequestPeek.Parse(System.Text.Encoding.UTF8.GetBytes(json)));
}
