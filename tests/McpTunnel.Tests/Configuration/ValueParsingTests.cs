using System.Net;
using McpTunnel.Configuration;

namespace McpTunnel.Tests.Configuration;

public sealed class ValueParsingTests
{
    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("1m30s", 90_000)]
    [InlineData("2160h", 2160L * 3_600_000)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("300ms", 300)]
    [InlineData("0", 0)]
    [InlineData("1h2m3s4ms", 3_723_004)]
    public void Go_durations_parse(string text, long milliseconds)
    {
        Assert.True(GoDuration.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData("30")]
    [InlineData("")]
    [InlineData("5 minutes")]
    [InlineData("1d")]
    [InlineData("s")]
    public void Non_go_durations_are_rejected(string text) => Assert.False(GoDuration.TryParse(text, out _));

    [Theory]
    [InlineData("2160h", "2160h")]
    [InlineData("90s", "1m30s")]
    [InlineData("0s", "0s")]
    public void Go_durations_format_like_go(string text, string formatted) => Assert.Equal(formatted, GoDuration.Format(GoDuration.Parse(text)));

    [Fact]
    public void Cidrs_mask_host_bits_like_go()
    {
        var cidr = Ipv4Cidr.Parse("10.1.2.3/8");
        Assert.Equal("10.0.0.0/8", cidr.ToString());
        Assert.True(cidr.Contains(IPAddress.Parse("10.255.0.1")));
        Assert.Equal("192.168.1.7/32", Ipv4Cidr.Parse("192.168.1.7").ToString());
        Assert.True(Ipv4Cidr.Parse("0.0.0.0/0").Contains(IPAddress.Parse("8.8.8.8")));
    }

    [Theory]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0/8")]
    [InlineData("::1/128")]
    [InlineData("example.com")]
    public void Bad_cidrs_say_why(string text)
    {
        Assert.False(Ipv4Cidr.TryParse(text, out _, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Theory]
    [InlineData(":8080", "", 8080)]
    [InlineData("127.0.0.1:8080", "127.0.0.1", 8080)]
    [InlineData("[::1]:9", "::1", 9)]
    [InlineData("localhost:0", "localhost", 0)]
    public void Listen_addresses_parse_like_go(string text, string host, int port)
    {
        Assert.True(ListenAddress.TryParse(text, out var address, out _));
        Assert.Equal(new ListenAddress(host, port), address);
    }
}
