using System.Globalization;

namespace McpTunnel.Configuration.Reading;

/// <summary>Checks of the host names the configuration matches requests against (<c>tunnel_domain</c>, route keys).</summary>
internal static class HostNames
{
    /// <summary>
    /// Why a host name cannot be matched against a request's Host, or null. Hosts are compared in their ASCII
    /// (punycode) form as sent, so a Unicode name would never match; the message gives the form to write.
    /// </summary>
    public static string? Problem(string name)
    {
        if (!System.Text.Ascii.IsValid(name))
        {
            try
            {
                return $"\"{name}\" is not ASCII: clients send internationalized names in their punycode form; write \"{new IdnMapping().GetAscii(name)}\"";
            }
            catch (ArgumentException)
            {
                return $"\"{name}\" is not ASCII and has no punycode form; use an ASCII name";
            }
        }

        foreach (var label in name.Split('.'))
        {
            if (label.StartsWith("xn--", StringComparison.Ordinal))
            {
                try
                {
                    new IdnMapping().GetUnicode(label);
                }
                catch (ArgumentException)
                {
                    return $"\"{label}\" is not valid punycode, so no request can match it (the gateway answers 400 to such a Host)";
                }
            }
        }

        return null;
    }
}
