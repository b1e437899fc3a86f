namespace McpTunnel.Operations.Doctor;

/// <summary>One hop checked by <c>doctor</c>: its name, pass, fail or skip, what was seen, and for a failure what to do.</summary>
public sealed record DoctorCheck(string Name, string Result, string Detail, string? Fix = null)
{
    public const string Pass = "pass";
    public const string Fail = "fail";
    public const string Skip = "skip";
}
