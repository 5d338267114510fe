//! The HTTP check: a `tools/call` beyond the passport's scope is answered
//! 403 before rmcp reads it.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::FromRequestParts;
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{HeaderValue, Method, Request, Response, StatusCode};
use axum::response::IntoResponse;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use passport_axum::Passport;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use tower_layer::Layer;
use tower_service::Service;

use rmcp::transport::streamable_http_server::SessionManager;

use crate::ToolScopeError;
use crate::declare::{ToolAccess, ToolScopes};
use crate::events::EventIds;
use crate::sessions::{DEFAULT_MAX_SESSIONS, DEFAULT_MAX_SESSIONS_PER_PRINCIPAL, Owner, Sessions};

/// The header that names an MCP session (MCP's streamable HTTP transport).
const SESSION_ID: &str = "mcp-session-id";

/// The header that resumes an event stream after the event it names
/// (WHATWG server-sent events; MCP's streamable HTTP transport).
const LAST_EVENT_ID: &str = "last-event-id";

/// Closes a session in rmcp (its session manager's `close_session`).
type Close = Arc<dyn Fn(Arc<str>) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The default bound on a request body: rmcp's own default
/// (`StreamableHttpServerConfig::max_request_body_bytes`), so the layer
/// refuses nothing rmcp would have read.
pub const DEFAULT_MAX_BODY: usize = 4 * 1024 * 1024;

/// The boxed error of a body.
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A tower layer for rmcp's `StreamableHttpService`, inside passport-axum's
/// layer: it refuses, before rmcp reads the request, every JSON-RPC
/// `tools/call` whose tool's declared scope the request's passport does not
/// cover. Made by [`ToolScopes::layer`].
///
/// For each request:
///
/// - no [`Passport`] in the request's extensions (the passport layer is not
///   in front): 500 `passport_layer_missing`, whatever the method;
/// - `POST`: the body is read up to the bound ([`DEFAULT_MAX_BODY`] unless
///   set with [`ToolScopeLayer::max_body`]; larger: 413
///   `request_too_large`) and parsed as JSON (not JSON, or an object with a
///   member twice: 400 `malformed_jsonrpc`). Each `tools/call` in it — the
///   message, or every message of a batch — names a tool (else 400); a
///   tool whose declared scope the passport does not cover is refused
///   exactly as passport-axum refuses a route's scope: 403,
///   `WWW-Authenticate: Bearer|DPoP …, error="insufficient_scope",
///   scope="<the tool's scope>", resource_metadata="…"` (MCP
///   authorization, step-up). A tool that is not in the table is refused
///   with 400 `tool_scope_undeclared` — not 403: no scope would let it
///   through, so there is nothing to step up to — whether or not rmcp
///   serves it (fail closed: a tool added to the handler but not to the
///   table never runs unchecked). Otherwise the same bytes go on to rmcp;
/// - a request naming a session (`Mcp-Session-Id`) that the same agent did
///   not open through this layer — another agent's, or one the layer no
///   longer remembers — is answered 404 `mcp_session_unknown`, what rmcp
///   answers for a session it does not know (a client then opens a new
///   one), whatever the method: no other agent's passport can post into a
///   session, open or resume its event stream, answer its pending
///   requests or end it. The agent is the leaf passport's issuer,
///   principal and `agent_id` (not its `jti` or holder key, which change
///   when the passport rotates). The layer remembers at most
///   [`ToolScopeLayer::max_sessions`] sessions in all,
///   [`ToolScopeLayer::max_sessions_per_principal`] per principal and
///   [`crate::MAX_SESSIONS_PER_AGENT`] per agent; each bound forgets the
///   session used least recently within it (a request naming a session
///   uses it, and so does an open event stream of the session, frame by
///   frame). A forgotten session gets the 404, and rmcp closes it when the
///   layer was given its session manager
///   ([`ToolScopeLayer::close_forgotten`]);
/// - every event id the layer passes on in an event stream
///   (`text/event-stream`) is tagged for the agent it is sent to (an
///   HMAC under a key of the layer's own) — but in the answer that opens a
///   session, whose only id is rmcp's own priming `"0"` and which has
///   nothing to resume — and a `Last-Event-ID` that
///   does not carry the asking agent's tag is answered 404
///   `mcp_event_unknown` before rmcp replays anything: with an
///   `EventStore`, rmcp would replay any stream by its event id alone.
///   Two `Last-Event-ID` headers are 400. The key lives as long as the
///   layer: a stream resumes only through the layer (and process) that
///   sent it.
///
/// A request the layer lets through is recorded as accepted in the
/// verifier's audit sink before rmcp reads it — an acceptance that cannot
/// be recorded is answered 503 `audit_failed` and no tool runs, as
/// passport-axum's extractor does for a handler. A refusal by the layer is
/// recorded with its code.
///
/// It also puts the [`ToolScopes`] in the request's extensions, where
/// [`crate::AgentPassport`] reads them for the tool-side check.
#[derive(Clone)]
pub struct ToolScopeLayer {
    scopes: ToolScopes,
    max_body: usize,
    max_sessions: usize,
    max_sessions_per_principal: usize,
    sessions: Arc<Sessions>,
    events: EventIds,
    close: Option<Close>,
}

