//! Policy as data: the policy file (TOML), validated on load and reloaded
//! when it changes; a bad new file keeps the running policy.
//!
//! ```toml
//! approval_ttl = 900                 # seconds an approval admits (60 to 86400)
//!
//! [environments.prod]
//! max_ttl = 45                       # seconds: a cap, not a refusal
//! audiences = ["https://prod.example/api"]
//! approval = true
//! [[environments.prod.grants]]
//! agents = ["workload-abc"]          # and/or roles = ["deployer"]
//! scopes = ["deploy:*"]
//!
//! [administrators]
//! claim = "roles"
//! api_client_id = "passport-admin"   # the admin API's bearer tokens' client
//! [administrators.roles]
//! approver = ["approvers"]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::{Duration, SystemTime};

use passport_claims::{Clock, ScopePattern, ScopeSet};
use serde::Deserialize;

use super::audit::{self, Action, AuditEvent, Outcome};
use super::roles::RoleMapping;
use crate::service::Server;

/// The default time an approval admits, in seconds (15 minutes).
pub(crate) const DEFAULT_APPROVAL_TTL: u64 = 15 * 60;
/// The longest `approval_ttl` a policy may set, in seconds (one day).
pub(crate) const MAX_APPROVAL_TTL: u64 = 24 * 60 * 60;
/// The shortest `approval_ttl` a policy may set, in seconds.
pub(crate) const MIN_APPROVAL_TTL: u64 = 60;
/// How often the policy file is checked for a change by default.
pub const DEFAULT_POLICY_RELOAD_INTERVAL: Duration = Duration::from_secs(2);
/// The largest policy file read, in bytes.
const MAX_POLICY_BYTES: u64 = 1024 * 1024;

/// Why a policy file was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The file could not be read.
    #[error("{file}: cannot read the policy file: {reason}")]
    Unreadable {
        /// The file.
        file: String,
        /// Why.
        reason: String,
    },
    /// The file is not TOML of the policy's shape (an unknown key included).
    #[error("{file}{}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Syntax {
        /// The file.
        file: String,
        /// The line toml pointed at, if it did.
        line: Option<usize>,
        /// What toml said.
        reason: String,
    },
    /// A rule of the policy is broken.
    #[error("{file}{}: {rule}: {reason}", line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        /// The file.
        file: String,
        /// The line of the table concerned, when found.
        line: Option<usize>,
        /// The rule (`environments.prod.max_ttl`, …).
        rule: String,
        /// What is wrong.
        reason: String,
    },
}

passport_jose::error_codes! {
    PolicyError {
        PolicyError::Unreadable { .. } => "policy_unreadable":
            "The governance policy file could not be read.",
        PolicyError::Syntax { .. } => "policy_syntax":
            "The governance policy file is not TOML of the policy's shape (an unknown key included).",
        PolicyError::Invalid { .. } => "policy_invalid":
            "The governance policy file breaks a rule (TTL, audiences, scopes, grants, approval TTL).",
    }
}

// ---- the file's shape ----

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    approval_ttl: Option<u64>,
    #[serde(default)]
    environments: BTreeMap<String, EnvironmentFile>,
    #[serde(default)]
    administrators: RoleMapping,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentFile {
    max_ttl: u64,
    audiences: Vec<String>,
    /// Required: the one field whose absence would widen access, so a
    /// file cut short by a writer mid-way never loses it silently.
    approval: bool,
    #[serde(default)]
    grants: Vec<GrantFile>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFile {
    #[serde(default)]
    agents: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
    scopes: Vec<String>,
}

// ---- the validated policy ----

/// A policy, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Policy {
    pub(crate) environments: Vec<Environment>,
    pub(crate) administrators: Arc<RoleMapping>,
    /// How long an approval admits, in seconds.
    pub(crate) approval_ttl: u64,
}

/// One environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Environment {
    pub(crate) name: String,
    pub(crate) max_ttl: u64,
    pub(crate) audiences: BTreeSet<String>,
    pub(crate) approval: bool,
    pub(crate) grants: Vec<Grant>,
}

