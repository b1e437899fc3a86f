using System.Globalization;
using Microsoft.Diagnostics.Tracing.Etlx;
using Microsoft.Diagnostics.Tracing.Parsers.Clr;

// mcp-tunnel-alloc-trace FILE.nettrace [FRAMES] [TOP]
// The runtime raises GCAllocationTick about once per 100 KB allocated on a thread, naming the type of the object
// that crossed the mark and carrying the call stack: over tens of thousands of requests the ticks' shares are the
// allocations' shares. Divide by the bytes per request bench/telemetry.sh measures to put bytes on each line.
if (args.Length is < 1 or > 3)
{
    Console.Error.WriteLine("usage: mcp-tunnel-alloc-trace FILE.nettrace [FRAMES (default 12)] [TOP (default 40)]");
    return 2;
}

var frames = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 12;
var top = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 40;
using var log = new TraceLog(TraceLog.CreateFromEventPipeDataFile(args[0]));
var byType = new Dictionary<string, (long Bytes, int Ticks)>();
var byStack = new Dictionary<string, (long Bytes, int Ticks)>();
long total = 0;
foreach (var ev in log.Events)
{
    if (ev is not GCAllocationTickTraceData tick)
    {
        continue;
    }

    var bytes = tick.AllocationAmount64;
    total += bytes;
    var type = tick.TypeName ?? "?";
    Add(byType, type, bytes);
    var stack = new List<string>();
    for (var frame = ev.CallStack(); frame is not null && stack.Count < frames; frame = frame.Caller)
    {
        var method = frame.CodeAddress.FullMethodName;
        stack.Add(string.IsNullOrEmpty(method) ? frame.CodeAddress.ModuleName + "!?" : method.Length > 160 ? method[..160] : method);
    }

    Add(byStack, type + "\n    " + string.Join("\n    ", stack), bytes);
}

Console.WriteLine($"sampled bytes {total}");
Console.WriteLine("share  ticks  type");
foreach (var (type, v) in byType.OrderByDescending(p => p.Value.Bytes).Take(top))
{
    Console.WriteLine($"{100.0 * v.Bytes / total,5:F1}% {v.Ticks,6}  {type}");
}

Console.WriteLine("==== by type and stack");
foreach (var (stack, v) in byStack.OrderByDescending(p => p.Value.Bytes).Take(top))
{
    Console.WriteLine($"{100.0 * v.Bytes / total,5:F1}% {v.Ticks,6}  {stack}\n");
}

return 0;

static void Add(Dictionary<string, (long Bytes, int Ticks)> into, string key, long bytes) =>
    into[key] = into.TryGetValue(key, out var v) ? (v.Bytes + bytes, v.Ticks + 1) : (bytes, 1);