impl fmt::Debug for ToolScopeLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolScopeLayer")
            .field("scopes", &self.scopes)
            .field("max_body", &self.max_body)
            .field("max_sessions", &self.max_sessions)
            .field(
                "max_sessions_per_principal",
                &self.max_sessions_per_principal,
            )
            .field("close_forgotten", &self.close.is_some())
            .finish_non_exhaustive()
    }
}

impl ToolScopes {
    /// The layer that checks these scopes over HTTP (see
    /// [`ToolScopeLayer`]).
    pub fn layer(&self) -> ToolScopeLayer {
        ToolScopeLayer {
            scopes: self.clone(),
            max_body: DEFAULT_MAX_BODY,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_sessions_per_principal: DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            sessions: Arc::new(Sessions::new(
                DEFAULT_MAX_SESSIONS,
                DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
            )),
            events: EventIds::new(),
            close: None,
        }
    }
}

impl ToolScopeLayer {
    /// The largest request body read, in bytes (larger: 413). Keep it at
    /// most rmcp's `max_request_body_bytes`.
    pub fn max_body(mut self, bytes: usize) -> ToolScopeLayer {
        self.max_body = bytes;
        self
    }

    /// The most MCP sessions the layer remembers with the agent that
    /// opened each ([`crate::DEFAULT_MAX_SESSIONS`] unless set; at least
    /// 1). When it is full, opening a session forgets the session used
    /// least recently, which then gets 404 `mcp_session_unknown`. Every
    /// service made from this layer shares one table (setting a bound
    /// starts a new, empty one).
    pub fn max_sessions(mut self, sessions: usize) -> ToolScopeLayer {
        self.max_sessions = sessions;
        self.sessions = Arc::new(Sessions::new(sessions, self.max_sessions_per_principal));
        self
    }

    /// The most MCP sessions of one principal (a passport's issuer and
    /// `sub`), whatever its number of agents
    /// ([`crate::DEFAULT_MAX_SESSIONS_PER_PRINCIPAL`] unless set; at least
    /// 1, at most [`ToolScopeLayer::max_sessions`]). Opening one more
    /// forgets the principal's session used least recently: a principal
    /// that registers many clients (many agents) cannot push out other
    /// principals' sessions.
    pub fn max_sessions_per_principal(mut self, sessions: usize) -> ToolScopeLayer {
        self.max_sessions_per_principal = sessions;
        self.sessions = Arc::new(Sessions::new(self.max_sessions, sessions));
        self
    }

