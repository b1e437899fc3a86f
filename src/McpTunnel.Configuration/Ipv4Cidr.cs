using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace McpTunnel.Configuration;

/// <summary>
/// An IPv4 network from <c>upstream.allowed_ips</c>. A bare address means /32. Like Go's
/// <c>net.ParseCIDR</c>, host bits after the prefix are accepted and masked off ("10.1.2.3/8" is 10.0.0.0/8).
/// </summary>
public readonly record struct Ipv4Cidr(uint Network, int PrefixLength)
{
    public static readonly IReadOnlyList<Ipv4Cidr> Rfc1918 =
    [
        Parse("10.0.0.0/8"),
        Parse("172.16.0.0/12"),
        Parse("192.168.0.0/16"),
    ];

    private uint Mask => PrefixLength == 0 ? 0u : uint.MaxValue << (32 - PrefixLength);

    public static bool TryParse(string text, out Ipv4Cidr cidr, out string? error)
    {
        cidr = default;
        error = null;
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        var prefix = 32;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), System.Globalization.NumberStyles.None, null, out prefix) || prefix is < 0 or > 32))
        {
            error = $"invalid CIDR \"{text}\": the prefix length must be a number from 0 to 32";
            return false;
        }

        if (IPAddress.TryParse(addressText, out var address) && address.AddressFamily != AddressFamily.InterNetwork)
        {
            error = $"\"{text}\" is not IPv4: upstreams are dialled over IPv4 only";
            return false;
        }

        if (address is null || addressText.Count(c => c == '.') != 3)
        {
            error = $"invalid IP address or CIDR \"{text}\" (use an IPv4 address such as 10.1.2.3 or a network such as 10.0.0.0/8)";
            return false;
        }

        var value = ToUInt32(address);
        var candidate = new Ipv4Cidr(0, prefix);
        cidr = candidate with { Network = value & candidate.Mask };
        return true;
    }

    public static Ipv4Cidr Parse(string text) =>
        TryParse(text, out var cidr, out var error) ? cidr : throw new FormatException(error);

    public bool Contains(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        return address.AddressFamily == AddressFamily.InterNetwork && (ToUInt32(address) & Mask) == Network;
    }

    public override string ToString()
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, Network);
        return $"{new IPAddress(bytes)}/{PrefixLength}";
    }

    private static uint ToUInt32(IPAddress address)
    {
        Span<byte> bytes = stackalloc byte[4];
        address.TryWriteBytes(bytes, out _);
        return BinaryPrimitives.ReadUInt32BigEndian(bytes);
    }
}
