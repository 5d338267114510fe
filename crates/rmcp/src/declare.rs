//! Where a tool states its scope: its own `_meta`, read once at startup.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use passport_claims::scope::MAX_PATTERN_LEN;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::model::{MetaObject, Tool};
use serde_json::Value;

use crate::ToolScopeError;

/// The `_meta` key under which a tool names the scope a passport needs to
/// call it (`"agentpassport/scope": "files:read"`). Clients see it in
/// `tools/list` too.
pub const SCOPE_META_KEY: &str = "agentpassport/scope";

/// The `_meta` key by which a tool declares that any valid passport may
/// call it (`"agentpassport/public": true`).
pub const PUBLIC_META_KEY: &str = "agentpassport/public";

/// The `_meta` of a tool that needs `scope`: put it in the tool's attribute,
/// `#[tool(description = "…", meta = passport_rmcp::scope("files:read"))]`.
///
/// The scope is checked when [`ToolScopes`] reads the router (one RFC 6749
/// §3.3 scope token, no wildcard).
///
/// ```
/// let meta = passport_rmcp::scope("files:read");
/// assert_eq!(meta.0["agentpassport/scope"], "files:read");
/// ```
pub fn scope(scope: &str) -> MetaObject {
    let mut meta = MetaObject::new();
    meta.0.insert(SCOPE_META_KEY.to_owned(), Value::from(scope));
    meta
}

/// The `_meta` of a tool that any valid passport may call, whatever its
/// scopes: `#[tool(meta = passport_rmcp::public())]`. The request still
/// needs a valid passport (the passport layer's check).
pub fn public() -> MetaObject {
    let mut meta = MetaObject::new();
    meta.0.insert(PUBLIC_META_KEY.to_owned(), Value::Bool(true));
    meta
}

/// What calling a tool takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToolAccess<'a> {
    /// A passport whose scopes cover this scope.
    Scope(&'a str),
    /// Any valid passport (declared with [`public`]).
    Public,
}

#[derive(Debug)]
enum Access {
    Scope(String),
    Public,
}

/// Every tool of a router and the scope it declared: the one table the
/// HTTP check ([`ToolScopes::layer`]) and the tool-side check
/// ([`crate::AgentPassport`]) read.
///
/// Built at startup with [`ToolScopes::from_router`], which refuses a tool
/// that declares nothing: no tool is reachable by default.
#[derive(Debug, Clone)]
pub struct ToolScopes(Arc<HashMap<String, Access>>);

impl ToolScopes {
    /// Reads the declaration of every tool of `router`, disabled ones
    /// included (they may be enabled later).
    ///
    /// # Errors
    ///
    /// [`ToolScopeError::Undeclared`] for a tool with neither [`scope`] nor
    /// [`public`] in its `_meta`, [`ToolScopeError::InvalidDeclaration`] for
    /// an unusable one, [`ToolScopeError::TransparentRouter`] for a router
    /// that hands unknown tools to another handler.
    pub fn from_router<S>(router: &ToolRouter<S>) -> Result<ToolScopes, ToolScopeError> {
        if router.transparent_when_not_found {
            return Err(ToolScopeError::TransparentRouter);
        }
        ToolScopes::from_tools(router.map.values().map(|route| &route.attr))
    }

    /// Reads the declarations of `tools` (tools served some other way than
    /// by one [`ToolRouter`]).
    ///
    /// # Errors
    ///
    /// As [`ToolScopes::from_router`].
    pub fn from_tools<'a>(
        tools: impl IntoIterator<Item = &'a Tool>,
    ) -> Result<ToolScopes, ToolScopeError> {
        let mut map = HashMap::new();
        for tool in tools {
            map.insert(tool.name.to_string(), declaration(tool)?);
        }
        Ok(ToolScopes(Arc::new(map)))
    }

    /// What calling `tool` takes; `None` for a tool not in the table.
    pub fn access(&self, tool: &str) -> Option<ToolAccess<'_>> {
        self.0.get(tool).map(|access| match access {
            Access::Scope(scope) => ToolAccess::Scope(scope),
            Access::Public => ToolAccess::Public,
        })
    }

    /// Every declared scope, sorted, each once: the RFC 9728
    /// `scopes_supported` of the server.
    pub fn scopes(&self) -> Vec<&str> {
        let set: BTreeSet<&str> = self
            .0
            .values()
            .filter_map(|access| match access {
                Access::Scope(scope) => Some(scope.as_str()),
                Access::Public => None,
            })
            .collect();
        set.into_iter().collect()
    }

    /// Every tool and what calling it takes, sorted by name.
    pub fn tools(&self) -> Vec<(&str, ToolAccess<'_>)> {
        let mut tools: Vec<_> = self
            .0
            .keys()
            .filter_map(|name| Some((name.as_str(), self.access(name)?)))
            .collect();
        tools.sort_by(|a, b| a.0.cmp(b.0));
        tools
    }
}

fn declaration(tool: &Tool) -> Result<Access, ToolScopeError> {
    let invalid = |why| ToolScopeError::InvalidDeclaration {
        tool: tool.name.to_string(),
        why,
    };
    let meta = tool.meta.as_ref().map(|m| &m.0);
    let scope = meta.and_then(|m| m.get(SCOPE_META_KEY));
    let public = meta.and_then(|m| m.get(PUBLIC_META_KEY));
    match (scope, public) {
        (None, None) => Err(ToolScopeError::Undeclared {
            tool: tool.name.to_string(),
        }),
        (Some(_), Some(_)) => Err(invalid("declared both public and scoped")),
        (None, Some(Value::Bool(true))) => Ok(Access::Public),
        (None, Some(_)) => Err(invalid("`agentpassport/public` is not `true`")),
        (Some(Value::String(scope)), None) => {
            check_scope(scope).map_err(invalid)?;
            Ok(Access::Scope(scope.clone()))
        }
        (Some(_), None) => Err(invalid("`agentpassport/scope` is not a string")),
    }
}

/// One RFC 6749 §3.3 scope token (`%x21 / %x23-5B / %x5D-7E`), without the
/// wildcards of scope patterns, at most [`MAX_PATTERN_LEN`] bytes.
fn check_scope(scope: &str) -> Result<(), &'static str> {
    if scope.is_empty() {
        return Err("the scope is empty");
    }
    if scope.len() > MAX_PATTERN_LEN {
        return Err("the scope is too long");
    }
    if scope.contains(['*', '?', '[']) {
        return Err("a required scope is one scope, not a pattern");
    }
    let token = |b: u8| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b);
    if !scope.bytes().all(token) {
        return Err("the scope is not one RFC 6749 scope token");
    }
    Ok(())
}
