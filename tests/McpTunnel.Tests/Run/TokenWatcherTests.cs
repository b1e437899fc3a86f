using McpTunnel.Credentials;
using McpTunnel.Run;
using McpTunnel.Tests.Infrastructure;
using Microsoft.Extensions.Time.Testing;

namespace McpTunnel.Tests.Run;

/// <summary>The token watcher on a fake clock and a real file: a rotation is noticed at the next poll, nothing else is.</summary>
public sealed class TokenWatcherTests : IDisposable
{
    private readonly TempDirectory _directory = new();
    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);
    private int _changes;

    private string Token => _directory.File("tunnel-token");

    private TokenWatcher Watch() => new(Token, _time, () => Interlocked.Increment(ref _changes));

    [Fact]
    public void A_new_token_is_reported_at_the_next_poll_and_not_before()
    {
        _directory.Write("tunnel-token", "first\n");
        using var watcher = Watch();
        _directory.Write("tunnel-token", "second\n");
        _time.Advance(TokenWatcher.PollInterval - TimeSpan.FromSeconds(1));
        Assert.Equal(0, _changes);
        _time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(1, _changes);
        // Reported once, not at every poll after it.
        _time.Advance(TokenWatcher.PollInterval * 3);
        Assert.Equal(1, _changes);
    }

    [Fact]
    public void The_same_token_written_again_is_not_a_rotation()
    {
        _directory.Write("tunnel-token", "same\n");
        using var watcher = Watch();
        // token set and setup init replace the file by rename: a new inode, the same content.
        AtomicFile.Write(Token, "same\n");
        _time.Advance(TokenWatcher.PollInterval * 2);
        Assert.Equal(0, _changes);
    }

    [Fact]
    public void A_missing_file_is_no_change_and_its_first_content_is_the_baseline()
    {
        using var watcher = Watch();
        _time.Advance(TokenWatcher.PollInterval);
        _directory.Write("tunnel-token", "first\n");
        _time.Advance(TokenWatcher.PollInterval);
        Assert.Equal(0, _changes);

        // Gone for a poll (mid-replacement) and back unchanged: nothing to do.
        File.Delete(Token);
        _time.Advance(TokenWatcher.PollInterval);
        _directory.Write("tunnel-token", "first\n");
        _time.Advance(TokenWatcher.PollInterval);
        Assert.Equal(0, _changes);

        _directory.Write("tunnel-token", "second\n");
        _time.Advance(TokenWatcher.PollInterval);
        Assert.Equal(1, _changes);
    }

    [Fact]
    public void Disposed_it_reports_nothing()
    {
        _directory.Write("tunnel-token", "first\n");
        Watch().Dispose();
        _directory.Write("tunnel-token", "second\n");
        _time.Advance(TokenWatcher.PollInterval * 2);
        Assert.Equal(0, _changes);
    }

    public void Dispose() => _directory.Dispose();
}
