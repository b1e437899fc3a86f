namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// Waits for a state the gateway reaches by itself (a gauge dropping to zero as each connection ends, a count of
/// shed connections reaching the number sent). The condition is re-checked until it holds; the timeout only turns
/// a hang into a failure, it never decides a result.
/// </summary>
public static class Eventually
{
    public static async Task WaitAsync(Func<bool> condition, Func<string> describe, int timeoutSeconds = 60)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(timeoutSeconds));
        while (!condition())
        {
            try
            {
                await Task.Delay(20, timeout.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"still not the case after {timeoutSeconds} s: {describe()}");
            }
        }
    }
}
