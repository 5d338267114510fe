//! The one error type of this crate.

/// Why the tool scopes could not be read from a tool router (at startup),
/// or why a request was refused before its JSON-RPC messages reached rmcp.
///
/// Every variant has a stable [`ToolScopeError::code`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ToolScopeError {
    /// A tool declares neither a scope nor that it is public: every tool
    /// must say which scope it needs ([`crate::scope`]) or that it needs
    /// none ([`crate::public`]). At startup; and over HTTP, a `tools/call`
    /// naming a tool that is not in the [`crate::ToolScopes`] table (400).
    #[error(
        "tool `{tool}` declares no scope: add `meta = passport_rmcp::scope(\"…\")` (or `passport_rmcp::public()`) to its #[tool] attribute"
    )]
    Undeclared {
        /// The tool's name.
        tool: String,
    },
    /// A tool's declaration is not usable: the scope is not a JSON string,
    /// not a single RFC 6749 §3.3 scope token, contains a wildcard, is too
    /// long, or the tool is declared both public and scoped.
    #[error("tool `{tool}` has an invalid scope declaration: {why}")]
    InvalidDeclaration {
        /// The tool's name.
        tool: String,
        /// What is wrong with it.
        why: &'static str,
    },
    /// The router hands calls to unknown tools on to another handler
    /// (`transparent_when_not_found`): a scope table built from it could
    /// not know those tools.
    #[error(
        "the tool router forwards unknown tools to another handler; their scopes cannot be known"
    )]
    TransparentRouter,
    /// The request body is larger than the bound (413).
    #[error("the request body is larger than {max} bytes")]
    BodyTooLarge {
        /// The bound in bytes.
        max: usize,
    },
    /// The request body could not be read, is not JSON, has a member twice
    /// in one object, or holds a `tools/call` without a tool name (400).
    #[error("malformed JSON-RPC request: {0}")]
    MalformedRequest(&'static str),
    /// The request names an MCP session (`Mcp-Session-Id`) that the same
    /// agent did not open through the layer: another agent's, or one the
    /// layer no longer remembers (404; the client opens a new session).
    #[error("no such MCP session for this agent")]
    UnknownSession,
    /// The request resumes an event stream (`Last-Event-ID`) from an event
    /// id the layer did not send to the same agent: another agent's, one
    /// without its tag, or one made up (404; the client opens a new
    /// stream).
    #[error("no such MCP event for this agent")]
    UnknownEvent,
}

passport_jose::error_codes! {
    ToolScopeError {
        ToolScopeError::Undeclared { .. } => "tool_scope_undeclared":
            "An MCP tool declares neither a scope nor that it is public (refused at startup), or a tools/call names a tool missing from the scope table (400, fail closed).",
        ToolScopeError::InvalidDeclaration { .. } => "tool_scope_invalid":
            "An MCP tool's scope declaration is not one valid scope token (refused at startup).",
        ToolScopeError::TransparentRouter => "tool_router_transparent":
            "The MCP tool router forwards unknown tools to another handler (refused at startup).",
        ToolScopeError::BodyTooLarge { .. } => "request_too_large":
            "An MCP request body is larger than the bound of the tool scope layer (413).",
        ToolScopeError::MalformedRequest(_) => "malformed_jsonrpc":
            "An MCP request body that is not JSON, repeats a member, or calls a tool without a name; or a request with two Mcp-Session-Id or Last-Event-ID headers (400).",
        ToolScopeError::UnknownSession => "mcp_session_unknown":
            "An MCP request names a session its agent did not open, or one the tool scope layer no longer remembers (404: open a new session).",
        ToolScopeError::UnknownEvent => "mcp_event_unknown":
            "An MCP request resumes an event stream (Last-Event-ID) from an event id the tool scope layer did not send to its agent (404).",
    }
}
