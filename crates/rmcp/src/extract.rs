//! The tool-side check: a tool takes the caller's passport as a parameter.

use std::ops::Deref;

use axum::http::request::Parts;
use passport_axum::Passport;
use passport_verifier::VerifiedPassport;
use rmcp::ErrorData;
use rmcp::handler::server::common::FromContextPart;
use rmcp::handler::server::tool::ToolCallContext;
use rmcp::model::ErrorCode;
use serde_json::json;

use crate::declare::{ToolAccess, ToolScopes};

/// The verified passport of the request calling a tool, as a tool
/// parameter: `fn read_file(&self, passport: AgentPassport, …)`. It
/// dereferences to the [`VerifiedPassport`].
///
/// Taking it checks, once more and inside rmcp, the scope the tool declared
/// (read from the same [`ToolScopes`] the HTTP check used): the tool then
/// does not run when
///
/// - the request came without the passport layer or the
///   [`crate::ToolScopeLayer`] in front (no passport, no table): JSON-RPC
///   error `-32603`, `passport_layer_missing`;
/// - the tool is not in the table: `-32600`, `tool_scope_undeclared`;
/// - the passport does not cover its scope: `-32600`, `insufficient_scope`
///   naming the scope (see [`AgentPassport::require_scope`]).
///
/// The HTTP check already answered 403 in the last case; this one keeps a
/// tool safe when it is reached some other way.
#[derive(Debug, Clone)]
pub struct AgentPassport(pub Passport);

impl AgentPassport {
    /// passport-axum's view of the passport: the DPoP proof and scheme too.
    pub fn passport(&self) -> &Passport {
        &self.0
    }

    /// A second check inside a tool (say, a scope only some arguments
    /// need): `Err` is a JSON-RPC error (`-32600`) whose message and data
    /// name the scope.
    ///
    /// ```no_run
    /// # fn f(passport: passport_rmcp::AgentPassport) -> Result<(), rmcp::ErrorData> {
    /// let overwrite = true;
    /// if overwrite {
    ///     passport.require_scope("files:overwrite")?;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn require_scope(&self, scope: &str) -> Result<(), ErrorData> {
        self.0
            .require_scope(scope)
            .map_err(|_| insufficient_scope(scope))
    }
}

impl Deref for AgentPassport {
    type Target = VerifiedPassport;
    fn deref(&self) -> &VerifiedPassport {
        self.0.verified()
    }
}

impl<S> FromContextPart<ToolCallContext<'_, S>> for AgentPassport {
    fn from_context_part(context: &mut ToolCallContext<'_, S>) -> Result<Self, ErrorData> {
        let http = context
            .request_context
            .extensions
            .get::<Parts>()
            .ok_or_else(layer_missing)?;
        let passport = http
            .extensions
            .get::<Passport>()
            .ok_or_else(layer_missing)?;
        let scopes = http
            .extensions
            .get::<ToolScopes>()
            .ok_or_else(layer_missing)?;
        let passport = AgentPassport(passport.clone());
        match scopes.access(&context.name) {
            Some(ToolAccess::Scope(scope)) => passport.require_scope(scope)?,
            Some(ToolAccess::Public) => {}
            None => {
                return Err(ErrorData::new(
                    ErrorCode::INVALID_REQUEST,
                    format!(
                        "tool_scope_undeclared: `{}` declares no scope",
                        context.name
                    ),
                    Some(json!({ "error": "tool_scope_undeclared" })),
                ));
            }
        }
        Ok(passport)
    }
}

/// The JSON-RPC error of a passport that does not cover `scope`: message
/// "insufficient_scope: this tool requires scope `files:read`", data
/// `{"error": "insufficient_scope", "error_description": "scope_violation",
/// "scope": <scope>}`.
pub fn insufficient_scope(scope: &str) -> ErrorData {
    ErrorData::new(
        ErrorCode::INVALID_REQUEST,
        format!("insufficient_scope: this tool requires scope `{scope}`"),
        Some(json!({
            "error": "insufficient_scope",
            "error_description": "scope_violation",
            "scope": scope,
        })),
    )
}

fn layer_missing() -> ErrorData {
    ErrorData::new(
        ErrorCode::INTERNAL_ERROR,
        "passport_layer_missing: no passport layer and tool scope layer in front of this MCP server",
        Some(json!({ "error": "passport_layer_missing" })),
    )
}
