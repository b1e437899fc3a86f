namespace McpTunnel.Tests.Infrastructure;

/// <summary>
/// A minimal protobuf wire-format reader for the OTLP messages the tests look into: a message is a list of
/// fields (number, wire type, integer or bytes). Enough to walk ExportTraceServiceRequest and
/// ExportMetricsServiceRequest without generated code; a malformed message throws.
/// </summary>
public sealed class Protobuf
{
    public sealed record Field(int Number, int WireType, ulong Value, ReadOnlyMemory<byte> Bytes)
    {
        public Protobuf Message => Parse(Bytes);

        public string Text => System.Text.Encoding.UTF8.GetString(Bytes.Span);

        public string Hex => Convert.ToHexStringLower(Bytes.Span);

        public double AsDouble => BitConverter.Int64BitsToDouble((long)Value);
    }

    private Protobuf(List<Field> fields) => Fields = fields;

    public IReadOnlyList<Field> Fields { get; }

    public IEnumerable<Field> All(int number) => Fields.Where(f => f.Number == number);

    public Field? One(int number) => Fields.LastOrDefault(f => f.Number == number);

    public static Protobuf Parse(ReadOnlyMemory<byte> data)
    {
        var fields = new List<Field>();
        var span = data.Span;
        var i = 0;
        while (i < span.Length)
        {
            var key = Varint(span, ref i);
            var number = (int)(key >> 3);
            var wire = (int)(key & 7);
            switch (wire)
            {
                case 0:
                    fields.Add(new Field(number, wire, Varint(span, ref i), default));
                    break;
                case 1:
                    fields.Add(new Field(number, wire, BitConverter.ToUInt64(span.Slice(i, 8)), default));
                    i += 8;
                    break;
                case 2:
                    var length = (int)Varint(span, ref i);
                    fields.Add(new Field(number, wire, 0, data.Slice(i, length)));
                    i += length;
                    break;
                case 5:
                    fields.Add(new Field(number, wire, BitConverter.ToUInt32(span.Slice(i, 4)), default));
                    i += 4;
                    break;
                default:
                    throw new FormatException($"wire type {wire} at {i}");
            }
        }

        return new Protobuf(fields);
    }

    /// <summary>OTLP KeyValue list (field <paramref name="number"/>) as key to value (strings, integers, doubles as text).</summary>
    public Dictionary<string, string> Attributes(int number)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var kv in All(number).Select(f => f.Message))
        {
            var value = kv.One(2)?.Message;
            var any = value is { Fields.Count: > 0 } ? value.Fields[0] : null;
            result[kv.One(1)!.Text] = any switch
            {
                { Number: 1 } => any.Text,
                { Number: 2 } => any.Value != 0 ? "true" : "false",
                { Number: 3 } => ((long)any.Value).ToString(System.Globalization.CultureInfo.InvariantCulture),
                { Number: 4 } => any.AsDouble.ToString(System.Globalization.CultureInfo.InvariantCulture),
                _ => "?",
            };
        }

        return result;
    }

    private static ulong Varint(ReadOnlySpan<byte> span, ref int i)
    {
        ulong value = 0;
        for (var shift = 0; shift < 64; shift += 7)
        {
            var b = span[i++];
            value |= (ulong)(b & 0x7f) << shift;
            if ((b & 0x80) == 0)
            {
                return value;
            }
        }

        throw new FormatException("varint too long");
    }
}
