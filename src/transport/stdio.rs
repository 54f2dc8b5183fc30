//! MCP over stdin/stdout. stdout carries only protocol messages; everything else goes to stderr.

use std::io::IsTerminal;

use rmcp::ServiceExt;

use crate::mcp::HarepayServer;

pub async fn serve(server: HarepayServer) -> anyhow::Result<()> {
    if std::io::stdin().is_terminal() {
        eprintln!(
            "harepay is an MCP server: it speaks JSON-RPC on stdin/stdout and is started by an MCP client, not typed at.\n\
             - Claude Desktop / Cursor: add the entry in mcp-config.example.json to your client's mcpServers.\n\
             - Inspector: npx -y @modelcontextprotocol/inspector@2.12.0 --cli harepay stdio --method tools/list\n\
             - A guided tour through the real protocol: harepay demo\n\
             Waiting for a client on stdin (Ctrl-C to quit)."
        );
    }
    let running = server.serve(rmcp::transport::stdio()).await?;
    running.waiting().await?;
    Ok(())
}