/// Who may obtain which scopes in an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Grant {
    pub(crate) agents: BTreeSet<String>,
    pub(crate) roles: BTreeSet<String>,
    pub(crate) scopes: ScopeSet,
}

impl Policy {
    /// Parses and validates `text`, the contents of `file`.
    pub(crate) fn parse(file: &Path, text: &str) -> Result<Policy, PolicyError> {
        let name = file.display().to_string();
        let raw: PolicyFile = toml::from_str(text).map_err(|e| PolicyError::Syntax {
            file: name.clone(),
            line: e.span().map(|s| line_of(text, s.start)),
            reason: e.message().trim().to_owned(),
        })?;
        let invalid = |rule: String, reason: String, needle: &str| PolicyError::Invalid {
            file: name.clone(),
            line: find_line(text, needle),
            rule,
            reason,
        };
        let approval_ttl = raw.approval_ttl.unwrap_or(DEFAULT_APPROVAL_TTL);
        if !(MIN_APPROVAL_TTL..=MAX_APPROVAL_TTL).contains(&approval_ttl) {
            return Err(invalid(
                "approval_ttl".into(),
                format!("must be {MIN_APPROVAL_TTL} to {MAX_APPROVAL_TTL} seconds"),
                "approval_ttl",
            ));
        }
        // A policy without environments would refuse every grant; more
        // likely it is a file caught empty by a writer (truncated, not yet
        // written): refused, so the running policy stays.
        if raw.environments.is_empty() {
            return Err(invalid(
                "environments".into(),
                "none defined: a policy names at least one environment".into(),
                "[environments",
            ));
        }
        let mut environments = Vec::new();
        let mut owner_of: BTreeMap<String, String> = BTreeMap::new();
        for (env_name, env) in raw.environments {
            let table = format!("environments.{env_name}");
            let rule = |what: &str| format!("{table}.{what}");
            if !valid_name(&env_name) {
                return Err(invalid(
                    "environments".into(),
                    format!("{env_name:?}: a name is 1 to 64 of A-Z a-z 0-9 _ -"),
                    &table,
                ));
            }
            if env.max_ttl == 0 {
                return Err(invalid(rule("max_ttl"), "must be above 0".into(), &table));
            }
            if env.audiences.is_empty() {
                return Err(invalid(rule("audiences"), "none listed".into(), &table));
            }
            let mut audiences = BTreeSet::new();
            for audience in env.audiences {
                if let Err(why) = check_audience(&audience) {
                    return Err(invalid(
                        rule("audiences"),
                        format!("{audience:?}: {why}"),
                        &table,
                    ));
                }
                if let Some(other) = owner_of.insert(audience.clone(), env_name.clone()) {
                    return Err(invalid(
                        rule("audiences"),
                        format!("{audience:?} is also an audience of environment {other:?}"),
                        &table,
                    ));
                }
                audiences.insert(audience);
            }
            let mut grants = Vec::new();
            for (i, grant) in env.grants.into_iter().enumerate() {
                let grant_rule = rule("grants");
                let at =
                    |reason: String| invalid(grant_rule.clone(), format!("#{i}: {reason}"), &table);
                if grant.agents.is_empty() && grant.roles.is_empty() {
                    return Err(at("names no agents and no roles".into()));
                }
                if let Some(bad) = grant
                    .agents
                    .iter()
                    .chain(&grant.roles)
                    .find(|s| !valid_label(s))
                {
                    return Err(at(format!(
                        "{bad:?}: agents and roles are 1 to 256 characters without controls \
                         or surrounding spaces"
                    )));
                }
                if grant.scopes.is_empty() {
                    return Err(at("no scopes".into()));
                }
                let scopes =
                    ScopeSet::parse(&grant.scopes).map_err(|e| at(format!("scopes: {e}")))?;
                // granted through OAuth's scope parameter: RFC 6749 tokens
                if let Some(bad) = scopes.iter().find(|p| {
                    p.as_str().contains(' ') || !passport_claims::scope::is_oauth_scope(p.as_str())
                }) {
                    return Err(at(format!(
                        "{:?} is not an RFC 6749 scope token",
                        bad.as_str()
                    )));
                }
                grants.push(Grant {
                    agents: grant.agents.into_iter().collect(),
                    roles: grant.roles.into_iter().collect(),
                    scopes,
                });
            }
            environments.push(Environment {
                name: env_name,
                max_ttl: env.max_ttl,
                audiences,
                approval: env.approval,
                grants,
            });
        }
        Ok(Policy {
            environments,
            administrators: Arc::new(raw.administrators),
            approval_ttl,
        })
    }