    /// Closes in rmcp each session the layer forgets to make room (see
    /// [`ToolScopeLayer::max_sessions`]): give it the session manager
    /// given to rmcp's `StreamableHttpService`. Without it, a forgotten
    /// session is unreachable through the layer (404) but lives on in
    /// rmcp until rmcp's own idle timeout ends it (`LocalSessionManager`:
    /// 5 minutes by default).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
    /// # fn layer(scopes: passport_rmcp::ToolScopes) {
    /// let sessions = Arc::new(LocalSessionManager::default());
    /// let layer = scopes.layer().close_forgotten(sessions.clone());
    /// // … StreamableHttpService::new(factory, sessions, config) behind `layer`
    /// # let _ = layer;
    /// # }
    /// ```
    pub fn close_forgotten<M: SessionManager>(mut self, manager: Arc<M>) -> ToolScopeLayer {
        self.close = Some(Arc::new(move |id: Arc<str>| {
            let manager = manager.clone();
            Box::pin(async move {
                // A session rmcp already ended is no error worth an answer.
                let _ = manager.close_session(&id).await;
            })
        }));
        self
    }

    /// `inner` (rmcp's `StreamableHttpService`) behind this check: the same
    /// as [`Layer::layer`], without importing the trait.
    pub fn service<S>(&self, inner: S) -> ToolScopeService<S> {
        ToolScopeService {
            inner,
            scopes: self.scopes.clone(),
            max_body: self.max_body,
            sessions: self.sessions.clone(),
            events: self.events.clone(),
            close: self.close.clone(),
        }
    }
}

impl<S> Layer<S> for ToolScopeLayer {
    type Service = ToolScopeService<S>;

    fn layer(&self, inner: S) -> ToolScopeService<S> {
        self.service(inner)
    }
}

/// The service of [`ToolScopeLayer`].
#[derive(Clone)]
pub struct ToolScopeService<S> {
    inner: S,
    scopes: ToolScopes,
    max_body: usize,
    sessions: Arc<Sessions>,
    events: EventIds,
    close: Option<Close>,
}

impl<S> fmt::Debug for ToolScopeService<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ToolScopeService")
            .field("scopes", &self.scopes)
            .field("max_body", &self.max_body)
            .finish_non_exhaustive()
    }
}

/// The future of [`ToolScopeService`].
pub type ToolScopeFuture<E> =
    Pin<Box<dyn Future<Output = Result<axum::response::Response, E>> + Send>>;

impl<S, B, RB> Service<Request<B>> for ToolScopeService<S>
where
    S: Service<Request<Body>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    type Response = axum::response::Response;
    type Error = S::Error;
    type Future = ToolScopeFuture<S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let scopes = self.scopes.clone();
        let max_body = self.max_body;
        let sessions = self.sessions.clone();
        let events = self.events.clone();
        let close = self.close.clone();
        Box::pin(async move {
            let (mut parts, body) = request.into_parts();
            let Some(passport) = parts.extensions.get::<Passport>().cloned() else {
                return Ok(layer_missing(&mut parts).await);
            };
            let owner = Owner::of(&passport);
            let session = match session_of(&parts, &sessions, &owner) {
                Ok(session) => session,
                Err(error) => return Ok(refuse(&passport, error)),
            };
            if let Err(error) = untag_last_event_id(&mut parts, &events, &owner) {
                return Ok(refuse(&passport, error));
            }
            let body = if parts.method == Method::POST {
                match check(&passport, &scopes, &parts, body, max_body).await {
                    Ok(bytes) => Body::from(bytes),
                    Err(refusal) => return Ok(refusal),
                }
            } else {
                Body::new(body)
            };
            parts.extensions.insert(scopes);
            // rmcp, and the tools behind it, receive the passport now: the
            // acceptance is recorded first (passport-axum's extractor does
            // it), and one that cannot be is answered 503 before rmcp runs.
            if let Err(rejection) = Passport::from_request_parts(&mut parts, &()).await {
                return Ok(rejection.into_response());
            }
            let ending = parts.method == Method::DELETE;
            let response = inner.call(Request::from_parts(parts, body)).await?;
            let stream = match session {
                Some(id) if ending && response.status().is_success() => {
                    sessions.ended(&id);
                    EventStream::InSession(sessions, id)
                }
                Some(id) => EventStream::InSession(sessions, id),
                None => match response
                    .headers()
                    .get(SESSION_ID)
                    .and_then(|v| v.to_str().ok())
                    .filter(|_| response.status().is_success())
                {
                    Some(id) => {
                        let forgotten = sessions.opened(id, owner.clone());
                        if let Some(close) = close {
                            close_in_background(close, forgotten);
                        }
                        EventStream::OpensSession
                    }
                    None => EventStream::Sessionless,
                },
            };
            Ok(tag_event_ids(response, &events, owner, stream))
        })
    }
}

