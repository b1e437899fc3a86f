using System.Text;

namespace McpTunnel.Operations;

/// <summary>The steps of one probe run, in order; OK when every step passed.</summary>
public sealed record ProbeReport(IReadOnlyList<ProbeStep> Steps)
{
    public bool Ok => Steps.Count > 0 && Steps.All(s => s.Ok);

    public override string ToString()
    {
        var text = new StringBuilder();
        foreach (var step in Steps)
        {
            text.Append(System.Globalization.CultureInfo.InvariantCulture, $"  {(step.Ok ? "ok  " : "FAIL")} {step.Name,-16} {step.Elapsed.TotalMilliseconds,8:0.0} ms  {step.Detail}\n");
        }

        return text.ToString();
    }
}
