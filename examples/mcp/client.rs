//! An MCP client session over streamable HTTP, small enough to read: JSON-RPC
//! messages POSTed with an agent's [`PassportClient`] (passport-agent: its
//! bundle and a fresh DPoP proof on every request). An agent that wants the
//! whole protocol uses rmcp's client over `PassportClient::mcp` instead (see
//! the `mcp_agent` example); this one shows what goes over the wire.

use passport_agent::PassportClient;
use serde_json::{Value, json};

use crate::BoxError;

/// The MCP revision this client asks for (the latest with the `initialize`
/// handshake and `Mcp-Session-Id` sessions).
pub const PROTOCOL_VERSION: &str = "2025-11-25";

/// What the server answered to one JSON-RPC request.
#[derive(Debug)]
pub enum McpReply {
    /// HTTP 200 and the JSON-RPC response: its `result`, or its `error`.
    Response(Result<Value, Value>),
    /// Refused at the HTTP level (by passport-axum): no JSON-RPC answer.
    Refused {
        /// The HTTP status (401, 403, …).
        status: u16,
        /// The `WWW-Authenticate` challenges, one per line.
        challenge: String,
        /// The JSON body.
        body: String,
    },
}

impl McpReply {
    /// The text of a successful `tools/call` result (its text content).
    pub fn tool_text(&self) -> Option<String> {
        let McpReply::Response(Ok(result)) = self else {
            return None;
        };
        let texts: Vec<&str> = result["content"]
            .as_array()?
            .iter()
            .filter_map(|c| c["text"].as_str())
            .collect();
        Some(texts.join("\n"))
    }

    /// One parameter (`error`, `error_description`, `scope`, …) of the
    /// challenge of a refusal.
    pub fn challenge_param(&self, name: &str) -> Option<String> {
        match self {
            McpReply::Refused { challenge, .. } => challenge_param(challenge, name),
            McpReply::Response(_) => None,
        }
    }
}

/// An initialized MCP session with one server, for one agent.
pub struct McpSession {
    client: PassportClient,
    url: String,
    session_id: Option<String>,
    protocol_version: String,
    next_id: u64,
}

impl McpSession {
    /// Opens a session: `initialize` (the server answers with its info and
    /// an `Mcp-Session-Id` header), then the `notifications/initialized`
    /// notification. Returns the session and the server's `serverInfo`.
    pub async fn connect(
        client: PassportClient,
        url: impl Into<String>,
    ) -> Result<(McpSession, Value), BoxError> {
        let mut session = McpSession {
            client,
            url: url.into(),
            session_id: None,
            protocol_version: PROTOCOL_VERSION.to_owned(),
            next_id: 1,
        };
        let params = json!({
            "protocolVersion": PROTOCOL_VERSION,
            "capabilities": {},
            "clientInfo": {"name": "passport-example-agent", "version": "0.1.0"},
        });
        let (id, request) = session.request("initialize", params);
        let response = session.client.send(request).await?;
        session.session_id = response
            .headers()
            .get("mcp-session-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let result = match read_reply(response, id).await? {
            McpReply::Response(Ok(result)) => result,
            other => return Err(format!("initialize failed: {other:?}").into()),
        };
        if let Some(version) = result["protocolVersion"].as_str() {
            session.protocol_version = version.to_owned();
        }
        // A notification has no `id`; the server answers 202 Accepted.
        let notification = json!({"jsonrpc": "2.0", "method": "notifications/initialized"});
        let accepted = session
            .client
            .send(session.post().json(&notification))
            .await?;
        if accepted.status() != 202 {
            return Err(format!("notifications/initialized: {}", accepted.status()).into());
        }
        Ok((session, result["serverInfo"].clone()))
    }

    /// The `Mcp-Session-Id` the server gave this session.
    pub fn session_id(&self) -> Option<&str> {
        self.session_id.as_deref()
    }