/// passport-axum's own answer to a missing layer (500
/// `passport_layer_missing`).
async fn layer_missing(parts: &mut Parts) -> axum::response::Response {
    match Passport::from_request_parts(parts, &()).await {
        Err(rejection) => rejection.into_response(),
        // Not reached: the caller found no passport.
        Ok(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// The session the request names (`None`: none), when `owner` opened it
/// through this layer; a request naming it twice, or naming a session of
/// another agent or one the layer does not remember, is refused.
fn session_of(
    parts: &Parts,
    sessions: &Sessions,
    owner: &Owner,
) -> Result<Option<String>, ToolScopeError> {
    let mut named = parts.headers.get_all(SESSION_ID).iter();
    let Some(id) = named.next() else {
        return Ok(None);
    };
    if named.next().is_some() {
        return Err(ToolScopeError::MalformedRequest(
            "two Mcp-Session-Id headers",
        ));
    }
    match id.to_str() {
        Ok(id) if sessions.belongs_to(id, owner) => Ok(Some(id.to_owned())),
        _ => Err(ToolScopeError::UnknownSession),
    }
}

/// Takes the asking agent's tag off the request's `Last-Event-ID` (see
/// [`crate::events`]); a request with none is left as it is, one with
/// another agent's, a cut or a made-up tag, or with two, is refused.
fn untag_last_event_id(
    parts: &mut Parts,
    events: &EventIds,
    owner: &Owner,
) -> Result<(), ToolScopeError> {
    let mut named = parts.headers.get_all(LAST_EVENT_ID).iter();
    let Some(presented) = named.next() else {
        return Ok(());
    };
    if named.next().is_some() {
        return Err(ToolScopeError::MalformedRequest(
            "two Last-Event-ID headers",
        ));
    }
    let id = presented
        .to_str()
        .ok()
        .and_then(|presented| events.untagged(owner, presented))
        .and_then(|id| HeaderValue::from_str(id).ok())
        .ok_or(ToolScopeError::UnknownEvent)?;
    parts.headers.insert(LAST_EVENT_ID, id);
    Ok(())
}

/// Closes the forgotten sessions in rmcp, in a task of their own: not in
/// the request that made room (an agent's `initialize` would wait on
/// another's session, and stop closing if its client went away).
fn close_in_background(close: Close, forgotten: Vec<Arc<str>>) {
    if forgotten.is_empty() {
        return;
    }
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move {
                for id in forgotten {
                    close(id).await;
                }
            });
        }
        // rmcp's service runs on tokio: not reached.
        Err(_) => tracing::warn!(
            sessions = forgotten.len(),
            "no tokio runtime to close forgotten MCP sessions: rmcp's idle timeout will"
        ),
    }
}

/// How often, at most, an open event stream marks its session as used.
const STREAM_USE_INTERVAL: Duration = Duration::from_secs(1);

/// What an answer's event stream belongs to.
enum EventStream {
    /// A session the request named: each frame that passes (events, and
    /// rmcp's keep-alives) marks it as used, at most every
    /// [`STREAM_USE_INTERVAL`], so a session with an open stream is not
    /// the least recently used.
    InSession(Arc<Sessions>, String),
    /// The answer that opens a session (`initialize`): its ids are rmcp's
    /// own (`"0"`, a priming event), not an event store's, and the same
    /// string may name another agent's event in the store. Nothing in it
    /// needs resuming: its ids pass untagged, so a resume from one is
    /// refused. (rmcp 3.11 takes every other id from the store when one is
    /// configured; a session manager that mixes ids of its own with a
    /// store's would need the same care.)
    OpensSession,
    /// MCP's stateless form: no session.
    Sessionless,
}

