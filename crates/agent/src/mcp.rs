//! rmcp's streamable HTTP client transport over the passport client.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use futures_util::stream::{self, BoxStream, StreamExt};
use http::{HeaderName, HeaderValue, StatusCode};
use reqwest::header::{ACCEPT, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest_middleware::{ClientWithMiddleware, RequestBuilder};
use rmcp::model::{
    ClientJsonRpcMessage, ClientRequest, ErrorData, JsonRpcMessage, ServerJsonRpcMessage,
};
use rmcp::transport::common::http_header::{
    EVENT_STREAM_MIME_TYPE, HEADER_LAST_EVENT_ID, HEADER_MCP_PROTOCOL_VERSION, HEADER_SESSION_ID,
    JSON_MIME_TYPE,
};
use rmcp::transport::streamable_http_client::{
    AuthRequiredError, HttpStatusError, InsufficientScopeError, SseError, StreamableHttpClient,
    StreamableHttpError, StreamableHttpPostResponse, StreamableHttpResponseLimits,
};
use sse_stream::Sse;

use crate::challenge::challenge_param;
use crate::{ClientError, PassportClient};

type McpError = StreamableHttpError<ClientError>;
type Events = BoxStream<'static, Result<Sse, SseError>>;

/// The HTTP backend of rmcp's
/// [`StreamableHttpClientTransport`](rmcp::transport::StreamableHttpClientTransport)
/// over a [`ClientWithMiddleware`] — typically a [`PassportClient`]'s, so
/// every MCP message carries the passport and a fresh DPoP proof.
///
/// It POSTs each JSON-RPC message (with `Mcp-Session-Id`, the protocol
/// headers rmcp passes, `Accept: application/json, text/event-stream`) and
/// reads a JSON or SSE answer within the [`StreamableHttpResponseLimits`]
/// rmcp passes; GETs the server's SSE stream; DELETEs the session.
///
/// Refusals keep their meaning: 401 with a challenge is
/// [`StreamableHttpError::AuthRequired`], 403 with a challenge is
/// [`StreamableHttpError::InsufficientScope`] (the challenge and the
/// `scope` it names: MCP's step-up), any other failure status
/// [`StreamableHttpError::HttpStatus`] — unless its body is a JSON-RPC
/// error, which is the answer.
///
/// The `auth_header` rmcp may pass is sent as `Bearer`; the passport
/// middleware, when in the stack, replaces it with the passport.
///
/// ```no_run
/// # async fn run(bundle: String, key: passport_dpop::DpopKey) -> Result<(), Box<dyn std::error::Error>> {
/// use passport_agent::PassportClient;
/// use rmcp::ServiceExt;
/// use rmcp::transport::StreamableHttpClientTransport;
/// use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
///
/// let client = PassportClient::new(bundle, Some(key));
/// let transport = StreamableHttpClientTransport::with_client(
///     client.mcp(),
///     StreamableHttpClientTransportConfig::with_uri("https://tools.example/mcp"),
/// );
/// let mcp = ().serve(transport).await?;
/// let tools = mcp.list_all_tools().await?;
/// # let _ = tools; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct McpHttpClient {
    http: ClientWithMiddleware,
}

impl McpHttpClient {
    /// A backend sending through `http` (with whatever middleware it has).
    pub fn new(http: ClientWithMiddleware) -> McpHttpClient {
        McpHttpClient { http }
    }
}

impl PassportClient {
    /// This client as rmcp's streamable HTTP backend (shares the stack and
    /// the nonce memory).
    pub fn mcp(&self) -> McpHttpClient {
        McpHttpClient::new(self.http().clone())
    }
}

impl From<&PassportClient> for McpHttpClient {
    fn from(client: &PassportClient) -> McpHttpClient {
        client.mcp()
    }
}

fn client_error(error: impl Into<ClientError>) -> McpError {
    StreamableHttpError::Client(error.into())
}

