using McpTunnel.Credentials;

namespace McpTunnel.Tests.Credentials;

public sealed class SetupInputTests
{
    private static SetupIdentity Resolve(params (string Name, string Value)[] environment)
    {
        var values = environment.ToDictionary(e => e.Name, e => e.Value);
        return SetupIdentity.Resolve(name => values.GetValueOrDefault(name));
    }

    private static IReadOnlyList<string> Problems(params (string Name, string Value)[] environment) =>
        Assert.Throws<SetupInputException>(() => Resolve(environment)).Problems;

    private const string Rule = "fdrl_01abc";
    private const string Org = "4c1f7e39-3b0a-4f43-9d47-9c3b2f8e1a10";

    [Fact]
    public void Federation_needs_rule_organization_and_exactly_one_token_source()
    {
        var identity = Assert.IsType<SetupIdentity.Federation>(Resolve(("ANTHROPIC_FEDERATION_RULE_ID", Rule), ("ANTHROPIC_ORGANIZATION_ID", Org), ("ANTHROPIC_IDENTITY_TOKEN", "jwt")));
        Assert.Equal("jwt", identity.ReadAssertion());
        Assert.DoesNotContain("jwt", identity.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Every_missing_input_is_named_at_once()
    {
        var problems = Problems(("ANTHROPIC_IDENTITY_TOKEN", "jwt"));
        Assert.Contains(problems, p => p.StartsWith("ANTHROPIC_FEDERATION_RULE_ID is not set", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("ANTHROPIC_ORGANIZATION_ID is not set", StringComparison.Ordinal));
    }

    [Fact]
    public void Both_token_sources_conflict() =>
        Assert.Contains(Problems(("ANTHROPIC_FEDERATION_RULE_ID", Rule), ("ANTHROPIC_ORGANIZATION_ID", Org), ("ANTHROPIC_IDENTITY_TOKEN", "a"), ("ANTHROPIC_IDENTITY_TOKEN_FILE", "/x")),
            p => p.Contains("set exactly one", StringComparison.Ordinal));

    [Fact]
    public void Api_token_and_federation_conflict() =>
        Assert.Contains(Problems(("API_TOKEN", "k"), ("ANTHROPIC_FEDERATION_RULE_ID", Rule)), p => p.Contains("use one way to authenticate", StringComparison.Ordinal));

    [Fact]
    public void Nothing_set_explains_both_ways() =>
        Assert.Contains(Problems(), p => p.Contains("API_TOKEN for a Tunnels API key", StringComparison.Ordinal));

    [Fact]
    public void Malformed_ids_and_a_missing_token_file_are_caught_before_any_call()
    {
        var problems = Problems(("ANTHROPIC_FEDERATION_RULE_ID", "rule1"), ("ANTHROPIC_ORGANIZATION_ID", "acme"), ("ANTHROPIC_IDENTITY_TOKEN_FILE", "/nonexistent/token"));
        Assert.Equal(3, problems.Count);
    }

    [Fact]
    public void An_api_key_alone_is_enough() =>
        Assert.IsType<SetupIdentity.ApiKey>(Resolve(("API_TOKEN", "sk-ant-api-x")));

    [Theory]
    [InlineData("dir:/var/lib/mcp-tunnel", "/var/lib/mcp-tunnel")]
    [InlineData("dir:data", "data")]
    [InlineData("/var/lib/mcp-tunnel", "/var/lib/mcp-tunnel")]
    [InlineData("./a:b", "./a:b")]
    public void Outputs_are_directories(string output, string path) => Assert.Equal(path, OutputSpec.ParseDirectory(output));

    [Theory]
    [InlineData("k8s-secret:mcp-tunnel", "Helm chart")]
    [InlineData("s3:bucket", "not a directory")]
    [InlineData("dir:", "not a directory")]
    public void Other_outputs_are_refused_with_the_fix(string output, string reason) =>
        Assert.Contains(reason, Assert.Throws<SetupInputException>(() => OutputSpec.ParseDirectory(output)).Message, StringComparison.Ordinal);
}
