global using McpTunnel.SystemTests.Infrastructure;
