using System.Text;
using System.Text.Json;

namespace McpTunnel.Operations.Doctor;

/// <summary>How <c>doctor</c> prints what it found (the text and JSON forms are documented in docs/operations.md).</summary>
public static class DoctorReport
{
    /// <summary>True when any check failed (<c>doctor</c> then exits 1).</summary>
    public static bool AnyFailed(IReadOnlyList<DoctorCheck> checks) => checks.Any(c => c.Result == DoctorCheck.Fail);

    /// <summary>
    /// Writes the checks: as a JSON array (<c>check</c>, <c>result</c>, <c>detail</c>, and <c>fix</c> for a failure),
    /// or as text, one line per check with its fix under a failure, then a summary line.
    /// </summary>
    public static void Write(IReadOnlyList<DoctorCheck> checks, bool json, TextWriter output)
    {
        if (json)
        {
            using var stream = new MemoryStream();
            using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true }))
            {
                writer.WriteStartArray();
                foreach (var check in checks)
                {
                    writer.WriteStartObject();
                    writer.WriteString("check", check.Name);
                    writer.WriteString("result", check.Result);
                    writer.WriteString("detail", check.Detail);
                    if (check.Fix is not null && check.Result == DoctorCheck.Fail)
                    {
                        writer.WriteString("fix", check.Fix);
                    }

                    writer.WriteEndObject();
                }

                writer.WriteEndArray();
            }

            output.WriteLine(Encoding.UTF8.GetString(stream.ToArray()));
            return;
        }

        foreach (var check in checks)
        {
            output.WriteLine($"{(check.Result == DoctorCheck.Fail ? "FAIL" : check.Result)}  {check.Name,-24} {check.Detail}");
            if (check.Result == DoctorCheck.Fail && check.Fix is not null)
            {
                output.WriteLine($"      fix: {check.Fix}");
            }
        }

        var failed = checks.Count(c => c.Result == DoctorCheck.Fail);
        output.WriteLine(failed == 0 ? "doctor: everything checked is fine" : $"doctor: {failed} problem(s) found");
    }
}