/// Adds rmcp's `auth_header` and the caller's headers. The headers the
/// transport owns (`Accept`, the session id, `Last-Event-Id`) cannot be
/// overridden; `MCP-Protocol-Version` comes this way once negotiated.
fn with_headers(
    mut request: RequestBuilder,
    auth_header: Option<String>,
    custom_headers: HashMap<HeaderName, HeaderValue>,
) -> Result<RequestBuilder, McpError> {
    if let Some(token) = auth_header {
        request = request.bearer_auth(token);
    }
    for (name, value) in custom_headers {
        let reserved = [ACCEPT.as_str(), HEADER_SESSION_ID, HEADER_LAST_EVENT_ID]
            .iter()
            .any(|r| name.as_str().eq_ignore_ascii_case(r));
        if reserved
            && !name
                .as_str()
                .eq_ignore_ascii_case(HEADER_MCP_PROTOCOL_VERSION)
        {
            return Err(StreamableHttpError::ReservedHeaderConflict(
                name.to_string(),
            ));
        }
        request = request.header(name, value);
    }
    Ok(request)
}

/// 401 or 403 with a `WWW-Authenticate` challenge, as rmcp's typed errors.
fn refusal(response: &reqwest::Response) -> Option<McpError> {
    let status = response.status();
    if status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN {
        return None;
    }
    let challenges: Vec<&str> = response
        .headers()
        .get_all(WWW_AUTHENTICATE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if challenges.is_empty() {
        return None;
    }
    let challenge = challenges.join(", ");
    Some(if status == StatusCode::UNAUTHORIZED {
        StreamableHttpError::AuthRequired(AuthRequiredError::new(challenge))
    } else {
        let scope = challenge_param(&challenge, "scope");
        StreamableHttpError::InsufficientScope(InsufficientScopeError::new(challenge, scope))
    })
}

/// Status metadata of a failure, without its body.
fn status_error(response: &reqwest::Response) -> McpError {
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    StreamableHttpError::HttpStatus(HttpStatusError::new(
        response.status().as_u16(),
        retry_after,
    ))
}

fn media_type(response: &reqwest::Response) -> Option<String> {
    let value = response.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let essence = value.split(';').next().unwrap_or_default().trim();
    Some(essence.to_ascii_lowercase())
}

/// The whole body if it is at most `limit` bytes, `None` past it (read no
/// further than the limit).
async fn read_bounded(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<Option<Vec<u8>>, McpError> {
    if response
        .content_length()
        .is_some_and(|len| len > limit as u64)
    {
        return Ok(None);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(client_error)? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

impl StreamableHttpClient for McpHttpClient {
    type Error = ClientError;

    async fn post_message(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<StreamableHttpPostResponse, McpError> {
        let limits = StreamableHttpResponseLimits::default();
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<StreamableHttpPostResponse, McpError> {
        let mut limits = StreamableHttpResponseLimits::default();
        limits.max_sse_event_size = max_sse_event_size;
        self.post_message_with_response_limits(
            uri,
            message,
            session_id,
            auth_header,
            custom_headers,
            limits,
        )
        .await
    }

    async fn post_message_with_response_limits(
        &self,
        uri: Arc<str>,
        message: ClientJsonRpcMessage,
        session_id: Option<Arc<str>>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        limits: StreamableHttpResponseLimits,
    ) -> Result<StreamableHttpPostResponse, McpError> {
        let body = serde_json::to_vec(&message)?;
        let mut request = self
            .http
            .post(uri.as_ref())
            .header(
                ACCEPT,
                format!("{JSON_MIME_TYPE}, {EVENT_STREAM_MIME_TYPE}"),
            )
            .header(CONTENT_TYPE, JSON_MIME_TYPE);
        if let Some(session_id) = &session_id {
            request = request.header(HEADER_SESSION_ID, session_id.as_ref());
        }
        let request = with_headers(request, auth_header, custom_headers)?.body(body);
        let response = request.send().await.map_err(client_error)?;
        if let Some(refused) = refusal(&response) {
            return Err(refused);
        }
        let status = response.status();
        if status == StatusCode::ACCEPTED || status == StatusCode::NO_CONTENT {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        if status == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        let new_session = response
            .headers()
            .get(HEADER_SESSION_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let media = media_type(&response);
        let is_json = media.as_deref() == Some(JSON_MIME_TYPE);
        // Notifications and replies wait for no answer.
        let awaits_nothing = !matches!(message, JsonRpcMessage::Request(_));

        if !status.is_success() {
            let failure = status_error(&response);
            // A JSON-RPC error in the body is the answer to the request.
            if is_json
                && status != StatusCode::TOO_MANY_REQUESTS
                && let Some(body) = read_bounded(response, limits.max_json_response_size).await?
                && let Ok(error @ JsonRpcMessage::Error(_)) =
                    serde_json::from_slice::<ServerJsonRpcMessage>(&body)
            {
                return Ok(StreamableHttpPostResponse::Json(error, new_session));
            }
            return discovery_fallback(&message, session_id.is_some(), status).ok_or(failure);
        }
        if awaits_nothing && response.content_length() == Some(0) {
            return Ok(StreamableHttpPostResponse::Accepted);
        }
        match media.as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) => Ok(StreamableHttpPostResponse::Sse(
                sse_events(response, limits.max_sse_event_size),
                new_session,
            )),
            Some(JSON_MIME_TYPE) => {
                let max_size = limits.max_json_response_size;
                let body = read_bounded(response, max_size)
                    .await?
                    .ok_or(StreamableHttpError::ResponseBodyTooLarge { max_size })?;
                let answer: ServerJsonRpcMessage = serde_json::from_slice(&body)?;
                Ok(StreamableHttpPostResponse::Json(answer, new_session))
            }
            _ if awaits_nothing => Ok(StreamableHttpPostResponse::Accepted),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_owned),
            )),
        }
    }

    async fn delete_session(
        &self,
        uri: Arc<str>,
        session_id: Arc<str>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<(), McpError> {
        let request = self
            .http
            .delete(uri.as_ref())
            .header(HEADER_SESSION_ID, session_id.as_ref());
        let response = with_headers(request, auth_header, custom_headers)?
            .send()
            .await
            .map_err(client_error)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportDeleteSession);
        }
        if let Some(refused) = refusal(&response) {
            return Err(refused);
        }
        if !response.status().is_success() {
            return Err(status_error(&response));
        }
        Ok(())
    }

    async fn get_stream(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
    ) -> Result<Events, McpError> {
        let max = StreamableHttpResponseLimits::default().max_sse_event_size;
        self.get_stream_with_max_sse_event_size(
            uri,
            session_id,
            last_event_id,
            auth_header,
            custom_headers,
            max,
        )
        .await
    }

    async fn get_stream_with_max_sse_event_size(
        &self,
        uri: Arc<str>,
        session_id: Option<Arc<str>>,
        last_event_id: Option<String>,
        auth_header: Option<String>,
        custom_headers: HashMap<HeaderName, HeaderValue>,
        max_sse_event_size: usize,
    ) -> Result<Events, McpError> {
        let mut request = self
            .http
            .get(uri.as_ref())
            .header(ACCEPT, EVENT_STREAM_MIME_TYPE);
        if let Some(session_id) = &session_id {
            request = request.header(HEADER_SESSION_ID, session_id.as_ref());
        }
        if let Some(last_event_id) = last_event_id {
            request = request.header(HEADER_LAST_EVENT_ID, last_event_id);
        }
        let response = with_headers(request, auth_header, custom_headers)?
            .send()
            .await
            .map_err(client_error)?;
        if response.status() == StatusCode::METHOD_NOT_ALLOWED {
            return Err(StreamableHttpError::ServerDoesNotSupportSse);
        }
        if let Some(refused) = refusal(&response) {
            return Err(refused);
        }
        if response.status() == StatusCode::NOT_FOUND && session_id.is_some() {
            return Err(StreamableHttpError::SessionExpired);
        }
        if !response.status().is_success() {
            return Err(status_error(&response));
        }
        match media_type(&response).as_deref() {
            Some(EVENT_STREAM_MIME_TYPE) => Ok(sse_events(response, max_sse_event_size)),
            other => Err(StreamableHttpError::UnexpectedContentType(
                other.map(str::to_owned),
            )),
        }
    }
}

/// A server that does not know `server/discover` refuses it with a 4xx
/// (not 401/403) before any session: answered as a JSON-RPC error for the
/// request, so rmcp falls back to `initialize`.
fn discovery_fallback(
    message: &ClientJsonRpcMessage,
    in_session: bool,
    status: StatusCode,
) -> Option<StreamableHttpPostResponse> {
    if in_session
        || !status.is_client_error()
        || status == StatusCode::UNAUTHORIZED
        || status == StatusCode::FORBIDDEN
    {
        return None;
    }
    let JsonRpcMessage::Request(request) = message else {
        return None;
    };
    if !matches!(request.request, ClientRequest::DiscoverRequest(_)) {
        return None;
    }
    let error = ErrorData::invalid_request(format!("server/discover refused: HTTP {status}"), None);
    Some(StreamableHttpPostResponse::Json(
        ServerJsonRpcMessage::error(error, Some(request.id.clone())),
        None,
    ))
}

/// The events of an SSE body (WHATWG HTML, "Server-sent events",
/// §9.2.6 interpretation of the stream), an event's raw lines limited to
/// `max_event_size` bytes: past it, the stream ends with an error.
fn sse_events(response: reqwest::Response, max_event_size: usize) -> Events {
    let parser = SseParser {
        response: Some(response),
        buffer: Vec::new(),
        consumed: 0,
        scanned: 0,
        event: Sse::default(),
        event_size: 0,
        max_event_size,
        ready: VecDeque::new(),
        failed: false,
    };
    stream::unfold(parser, |mut parser| async move {
        if parser.failed {
            return None;
        }
        let item = parser.next_event().await?;
        // An error ends the stream: what follows cannot be framed.
        parser.failed = item.is_err();
        Some((item, parser))
    })
    .boxed()
}

struct SseParser {
    /// `None` once the body ended or failed.
    response: Option<reqwest::Response>,
    /// Bytes received; those before `consumed` are parsed already.
    buffer: Vec<u8>,
    /// Where the next line starts in `buffer`.
    consumed: usize,
    /// `buffer[consumed..scanned]` holds no line end.
    scanned: usize,
    /// The event being read.
    event: Sse,
    /// Raw bytes of the event's lines so far.
    event_size: usize,
    max_event_size: usize,
    ready: VecDeque<Sse>,
    /// Set after an error: the stream has ended.
    failed: bool,
}

fn too_large(limit: usize) -> SseError {
    SseError::Body(format!("an SSE event exceeds {limit} bytes").into())
}

impl SseParser {
    async fn next_event(&mut self) -> Option<Result<Sse, SseError>> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Some(Ok(event));
            }
            // Lines are read from `consumed` on, and the buffer compacted only
            // before a new chunk is appended: draining each line from the front
            // would move the rest of the buffer every time (quadratic in the
            // lines of one chunk). `scanned` skips what holds no line end yet.
            let from = self.scanned.max(self.consumed);
            if let Some(found) = self.buffer[from..].iter().position(|b| *b == b'\n') {
                let end = from + found;
                let mut line = &self.buffer[self.consumed..end];
                if line.last() == Some(&b'\r') {
                    line = &line[..line.len() - 1];
                }
                let line = line.to_vec();
                self.consumed = end + 1;
                // The blank line that ends an event is not part of it.
                if !line.is_empty() {
                    self.event_size += line.len() + 1;
                }
                if self.event_size > self.max_event_size {
                    return Some(Err(too_large(self.max_event_size)));
                }
                if let Err(e) = self.line(line) {
                    return Some(Err(e));
                }
                continue;
            }
            self.buffer.drain(..self.consumed);
            self.consumed = 0;
            self.scanned = self.buffer.len();
            if self.event_size + self.buffer.len() > self.max_event_size {
                return Some(Err(too_large(self.max_event_size)));
            }
            // An event cut short by the end of the stream is dropped.
            let response = self.response.as_mut()?;
            match response.chunk().await {
                Ok(Some(chunk)) => self.buffer.extend_from_slice(&chunk),
                Ok(None) => {
                    self.response = None;
                    return None;
                }
                Err(e) => return Some(Err(SseError::Body(Box::new(e)))),
            }
        }
    }

    fn line(&mut self, line: Vec<u8>) -> Result<(), SseError> {
        if line.is_empty() {
            let event = std::mem::take(&mut self.event);
            self.event_size = 0;
            if event != Sse::default() {
                self.ready.push_back(event);
            }
            return Ok(());
        }
        let line = String::from_utf8(line).map_err(|e| SseError::Utf8Parse(e.utf8_error()))?;
        if line.starts_with(':') {
            return Ok(()); // a comment (keep-alive)
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match field {
            "data" => match &mut self.event.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.event.data = Some(value.to_owned()),
            },
            "event" => self.event.event = Some(value.to_owned()),
            "id" if !value.contains('\0') => self.event.id = Some(value.to_owned()),
            "retry" => {
                if let Ok(ms) = value.parse() {
                    self.event.retry = Some(ms);
                }
            }
            _ => {} // unknown fields are ignored
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::{read_bounded, sse_events};

    fn response(body: &'static str) -> reqwest::Response {
        reqwest::Response::from(http::Response::new(body))
    }

    #[tokio::test]
    async fn sse_events_are_parsed_line_by_line() {
        let body = ": keep-alive\r\nid: 7\r\nevent: message\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\nretry: 50\nid: 8\n\ndata: cut short";
        let events: Vec<_> = sse_events(response(body), 1024).collect().await;
        assert_eq!(events.len(), 2, "{events:?}");
        let first = events[0].as_ref().unwrap();
        assert_eq!(first.id.as_deref(), Some("7"));
        assert_eq!(first.event.as_deref(), Some("message"));
        assert_eq!(first.data.as_deref(), Some("{\"a\":\n1}"));
        let second = events[1].as_ref().unwrap();
        assert_eq!((second.id.as_deref(), second.retry), (Some("8"), Some(50)));
    }

    #[tokio::test]
    async fn an_sse_event_past_the_limit_ends_the_stream_with_an_error() {
        // One event of 40 bytes of lines, under a 32-byte limit; and a line
        // that never ends.
        for body in [
            "data: aaaaaaaaaaaaaaaa\ndata: bbbbbbbbbbbbbbbb\n\ndata: c\n\n",
            "data: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        ] {
            let events: Vec<_> = sse_events(response(body), 32).collect().await;
            assert_eq!(events.len(), 1, "{events:?}");
            let error = events[0].as_ref().unwrap_err().to_string();
            assert!(error.contains("exceeds 32 bytes"), "{error}");
        }
        // At the limit exactly: accepted.
        let events: Vec<_> = sse_events(response("data: 0123456789\n\n"), 17)
            .collect()
            .await;
        assert!(events[0].is_ok(), "{events:?}");
    }

    #[tokio::test]
    async fn bodies_are_read_up_to_the_limit_only() {
        assert_eq!(
            read_bounded(response("0123456789"), 10).await.unwrap(),
            Some(b"0123456789".to_vec())
        );
        assert_eq!(read_bounded(response("0123456789"), 9).await.unwrap(), None);
    }
}