    /// The environment `audience` belongs to.
    pub(crate) fn environment_for(&self, audience: &str) -> Option<&Environment> {
        self.environments
            .iter()
            .find(|e| e.audiences.contains(audience))
    }
}

impl Environment {
    /// The scope patterns `agent_id` (with `roles`) is granted here.
    pub(crate) fn granted(&self, agent_id: &str, roles: &[String]) -> Vec<&ScopePattern> {
        self.grants
            .iter()
            .filter(|g| g.agents.contains(agent_id) || roles.iter().any(|r| g.roles.contains(r)))
            .flat_map(|g| g.scopes.iter())
            .collect()
    }
}

/// The patterns of `asked` that no pattern of `granted` implies.
pub(crate) fn beyond<'a>(asked: &'a ScopeSet, granted: &[&ScopePattern]) -> Vec<&'a str> {
    asked
        .iter()
        .filter(|p| !granted.iter().any(|g| p.is_implied_by(g)))
        .map(ScopePattern::as_str)
        .collect()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// A name in a grant, an identity's role: 1 to 256 characters, no
/// control, no surrounding space.
pub(crate) fn valid_label(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && s.trim() == s && !s.chars().any(char::is_control)
}

fn check_audience(audience: &str) -> Result<(), &'static str> {
    let url = url::Url::parse(audience).map_err(|_| "not an absolute URL")?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none_or(str::is_empty) {
        return Err("not an http(s) URL with a host");
    }
    if url.fragment().is_some() {
        return Err("has a fragment");
    }
    if audience
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        return Err("has spaces or controls");
    }
    Ok(())
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset).unwrap_or(text).matches('\n').count() + 1
}

/// The first line mentioning `needle` (a table name or key), if any.
fn find_line(text: &str, needle: &str) -> Option<usize> {
    text.lines().position(|l| l.contains(needle)).map(|i| i + 1)
}

// ---- the handle: the policy in force, reloaded ----

/// What the dashboard shows of the policy in force.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PolicyStatus {
    /// The policy file.
    pub file: String,
    /// 1 for the policy loaded at start, then one more per reload applied.
    pub version: u64,
    /// When the policy in force was loaded (seconds since the epoch).
    pub loaded_at: i64,
    /// The environments it defines.
    pub environments: Vec<String>,
    /// Why the last attempt to reload failed, if the last attempt failed
    /// (the policy in force is then the previous one).
    pub last_error: Option<String>,
    /// When that attempt was made.
    pub last_error_at: Option<i64>,
}

/// The policy file's identity on disk: reloaded when it changes.
type Fingerprint = Option<(SystemTime, u64)>;

/// The policy in force and its file.
pub(crate) struct PolicyHandle {
    path: PathBuf,
    clock: Arc<dyn Clock>,
    current: RwLock<Arc<Policy>>,
    state: Mutex<Reloads>,
    watcher: Mutex<Option<tokio::task::AbortHandle>>,
}

struct Reloads {
    status: PolicyStatus,
    seen: Fingerprint,
}

impl std::fmt::Debug for PolicyHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyHandle")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn fingerprint(path: &Path) -> Fingerprint {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// How many times a file that changes while it is read is read again.
const SETTLE_ATTEMPTS: usize = 3;

/// [`read`], trusted only when the file's fingerprint is the same after
/// the read as before (`seen`): a file written in place while it was read
/// may be a valid prefix of the new one. Read again, at most
/// [`SETTLE_ATTEMPTS`] times; then refused (the running policy stays and
/// the next check reads it again). Writing the file by an atomic rename
/// avoids the question.
fn read_settled(path: &Path, mut seen: Fingerprint) -> Result<Policy, PolicyError> {
    for _ in 0..SETTLE_ATTEMPTS {
        let outcome = read(path);
        let after = fingerprint(path);
        if after == seen {
            return outcome;
        }
        seen = after;
    }
    Err(PolicyError::Unreadable {
        file: path.display().to_string(),
        reason: "the file kept changing while it was read; write it by an atomic rename".into(),
    })
}