    /// The names of the server's tools (`tools/list`).
    pub async fn list_tools(&mut self) -> Result<Vec<String>, BoxError> {
        match self.call("tools/list", json!({})).await? {
            McpReply::Response(Ok(result)) => Ok(result["tools"]
                .as_array()
                .map(|tools| {
                    tools
                        .iter()
                        .filter_map(|t| t["name"].as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()),
            other => Err(format!("tools/list failed: {other:?}").into()),
        }
    }

    /// Calls a tool (`tools/call`).
    pub async fn call_tool(&mut self, name: &str, arguments: Value) -> Result<McpReply, BoxError> {
        self.call("tools/call", json!({"name": name, "arguments": arguments}))
            .await
    }

    /// Sends one JSON-RPC request and reads its reply.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<McpReply, BoxError> {
        let (id, request) = self.request(method, params);
        let response = self.client.send(request).await?;
        read_reply(response, id).await
    }

    /// A JSON-RPC request, ready to send (with the MCP headers; the
    /// passport is added when it goes through the client's middleware, or
    /// by hand). Returns the request's `id`.
    pub fn request(
        &mut self,
        method: &str,
        params: Value,
    ) -> (u64, reqwest_middleware::RequestBuilder) {
        let id = self.next_id;
        self.next_id += 1;
        let message = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        (id, self.post().json(&message))
    }

    /// A POST to the MCP endpoint with the streamable HTTP headers.
    fn post(&self) -> reqwest_middleware::RequestBuilder {
        let mut post = self
            .client
            .http()
            .post(&self.url)
            // The server may answer with JSON or with an SSE stream.
            .header("accept", "application/json, text/event-stream");
        if let Some(session_id) = &self.session_id {
            post = post
                .header("mcp-session-id", session_id)
                .header("mcp-protocol-version", &self.protocol_version);
        }
        post
    }
}

/// Reads the reply to the JSON-RPC request `id`: a refusal (any non-2xx
/// status), or the JSON-RPC response, sent as `application/json` or as an
/// SSE stream (`text/event-stream`: the message is in `data:` lines).
pub async fn read_reply(response: reqwest::Response, id: u64) -> Result<McpReply, BoxError> {
    let status = response.status();
    if !status.is_success() {
        let challenge = response
            .headers()
            .get_all("www-authenticate")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join("\n");
        return Ok(McpReply::Refused {
            status: status.as_u16(),
            challenge,
            body: response.text().await?,
        });
    }
    let is_sse = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream"));
    let body = response.text().await?;
    let messages: Vec<Value> = if is_sse {
        sse_data(&body)
            .iter()
            .filter_map(|data| serde_json::from_str(data).ok())
            .collect()
    } else {
        vec![serde_json::from_str(&body)?]
    };
    let message = messages
        .into_iter()
        .find(|m| m["id"] == id)
        .ok_or_else(|| format!("no JSON-RPC response with id {id} in: {body}"))?;
    Ok(McpReply::Response(match message.get("result") {
        Some(result) => Ok(result.clone()),
        None => Err(message["error"].clone()),
    }))
}

/// The data of each event of an SSE stream (`data:` lines, joined).
fn sse_data(stream: &str) -> Vec<String> {
    let mut events = Vec::new();
    let mut data: Vec<&str> = Vec::new();
    for line in stream.lines().chain([""]) {
        if line.is_empty() {
            if !data.is_empty() {
                events.push(data.join("\n"));
                data.clear();
            }
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push(value.strip_prefix(' ').unwrap_or(value));
        }
    }
    events
}

/// The value of `name="…"` in a `WWW-Authenticate` challenge.
pub fn challenge_param(challenge: &str, name: &str) -> Option<String> {
    let start = challenge.find(&format!("{name}=\""))? + name.len() + 2;
    let mut value = String::new();
    let mut chars = challenge[start..].chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => value.extend(chars.next()),
            '"' => return Some(value),
            c => value.push(c),
        }
    }
    None
}
