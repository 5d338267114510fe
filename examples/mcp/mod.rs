//! The MCP examples' shared code: the server (`rmcp` over streamable HTTP,
//! behind passport-axum) and a small client session for agents.

mod client;
mod server;

pub use client::{McpReply, McpSession, PROTOCOL_VERSION, challenge_param, read_reply};
pub use server::{
    FilesAndMail, McpServer, ReadFile, SendMail, WriteFile, start_mcp_server,
    start_mcp_server_trusting, tool_scopes,
};