/// rmcp's answer, with every event id of an event stream tagged for
/// `owner` (but in the answer that opens a session: see
/// [`EventStream::OpensSession`]).
fn tag_event_ids<RB>(
    response: Response<RB>,
    events: &EventIds,
    owner: Owner,
    stream: EventStream,
) -> axum::response::Response
where
    RB: HttpBody<Data = Bytes> + Send + 'static,
    RB::Error: Into<BoxError>,
{
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("text/event-stream"));
    if !is_stream || matches!(stream, EventStream::OpensSession) {
        return response.map(Body::new);
    }
    let (mut parts, body) = response.into_parts();
    // the tags lengthen the body
    parts.headers.remove(CONTENT_LENGTH);
    let mut rewriter = events.rewriter(&owner);
    let mut used = Instant::now();
    let body = body.map_frame(move |frame| {
        if let EventStream::InSession(sessions, id) = &stream
            && used.elapsed() >= STREAM_USE_INTERVAL
        {
            used = Instant::now();
            sessions.belongs_to(id, &owner);
        }
        frame.map_data(|data| rewriter.feed(&data))
    });
    Response::from_parts(parts, Body::new(body))
}

/// Reads the body and checks every tool it calls; the body's bytes when
/// they may go on, the refusal otherwise.
async fn check<B>(
    passport: &Passport,
    scopes: &ToolScopes,
    parts: &Parts,
    body: B,
    max_body: usize,
) -> Result<Bytes, axum::response::Response>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let bytes = read_bounded(parts, body, max_body)
        .await
        .map_err(|e| refuse(passport, e))?;
    let tools = called_tools(&bytes).map_err(|e| refuse(passport, e))?;
    for tool in tools {
        match scopes.access(&tool) {
            Some(ToolAccess::Scope(scope)) => passport
                .require_scope(scope)
                .map_err(IntoResponse::into_response)?,
            Some(ToolAccess::Public) => {}
            // Fail closed: a tool the table does not know may still be one
            // the handler serves (added later, another router).
            None => return Err(refuse(passport, ToolScopeError::Undeclared { tool })),
        }
    }
    Ok(bytes)
}

async fn read_bounded<B>(parts: &Parts, body: B, max: usize) -> Result<Bytes, ToolScopeError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let too_large = ToolScopeError::BodyTooLarge { max };
    let declared = parts
        .headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return Err(too_large);
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large),
        Err(_) => Err(ToolScopeError::MalformedRequest(
            "the request body could not be read",
        )),
    }
}