fn read(path: &Path) -> Result<Policy, PolicyError> {
    let unreadable = |reason: String| PolicyError::Unreadable {
        file: path.display().to_string(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| unreadable(e.to_string()))?;
    if meta.len() > MAX_POLICY_BYTES {
        return Err(unreadable(format!("larger than {MAX_POLICY_BYTES} bytes")));
    }
    let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
    Policy::parse(path, &text)
}

impl PolicyHandle {
    /// Loads `path`: a bad file refuses to start.
    pub(crate) fn load(path: &Path, clock: Arc<dyn Clock>) -> Result<PolicyHandle, PolicyError> {
        let seen = fingerprint(path);
        let policy = read(path)?;
        let status = PolicyStatus {
            file: path.display().to_string(),
            version: 1,
            loaded_at: clock.now(),
            environments: policy.environments.iter().map(|e| e.name.clone()).collect(),
            last_error: None,
            last_error_at: None,
        };
        Ok(PolicyHandle {
            path: path.to_owned(),
            clock,
            current: RwLock::new(Arc::new(policy)),
            state: Mutex::new(Reloads { status, seen }),
            watcher: Mutex::new(None),
        })
    }

    /// The policy in force.
    pub(crate) fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    /// Its status.
    pub(crate) fn status(&self) -> PolicyStatus {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .status
            .clone()
    }

    /// Reads the file again if it changed (or always, with `force`): a good
    /// file replaces the policy in force, a bad one is reported and kept
    /// out. What happened, `None` when the file had not changed.
    pub(crate) fn reload(&self, force: bool) -> Option<Reloaded> {
        let seen = fingerprint(&self.path);
        {
            let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
            if !force && state.seen == seen {
                return None;
            }
            state.seen = seen;
        }
        let outcome = read_settled(&self.path, seen);
        let now = self.clock.now();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        match outcome {
            Ok(policy) => {
                let environments = policy.environments.iter().map(|e| e.name.clone()).collect();
                *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
                let s = &mut state.status;
                s.version += 1;
                s.loaded_at = now;
                s.environments = environments;
                s.last_error = None;
                s.last_error_at = None;
                tracing::info!(file = %s.file, version = s.version, outcome = "ok", "policy reloaded");
                Some(Reloaded::Applied(s.clone()))
            }
            Err(e) => {
                tracing::warn!(error = %e, code = e.code(), "the new policy file is refused; the running policy stays");
                state.status.last_error = Some(e.to_string());
                state.status.last_error_at = Some(now);
                Some(Reloaded::Refused(state.status.clone(), e))
            }
        }
    }
}

/// What a reload did.
#[derive(Debug, Clone)]
pub(crate) enum Reloaded {
    /// The new file is in force (the status after).
    Applied(PolicyStatus),
    /// The new file was refused; the running policy stays.
    Refused(PolicyStatus, PolicyError),
}

/// Records `reloaded` in the audit trail (action `policy_reloaded`, done
/// or refused). The file reload is no administrator's request and is in
/// force (or refused) already: a record that cannot be stored is logged.
async fn audit_reload(server: &Server, reloaded: Reloaded) {
    let (outcome, status, error) = match reloaded {
        Reloaded::Applied(status) => (Outcome::Done, status, None),
        Reloaded::Refused(status, e) => (Outcome::Refused, status, Some(e)),
    };
    let mut event = AuditEvent::new(Action::PolicyReloaded, outcome)
        .actor(POLICY_ACTOR)
        .rule("policy");
    let detail = match &error {
        None => serde_json::json!({
            "file": status.file,
            "version": status.version,
            "environments": status.environments,
        }),
        Some(e) => {
            event = event.error(e.code());
            serde_json::json!({
                "file": status.file,
                "version": status.version,
                "reason": passport_jose::clip(&e.to_string(), 512),
            })
        }
    };
    if audit::record(server, event.detail(detail)).await.is_err() {
        tracing::error!(file = %status.file, "a policy reload could not be audited");
    }
}

/// Who reloads the policy file, in the audit trail.
const POLICY_ACTOR: &str = "passport-server";

/// Reads `server`'s policy file now, changed or not, and audits what
/// happened; the status after (`None` without a policy file).
pub(crate) async fn reload_now(server: &Server) -> Option<PolicyStatus> {
    let handle = Arc::clone(server.inner.policy.as_ref()?);
    let reloading = Arc::clone(&handle);
    if let Ok(Some(reloaded)) = tokio::task::spawn_blocking(move || reloading.reload(true)).await {
        audit_reload(server, reloaded).await;
    }
    Some(handle.status())
}

/// Checks `server`'s policy file every `interval` (a change is applied or
/// refused, and audited) from a task that ends with the server.
pub(crate) fn watch(server: &Server, interval: Duration) {
    let Some(handle) = &server.inner.policy else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        tracing::warn!("no runtime: the policy file is not watched for changes");
        return;
    };
    let weak: Weak<crate::service::Inner> = Arc::downgrade(&server.inner);
    let task = runtime.spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let Some(inner) = weak.upgrade() else { break };
            let server = Server { inner };
            let Some(handle) = server.inner.policy.clone() else {
                break;
            };
            // a file read: off the runtime's worker threads
            if let Ok(Some(reloaded)) =
                tokio::task::spawn_blocking(move || handle.reload(false)).await
            {
                audit_reload(&server, reloaded).await;
            }
        }
    });
    *handle
        .watcher
        .lock()
        .unwrap_or_else(PoisonError::into_inner) = Some(task.abort_handle());
}

