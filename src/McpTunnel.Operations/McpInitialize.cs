using System.Text;
using System.Text.Json;

namespace McpTunnel.Operations;

/// <summary>
/// The MCP <c>initialize</c> request (the first message of every session, MCP 2025-06-18) as <c>probe</c> and
/// <c>doctor</c> send it over Streamable HTTP: a JSON-RPC POST that accepts a JSON or an event-stream answer.
/// </summary>
public static class McpInitialize
{
    /// <summary>The protocol revision offered; a server answers with the one it speaks.</summary>
    public const string ProtocolVersion = "2025-06-18";

    /// <summary>The JSON-RPC request, id 1, naming the client as <paramref name="clientName"/> (it shows in server logs).</summary>
    public static string Body(string clientName) =>
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"" + ProtocolVersion +
        "\",\"capabilities\":{},\"clientInfo\":{\"name\":\"" + JsonEncodedText.Encode(clientName) + "\",\"version\":\"1\"}}}";

    /// <summary>A POST of the request to <paramref name="uri"/>, with its content and the Accept header Streamable HTTP requires.</summary>
    public static HttpRequestMessage NewRequest(Uri uri, string clientName)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, uri) { Content = new StringContent(Body(clientName), Encoding.UTF8, "application/json") };
        AcceptStreamableHttp(request);
        return request;
    }

    /// <summary>Streamable HTTP: every POST accepts both a single JSON answer and an SSE stream.</summary>
    public static void AcceptStreamableHttp(HttpRequestMessage request)
    {
        request.Headers.Accept.ParseAdd("application/json");
        request.Headers.Accept.ParseAdd("text/event-stream");
    }
}