/// 413, 404 or 400, with a body like passport-axum's refusals; the
/// `error_description` is the code, which is also the request's audit
/// record.
fn refuse(passport: &Passport, error: ToolScopeError) -> axum::response::Response {
    passport.record_refusal(error.code());
    let status = match error {
        ToolScopeError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        ToolScopeError::UnknownSession | ToolScopeError::UnknownEvent => StatusCode::NOT_FOUND,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({
        "error": "invalid_request",
        "error_description": error.code(),
    });
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The tool names of the `tools/call` requests in a JSON-RPC body: one
/// message, or each message of a batch.
///
/// Refused (so never passed on unchecked): a body that is not JSON, any
/// object with a member twice (two parsers could each pick a different
/// one), a `method` that is not a string, a `tools/call` whose
/// `params.name` is not a string.
pub(crate) fn called_tools(body: &[u8]) -> Result<Vec<String>, ToolScopeError> {
    let Strict(json) = serde_json::from_slice(body).map_err(|_| {
        ToolScopeError::MalformedRequest("not JSON, or an object with a member twice")
    })?;
    let messages = match json {
        Value::Array(batch) => batch,
        message => vec![message],
    };
    let mut tools = Vec::new();
    for message in &messages {
        let Some(method) = message.get("method") else {
            continue;
        };
        let Some(method) = method.as_str() else {
            return Err(ToolScopeError::MalformedRequest(
                "a method that is not a string",
            ));
        };
        if method != "tools/call" {
            continue;
        }
        let name = message
            .get("params")
            .and_then(|params| params.get("name"))
            .and_then(Value::as_str)
            .ok_or(ToolScopeError::MalformedRequest(
                "a tools/call without a tool name",
            ))?;
        tools.push(name.to_owned());
    }
    Ok(tools)
}

/// A JSON value parsed without tolerating a member twice in one object.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Strict, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut members = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.contains_key(&key) {
                return Err(de::Error::custom("a member twice in one object"));
            }
            let Strict(value) = map.next_value()?;
            members.insert(key, value);
        }
        Ok(Value::Object(members))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn code(body: &str) -> &'static str {
        called_tools(body.as_bytes()).unwrap_err().code()
    }

    #[test]
    fn finds_calls_in_messages_and_batches() {
        let one = r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"read_file"}}"#;
        assert_eq!(called_tools(one.as_bytes()).unwrap(), ["read_file"]);
        let batch = r#"[{"jsonrpc":"2.0","id":1,"method":"tools/list"},
            {"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"a"}},
            {"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"b"}}]"#;
        assert_eq!(called_tools(batch.as_bytes()).unwrap(), ["a", "b"]);
        // An escaped method is the same method to every JSON parser.
        let escaped = r#"{"method":"tools\/call","params":{"name":"read_\u0066ile"}}"#;
        assert_eq!(called_tools(escaped.as_bytes()).unwrap(), ["read_file"]);
        let response = r#"{"jsonrpc":"2.0","id":1,"result":{}}"#;
        assert!(called_tools(response.as_bytes()).unwrap().is_empty());
    }

    #[test]
    fn refuses_what_could_hide_a_call() {
        assert_eq!(code("{\"method\":\"tools/call\""), "malformed_jsonrpc");
        assert_eq!(code("not json"), "malformed_jsonrpc");
        // The same member twice: one parser may keep the first, another the last.
        assert_eq!(
            code(r#"{"method":"tools/list","method":"tools/call","params":{"name":"x"}}"#),
            "malformed_jsonrpc"
        );
        assert_eq!(
            code(r#"{"method":"tools/call","params":{"name":"read_file","name":"send_mail"}}"#),
            "malformed_jsonrpc"
        );
        assert_eq!(code(r#"{"method":7}"#), "malformed_jsonrpc");
        assert_eq!(
            code(r#"{"method":"tools/call","params":{}}"#),
            "malformed_jsonrpc"
        );
        assert_eq!(
            code(r#"[{"method":"tools/call","params":{"name":3}}]"#),
            "malformed_jsonrpc"
        );
        // Nesting past serde_json's recursion limit is an error, not a stack overflow.
        let deep = "[".repeat(100_000);
        assert_eq!(code(&deep), "malformed_jsonrpc");
    }

    #[tokio::test]
    async fn the_bound_holds_without_a_content_length() {
        // No `Content-Length` (a chunked body): the bound is enforced while
        // reading.
        let (parts, ()) = Request::new(()).into_parts();
        let error = read_bounded(&parts, Body::from(vec![b' '; 1025]), 1024)
            .await
            .unwrap_err();
        assert_eq!(error.code(), "request_too_large");
        let exact = read_bounded(&parts, Body::from(vec![b' '; 1024]), 1024).await;
        assert_eq!(exact.unwrap().len(), 1024);
        // A Content-Length over the bound is refused before reading.
        let (mut parts, ()) = Request::new(()).into_parts();
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(1025));
        let error = read_bounded(&parts, Body::empty(), 1024).await.unwrap_err();
        assert_eq!(error.code(), "request_too_large");
    }
}