impl Drop for PolicyHandle {
    fn drop(&mut self) {
        if let Some(task) = self
            .watcher
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Policy, PolicyError> {
        Policy::parse(Path::new("policy.toml"), text)
    }

    fn rule_of(e: PolicyError) -> String {
        match e {
            PolicyError::Invalid { rule, .. } => rule,
            other => panic!("not a rule: {other:?}"),
        }
    }

    const GOOD: &str = r#"
[environments.dev]
max_ttl = 120
audiences = ["https://dev.example/api"]
approval = false
[[environments.dev.grants]]
roles = ["builder"]
scopes = ["build:*"]

[environments.prod]
max_ttl = 45
audiences = ["https://prod.example/api"]
approval = true
[[environments.prod.grants]]
agents = ["a1"]
scopes = ["deploy:run"]
"#;

    #[test]
    fn a_good_policy_is_read() {
        let p = parse(GOOD).unwrap();
        assert_eq!(p.approval_ttl, DEFAULT_APPROVAL_TTL);
        let prod = p.environment_for("https://prod.example/api").unwrap();
        assert_eq!(
            (prod.name.as_str(), prod.max_ttl, prod.approval),
            ("prod", 45, true)
        );
        assert!(p.environment_for("https://prod.example/api/").is_none());
        let dev = p.environment_for("https://dev.example/api").unwrap();
        let asked = ScopeSet::parse(["build:x", "deploy:run"]).unwrap();
        let granted = dev.granted("a1", &["builder".into()]);
        assert_eq!(beyond(&asked, &granted), ["deploy:run"]);
        assert!(dev.granted("a1", &[]).is_empty());
    }

    /// A file caught empty (truncated by a writer, not yet written) is no
    /// policy: it would refuse every grant and drop the administrators.
    #[test]
    fn a_policy_without_environments_is_refused() {
        for text in [
            "",
            "\n",
            "approval_ttl = 900\n",
            "[administrators]\nclaim = \"roles\"\n",
        ] {
            let e = parse(text).unwrap_err();
            assert_eq!(e.code(), "policy_invalid", "{text:?}: {e}");
            assert_eq!(rule_of(e), "environments", "{text:?}");
        }
    }

    /// A writer caught mid-way: the file cut just before `approval = true`
    /// is still valid TOML, and would have run prod without approval
    /// (found by the session-5 review). `approval` is required.
    #[test]
    fn a_file_cut_before_approval_is_refused() {
        let cut = &GOOD[..GOOD.find("approval = true").unwrap()];
        let e = parse(cut).unwrap_err();
        assert_eq!(e.code(), "policy_syntax", "{e}");
        assert!(e.to_string().contains("approval"), "{e}");
    }

    /// A file that changes while it is read is read again; one that never
    /// settles is refused (the running policy stays).
    #[test]
    fn a_file_changing_while_read_is_not_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policy.toml");
        std::fs::write(&path, GOOD).unwrap();
        let now = fingerprint(&path);
        assert!(read_settled(&path, now).is_ok());
        // `seen` taken before a write the read then sees: read again, and
        // the settled file is what is returned
        let stale = Some((std::time::SystemTime::UNIX_EPOCH, 1));
        let settled = read_settled(&path, stale).unwrap();
        assert!(
            settled
                .environment_for("https://prod.example/api")
                .is_some()
        );
        // a file that is gone is unreadable, not a policy
        std::fs::remove_file(&path).unwrap();
        let e = read_settled(&path, None).unwrap_err();
        assert_eq!(e.code(), "policy_unreadable", "{e}");
    }

    #[test]
    fn each_rule_refuses_with_its_name() {
        let with = |from: &str, to: &str| parse(&GOOD.replace(from, to)).unwrap_err();
        assert_eq!(
            rule_of(with("max_ttl = 45", "max_ttl = 0")),
            "environments.prod.max_ttl"
        );
        assert_eq!(
            rule_of(with("https://dev.example/api", "https://prod.example/api")),
            "environments.prod.audiences"
        );
        assert_eq!(
            rule_of(with("https://dev.example/api", "/relative")),
            "environments.dev.audiences"
        );
        assert_eq!(
            rule_of(with("https://dev.example/api", "ftp://dev.example")),
            "environments.dev.audiences"
        );
        assert_eq!(
            rule_of(with("[\"build:*\"]", "[\"bad scope\"]")),
            "environments.dev.grants"
        );
        assert_eq!(
            rule_of(with("[\"build:*\"]", "[\"a\\\"b\"]")),
            "environments.dev.grants"
        );
        assert_eq!(
            rule_of(with("[\"build:*\"]", "[]")),
            "environments.dev.grants"
        );
        assert_eq!(
            rule_of(with("roles = [\"builder\"]", "roles = [\"\"]")),
            "environments.dev.grants"
        );
        assert_eq!(
            rule_of(with("agents = [\"a1\"]", "agents = []")),
            "environments.prod.grants"
        );
        assert_eq!(
            rule_of(with(
                "audiences = [\"https://dev.example/api\"]",
                "audiences = []"
            )),
            "environments.dev.audiences"
        );
        assert_eq!(
            rule_of(with(
                "[environments.dev]",
                "approval_ttl = 10\n[environments.dev]"
            )),
            "approval_ttl"
        );
        assert_eq!(
            rule_of(with(
                "[environments.dev]",
                "approval_ttl = 100000\n[environments.dev]"
            )),
            "approval_ttl"
        );
        assert_eq!(
            rule_of(with("environments.dev", "environments.\"d v\"")),
            "environments"
        );
    }

    #[test]
    fn unknown_keys_and_bad_toml_name_the_line() {
        let e = parse(&GOOD.replace("approval = true", "approvals = true")).unwrap_err();
        assert_eq!(e.code(), "policy_syntax");
        let PolicyError::Syntax { line, .. } = &e else {
            panic!()
        };
        assert_eq!(*line, Some(13), "{e}");
        assert!(e.to_string().starts_with("policy.toml:13:"), "{e}");
        let e = parse("[environments.dev\nmax_ttl = 1").unwrap_err();
        assert_eq!(e.code(), "policy_syntax");
        let e = parse(&GOOD.replace("max_ttl = 120", "max_ttl = -1")).unwrap_err();
        assert_eq!(e.code(), "policy_syntax");
        // an invalid rule names the table's line
        let e = parse(&GOOD.replace("max_ttl = 45", "max_ttl = 0")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("policy.toml:10: environments.prod.max_ttl:"),
            "{e}"
        );
    }
}
