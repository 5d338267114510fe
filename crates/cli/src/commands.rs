//! What each command does.

use std::io::{IsTerminal as _, Read as _};
use std::sync::Arc;
use std::time::Duration;

use passport_claims::{
    Clock, IdentityAssertion, Level, MAX_BUNDLE_LEN, MAX_BUNDLE_LINKS, PassportClaims, ScopeSet,
    SystemClock, UnverifiedBundle,
};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssueError, Issuer};
use passport_jose::JwkSet;
use passport_oidc::{LoginOptions, OidcConfig, Provider};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, VerifiedPassport, Verifier};
use serde_json::{Value, json};

use passport_audit::{
    Action, AuditRecord, AuditSink, Filter, JsonLinesSink, LinkRef, Outcome, read_records,
};
use passport_status::{DenyListSource, IndexAllocator, Status, StatusListSource};
use passport_store::LocalStatus;
use passport_verifier::{KeyStore, StatusSource, Verification};

use crate::cli::{
    AuditArgs, DelegateArgs, InspectArgs, IssueArgs, KeysAction, LoginArgs, PassportArgs,
    RevokeArgs, StatusListArgs, VerifyArgs,
};
use crate::env::Env;
use crate::error::CliError;
use crate::store::{DataDir, JWKS_CACHE, mode_of, write_private};
use crate::time::{parse_time, rfc3339};

/// The local issuer's audit log, in the data directory.
const AUDIT_LOG: &str = "audit.jsonl";
/// The local issuer's status-list allocator state, in the data directory.
const STATUS_STATE: &str = "status.json";

/// How long a JWKS fetched by URL is reused.
const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);
/// The largest JWKS document fetched.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

pub(crate) struct Context {
    pub(crate) env: Env,
    pub(crate) dir: DataDir,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Context {
    pub(crate) fn new() -> Result<Context, CliError> {
        Ok(Context {
            env: Env::load()?,
            dir: DataDir::locate()?,
            clock: Arc::new(SystemClock),
        })
    }

    fn now(&self) -> i64 {
        self.clock.now()
    }

    fn provider(&self) -> Result<Provider, CliError> {
        let config = OidcConfig::from_env(|name| self.env.get(name))?;
        Ok(Provider::with_clock(config, self.clock.clone())?)
    }

    fn issuer(&self) -> Result<Issuer, CliError> {
        let key = self.dir.issuer_key(self.now())?;
        Ok(Issuer::new(self.env.issuer(), key)
            .with_clock(self.clock.clone())
            .with_audit(self.audit_sink()?)
            .with_status(self.allocator()?))
    }

    /// The local issuer's status-list allocator (`status.json`, mode 0600).
    fn allocator(&self) -> Result<Arc<IndexAllocator>, CliError> {
        self.dir.ensure()?;
        let allocator = IndexAllocator::open(self.dir.path(STATUS_STATE), self.env.status_uri())
            .map_err(|e| CliError::usage(e.code(), e.to_string()))?
            .with_clock(self.clock.clone());
        Ok(Arc::new(allocator))
    }

    /// The local issuer's own revocation state, as a verifier's status source.
    fn local_status(&self) -> Result<Arc<dyn StatusSource>, CliError> {
        Ok(Arc::new(LocalStatus::new(self.allocator()?)))
    }

    /// The local issuer's audit log, under the data directory.
    fn audit_sink(&self) -> Result<Arc<dyn AuditSink>, CliError> {
        self.dir.ensure()?;
        let path = self.dir.path(AUDIT_LOG);
        let sink =
            JsonLinesSink::open(&path).map_err(|e| CliError::usage(e.code(), e.to_string()))?;
        Ok(Arc::new(sink))
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed("runtime", format!("cannot start the async runtime: {e}")))
}

// ---------------------------------------------------------------- login

pub(crate) fn login(ctx: &Context, args: &LoginArgs) -> Result<(), CliError> {
    let provider = ctx.provider()?;
    ctx.dir.ensure()?;
    let rt = runtime()?;
    let (id_token, assertion) = match &args.id_token {
        Some(token) => {
            let token = token.trim();
            // Never store what does not validate.
            let assertion = rt.block_on(provider.validate_id_token(token, None))?;
            (token.to_owned(), assertion)
        }
        None => {
            let options = LoginOptions::new()
                .open_browser(!args.no_browser)
                .timeout(Duration::from_secs(args.timeout))
                .url_sink(|url| note!("Open this URL in a browser to log in:\n  {url}\nWaiting for the login to finish…"));
            let result = rt.block_on(passport_oidc::login(&provider, options))?;
            (result.id_token.as_str().to_owned(), result.assertion)
        }
    };
    let exp = assertion
        .raw_claims
        .get("exp")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let session = json!({
        "issuer": assertion.issuer,
        "subject": assertion.subject,
        "acr": assertion.acr,
        "exp": exp,
        "stored_at": ctx.now(),
    });
    ctx.dir.save_session(&id_token, &session)?;
    note!(
        "Logged in as {} at {} ({}); the ID token expires at {}.",
        assertion.subject,
        assertion.issuer,
        assertion.assurance,
        rfc3339(exp)
    );
    Ok(())
}

// ---------------------------------------------------------------- issue

pub(crate) fn issue(ctx: &Context, args: &IssueArgs) -> Result<(), CliError> {
    let (id_token, from_store) = match &args.id_token {
        Some(token) => (token.trim().to_owned(), false),
        None => {
            let Some((token, session)) = ctx.dir.session()? else {
                return Err(CliError::usage("no_session", "no ID token is stored")
                    .hint("run `passport login`"));
            };
            let exp = session.get("exp").and_then(Value::as_i64).unwrap_or(0);
            if exp <= ctx.now() {
                return Err(CliError::usage(
                    "session_expired",
                    format!("the stored ID token expired at {}", rfc3339(exp)),
                )
                .hint("run `passport login`"));
            }
            (token, true)
        }
    };
    let provider = ctx.provider()?;
    let assertion: IdentityAssertion = runtime()?
        .block_on(provider.validate_id_token(&id_token, None))
        .map_err(|e| {
            let expired = e.code() == "expired";
            let err = CliError::from(e);
            if expired && from_store {
                CliError { exit: 2, ..err }.hint("run `passport login`")
            } else {
                err
            }
        })?;
    let issuer = ctx.issuer()?;
    let p = &args.passport;
    let mut request = IssuanceRequest::new(
        assertion,
        p.aud.clone(),
        p.agent_id.clone(),
        p.agent_model.clone(),
        scopes(p)?,
    );
    if let Some(purpose) = &p.task_purpose {
        request = request.task_purpose(purpose.clone());
    }
    if let Some(ttl) = p.ttl {
        request = request.ttl(ttl);
    }
    if let Some(jkt) = holder_jkt(p)? {
        request = request.holder_jkt(jkt);
    }
    let minted = issuer.issue(request)?;
    ctx.dir.record_issued(issuer.kid(), minted.claims().exp)?;
    say!("{}", minted.bundle());
    Ok(())
}

/// The RFC 7638 thumbprint of `--holder-key` (a public JWK; a private one is
/// refused, so a secret key never has to be handed to the issuer).
fn holder_jkt(p: &PassportArgs) -> Result<Option<String>, CliError> {
    let Some(path) = &p.holder_key else {
        return Ok(None);
    };
    let bytes =
        std::fs::read(path).map_err(|e| CliError::io("cannot read --holder-key", path, &e))?;
    let key = passport_jose::VerifyingKey::from_jwk_json(&bytes)
        .map_err(|e| CliError::usage(e.code(), format!("--holder-key {}: {e}", path.display())))?;
    let jkt = key
        .thumbprint()
        .map_err(|e| CliError::usage(e.code(), format!("--holder-key {}: {e}", path.display())))?;
    Ok(Some(jkt))
}

fn scopes(p: &PassportArgs) -> Result<ScopeSet, CliError> {
    ScopeSet::parse(&p.tool_scope)
        .map_err(|e| CliError::usage(e.code(), format!("--tool-scope: {e}")))
}

// ---------------------------------------------------------------- delegate

pub(crate) fn delegate(ctx: &Context, args: &DelegateArgs) -> Result<(), CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    let now = ctx.now();
    let issuer = ctx.issuer()?;
    // The parent must verify against this issuer, chain included. Its own
    // audience is used (we are its holder, not its audience); every other rule
    // applies, and the issuer enforces the depth limit itself.
    let audience = leaf_audience(&bundle).unwrap_or_default();
    let mut policy = VerificationPolicy::new(
        ctx.env.issuer(),
        if audience.is_empty() {
            "-".into()
        } else {
            audience
        },
    )
    .max_depth(MAX_BUNDLE_LINKS)
    .allow_wildcard(true);
    policy.accept_untyped = false;
    let keys = InMemoryKeyStore::from_jwks(&ctx.dir.jwks(now)?);
    let verifier = Verifier::new(policy, keys)?
        .with_clock(ctx.clock.clone())
        .with_status_source(ctx.local_status()?);
    // The local issuer's operator delegates on the holder's behalf: it holds
    // the issuer key, so a bound parent needs no proof here; the issuer still
    // binds the child to its own holder key (--holder-key is then required).
    let parent = match verifier.verify_bundle_pending_proof(&bundle)? {
        Verification::Verified(v) => v,
        Verification::ProofRequired(pending) => pending.dangerous_assume_proven(),
        _ => {
            return Err(CliError::failed(
                "unsupported",
                "unexpected verification outcome",
            ));
        }
    };

    let p = &args.passport;
    let mut request = DelegationRequest::new(
        &parent,
        p.aud.clone(),
        p.agent_id.clone(),
        p.agent_model.clone(),
        scopes(p)?,
    );
    if let Some(purpose) = &p.task_purpose {
        request = request.task_purpose(purpose.clone());
    }
    if let Some(ttl) = p.ttl {
        request = request.ttl(ttl);
    }
    if let Some(jkt) = holder_jkt(p)? {
        request = request.holder_jkt(jkt);
    }
    let minted = issuer.delegate(request).map_err(|e| match e {
        IssueError::ScopeAttenuation {
            requested,
            parent,
            widened,
        } => CliError::failed(
            "scope_attenuation",
            format!(
                "requested scope [{}] is wider than the parent's [{}]; not covered: [{}]",
                requested.join(", "),
                parent.join(", "),
                widened.join(", ")
            ),
        ),
        other => other.into(),
    })?;
    ctx.dir.record_issued(issuer.kid(), minted.claims().exp)?;
    if minted.clamped() {
        note!(
            "note: expiry clamped to the parent's: the passport expires at {}",
            rfc3339(minted.claims().exp)
        );
    }
    say!("{}", minted.bundle());
    Ok(())
}

fn leaf_audience(bundle: &UnverifiedBundle) -> Option<String> {
    bundle
        .inspect_unverified()
        .into_iter()
        .next()?
        .ok()
        .map(|i| i.claims.aud)
}

// ---------------------------------------------------------------- verify

pub(crate) fn verify(ctx: &Context, args: &VerifyArgs) -> Result<(), CliError> {
    let outcome = verify_inner(ctx, args);
    match (outcome, args.json) {
        (Ok(verified), json_out) => {
            let summary = summary(&verified);
            if json_out {
                say!(
                    "{}",
                    json!({"valid": true, "passport": summary["passport"], "chain": summary["chain"]})
                );
            } else {
                say!("{summary:#}");
            }
            Ok(())
        }
        (Err(e), true) => {
            say!(
                "{}",
                json!({"valid": false, "error": e.code, "message": e.message})
            );
            Err(e)
        }
        (Err(e), false) => Err(e),
    }
}

fn verify_inner(ctx: &Context, args: &VerifyArgs) -> Result<VerifiedPassport, CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    let issuers = if args.issuers.is_empty() {
        vec![ctx.env.issuer()]
    } else {
        args.issuers.clone()
    };
    let mut policy = VerificationPolicy::new(issuers[0].clone(), args.aud.clone())
        .max_depth(usize::try_from(args.max_depth).unwrap_or(MAX_BUNDLE_LINKS))
        .allow_wildcard(args.allow_wildcard)
        .accept_untyped(args.accept_untyped)
        .clock_skew(args.clock_skew);
    for issuer in &issuers[1..] {
        policy = policy.trust_issuer(issuer.clone());
    }
    for (floor, kind) in [
        (args.require_ial, 0),
        (args.require_aal, 1),
        (args.require_fal, 2),
    ] {
        if let Some(n) = floor {
            let level =
                Level::new(n).ok_or_else(|| CliError::usage("usage", "levels are 1, 2 or 3"))?;
            policy = match kind {
                0 => policy.require_ial(level),
                1 => policy.require_aal(level),
                _ => policy.require_fal(level),
            };
        }
    }
    if let Some(scope) = &args.required_scope {
        policy = policy.required_scope(scope.clone());
    }
    let local_keys = args.jwks.is_none();
    let jwks = match &args.jwks {
        None => ctx.dir.jwks(ctx.now())?,
        Some(source) if source.starts_with("https://") || source.starts_with("http://") => {
            fetch_jwks(ctx, source)?
        }
        Some(file) => JwkSet::from_file(std::path::Path::new(file))?,
    };
    if jwks.is_empty() {
        return Err(
            CliError::usage("no_keys", "no trusted key: the JWKS is empty")
                .hint("issue a passport first (creating the local issuer key) or pass --jwks"),
        );
    }
    let mut verifier =
        Verifier::new(policy, InMemoryKeyStore::from_jwks(&jwks))?.with_clock(ctx.clock.clone());
    let keys: Arc<dyn KeyStore> = Arc::new(InMemoryKeyStore::from_jwks(&jwks));
    if local_keys && issuers.contains(&ctx.env.issuer()) {
        // The local issuer checks its own list automatically.
        verifier = verifier.with_status_source(ctx.local_status()?);
    }
    if let Some(source) = &args.status_list {
        verifier = verifier.with_status_source(status_list_source(ctx, source, keys, &bundle)?);
    }
    if let Some(path) = &args.deny_list {
        let deny = DenyListSource::from_file(path).map_err(|e| {
            let exit = if e.code() == "io_error" { 2 } else { 1 };
            CliError {
                exit,
                code: e.code(),
                message: e.to_string(),
                hint: None,
            }
        })?;
        verifier = verifier.with_status_source(Arc::new(deny));
    }
    if let Some(path) = &args.audit_log {
        let sink =
            JsonLinesSink::open(path).map_err(|e| CliError::usage(e.code(), e.to_string()))?;
        verifier = verifier.with_audit(Arc::new(sink));
    }
    Ok(verifier.verify_bundle(&bundle)?)
}

fn summary(v: &VerifiedPassport) -> Value {
    let passport: Value = serde_json::from_slice(&v.claims().to_json()).unwrap_or(Value::Null);
    let chain: Vec<Value> = v
        .links()
        .iter()
        .map(|p| {
            json!({
                "jti": p.jti,
                "agent_id": p.agent.agent_id,
                "tool_scope": p.agent.tool_scope.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
                "exp": p.exp,
            })
        })
        .collect();
    json!({ "passport": passport, "chain": chain })
}

/// Fetches a JWKS over HTTP(S), reusing a copy younger than five minutes.
fn fetch_jwks(ctx: &Context, url: &str) -> Result<JwkSet, CliError> {
    let name = format!(
        "{}.json",
        &passport_jose::sha256_b64url(url.as_bytes())[..22]
    );
    let cache_dir = ctx.dir.path(JWKS_CACHE);
    let cached = cache_dir.join(&name);
    if let Ok(meta) = std::fs::metadata(&cached)
        && meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age < JWKS_CACHE_TTL)
        && let Ok(set) = JwkSet::from_file(&cached)
    {
        return Ok(set);
    }
    let body = runtime()?.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| CliError::failed("jwks_failed", format!("{url}: {e}")))?;
        let mut response = client
            .get(url)
            .send()
            .await
            .map_err(|e| CliError::failed("jwks_failed", format!("cannot fetch {url}: {e}")))?;
        if !response.status().is_success() {
            return Err(CliError::failed(
                "jwks_failed",
                format!("{url} answered {}", response.status()),
            ));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| CliError::failed("jwks_failed", format!("{url}: {e}")))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_JWKS_BYTES {
                return Err(CliError::failed(
                    "jwks_failed",
                    format!("{url}: the JWKS is larger than 1 MiB"),
                ));
            }
        }
        Ok(body)
    })?;
    let set = JwkSet::from_json(&body)
        .map_err(|e| CliError::failed("jwks_failed", format!("{url}: {e}")))?;
    ctx.dir.ensure()?;
    if std::fs::create_dir_all(&cache_dir).is_ok() {
        // A cache that cannot be written is only slower, never wrong.
        let _ = write_private(&cached, &body);
    }
    Ok(set)
}

// ---------------------------------------------------------------- inspect

pub(crate) fn inspect(args: &InspectArgs) -> Result<(), CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    note!(
        "warning: decoded WITHOUT verification; nothing here is trusted (use `passport verify`)."
    );
    let decoded = bundle.inspect_unverified();
    if args.tree {
        let mut links = Vec::new();
        for (i, d) in decoded.into_iter().enumerate() {
            match d {
                Ok(d) => links.push(d.claims),
                Err(e) => {
                    return Err(CliError::failed(
                        e.code(),
                        format!("passport {i} (0 = leaf) cannot be decoded: {e}"),
                    ));
                }
            }
        }
        let _ = std::io::Write::write_all(&mut std::io::stdout(), tree(&links).as_bytes());
        return Ok(());
    }
    let out: Vec<Value> = decoded
        .into_iter()
        .map(|d| match d {
            Ok(d) => json!({
                "header": {"alg": d.alg, "kid": d.kid, "typ": d.typ},
                "claims": serde_json::from_slice::<Value>(&d.claims.to_json()).unwrap_or(Value::Null),
            }),
            Err(e) => json!({"error": e.code(), "message": e.to_string()}),
        })
        .collect();
    say!("{:#}", Value::Array(out));
    Ok(())
}

/// principal (levels) → each actor → the current holder, root first.
fn tree(leaf_first: &[PassportClaims]) -> String {
    let mut out = String::new();
    let Some(root) = leaf_first.last() else {
        return out;
    };
    out.push_str(&format!(
        "{} ({}){}\n",
        root.sub,
        root.assurance,
        root.acr
            .as_deref()
            .map(|a| format!(" acr {a}"))
            .unwrap_or_default()
    ));
    for (depth, p) in leaf_first.iter().rev().enumerate() {
        let indent = "   ".repeat(depth);
        let scope: Vec<&str> = p.agent.tool_scope.iter().map(|s| s.as_str()).collect();
        let holder = if depth + 1 == leaf_first.len() {
            "  ← current holder"
        } else {
            ""
        };
        out.push_str(&format!(
            "{indent}└─ {} [{}] aud {} expires {}{holder}\n",
            p.agent.agent_id,
            scope.join(", "),
            p.aud,
            rfc3339(p.exp)
        ));
    }
    out
}

/// A status list from a file, or from an http(s) URL fetched now (the
/// passports' own status URIs must lie under it).
fn status_list_source(
    ctx: &Context,
    source: &str,
    keys: Arc<dyn KeyStore>,
    bundle: &UnverifiedBundle,
) -> Result<Arc<dyn StatusSource>, CliError> {
    let failed = |e: passport_status::StatusError| CliError::failed(e.code(), e.to_string());
    let lists = StatusListSource::new(keys).with_clock(ctx.clock.clone());
    if source.starts_with("https://") || source.starts_with("http://") {
        let lists = lists.allow_uri_prefix(source);
        runtime()?
            .block_on(lists.prefetch(bundle))
            .map_err(failed)?;
        Ok(Arc::new(lists))
    } else {
        lists.add_file(source).map_err(|e| {
            let exit = if e.code() == "io_error" { 2 } else { 1 };
            CliError {
                exit,
                code: e.code(),
                message: e.to_string(),
                hint: None,
            }
        })?;
        Ok(Arc::new(lists))
    }
}

// ---------------------------------------------------------------- revocation

pub(crate) fn revoke(ctx: &Context, args: &RevokeArgs) -> Result<(), CliError> {
    let target = match args.target.as_deref() {
        Some(t) if t != "-" && !t.contains('.') => t.trim().to_owned(),
        other => {
            let text = read_bundle(other)?;
            let bundle =
                UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
            leaf_jti(&bundle).ok_or_else(|| {
                CliError::failed("malformed_bundle", "the bundle's leaf cannot be decoded")
            })?
        }
    };
    let allocator = ctx.allocator()?;
    let current = allocator
        .lookup_jti(&target)
        .map_err(|e| CliError::usage(e.code(), e.to_string()))?
        .ok_or_else(|| {
            CliError::failed(
                "unknown_passport",
                format!("no passport {target:?} was issued here"),
            )
        })?;
    let (wanted, action) = if args.suspend {
        (Status::Suspended, Action::Suspend)
    } else if args.reinstate {
        (Status::Valid, Action::Reinstate)
    } else {
        (Status::Invalid, Action::Revoke)
    };
    // Revocation is final; only a suspension can be lifted.
    let allowed = match (current.status, wanted) {
        (Status::Invalid, _) => wanted == Status::Invalid,
        (_, Status::Valid) => current.status == Status::Suspended,
        _ => true,
    };
    let mut record = AuditRecord::new(ctx.now(), action, Outcome::Done);
    record.links = vec![LinkRef {
        jti: current.jti.clone(),
        agent_id: current.agent_id.clone(),
    }];
    record.iss = Some(ctx.env.issuer());
    if !allowed {
        record.outcome = Outcome::Failed;
        record.error = Some("invalid_transition".into());
        ctx.audit_sink()?
            .record(&record)
            .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
        return Err(CliError::failed(
            "invalid_transition",
            format!(
                "passport {target} is {}; it cannot become {}",
                current.status, wanted
            ),
        ));
    }
    let updated = allocator
        .set_status(target.as_str(), wanted)
        .map_err(|e| CliError::failed(e.code(), e.to_string()))?;
    ctx.audit_sink()?
        .record(&record)
        .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    note!(
        "{} is now {} (agent {}, expires {}); every passport delegated from it is refused too.",
        updated.jti,
        updated.status,
        updated.agent_id,
        rfc3339(updated.exp)
    );
    Ok(())
}

fn leaf_jti(bundle: &UnverifiedBundle) -> Option<String> {
    bundle
        .inspect_unverified()
        .into_iter()
        .next()?
        .ok()
        .map(|i| i.claims.jti)
}

pub(crate) fn revocations(ctx: &Context) -> Result<(), CliError> {
    let records = ctx
        .allocator()?
        .records()
        .map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    say!(
        "{:<36}  {:<9}  {:<16}  {:<20}  changed",
        "jti",
        "status",
        "agent",
        "expires"
    );
    for r in records.iter().filter(|r| r.status != Status::Valid) {
        say!(
            "{:<36}  {:<9}  {:<16}  {:<20}  {}",
            r.jti,
            r.status.to_string(),
            r.agent_id,
            rfc3339(r.exp),
            r.changed_at.map(rfc3339).unwrap_or_default()
        );
    }
    Ok(())
}

pub(crate) fn status_list(ctx: &Context, args: &StatusListArgs) -> Result<(), CliError> {
    let key = ctx.dir.issuer_key(ctx.now())?;
    let token = ctx
        .allocator()?
        .publish(&key, ctx.now(), args.ttl, args.lifetime)
        .map_err(|e| CliError::failed(e.code(), e.to_string()))?;
    match &args.out {
        Some(path) => {
            std::fs::write(path, format!("{token}\n"))
                .map_err(|e| CliError::io("cannot write", path, &e))?;
            note!(
                "wrote the status list for {} to {}",
                ctx.env.status_uri(),
                path.display()
            );
        }
        None => say!("{token}"),
    }
    Ok(())
}

// ---------------------------------------------------------------- audit

pub(crate) fn audit(ctx: &Context, args: &AuditArgs) -> Result<(), CliError> {
    let since = match &args.since {
        None => None,
        Some(text) => Some(parse_time(text).ok_or_else(|| {
            CliError::usage("usage", format!("--since {text:?}: use seconds since the epoch or RFC 3339 (2026-11-22T13:00:00Z)"))
        })?),
    };
    let outcome = match args.outcome.as_deref() {
        None => None,
        Some("accepted") => Some(Outcome::Accepted),
        Some("refused") => Some(Outcome::Refused),
        Some("done") => Some(Outcome::Done),
        Some(_) => Some(Outcome::Failed),
    };
    let filter = Filter {
        since,
        agent: args.agent.clone(),
        outcome,
        action: None,
    };
    let path = args.file.clone().unwrap_or_else(|| ctx.dir.path(AUDIT_LOG));
    let records =
        read_records(&path, &filter).map_err(|e| CliError::usage(e.code(), e.to_string()))?;
    if args.json {
        for r in &records {
            say!("{}", serde_json::to_string(r).unwrap_or_default());
        }
        return Ok(());
    }
    say!(
        "{:<20}  {:<9}  {:<8}  {:<20}  {:<36}  chain (holder first)",
        "time",
        "action",
        "outcome",
        "error",
        "jti"
    );
    for r in &records {
        let action = serde_json::to_value(r.action)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let outcome = serde_json::to_value(r.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let chain: Vec<&str> = r.links.iter().map(|l| l.agent_id.as_str()).collect();
        say!(
            "{:<20}  {:<9}  {:<8}  {:<20}  {:<36}  {}{}",
            rfc3339(r.time),
            action,
            outcome,
            r.error.as_deref().unwrap_or("-"),
            r.links.first().map_or("-", |l| l.jti.as_str()),
            chain.join(" <- "),
            if r.verified {
                ""
            } else {
                "  (claimed, unverified)"
            }
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- keys, where

pub(crate) fn keys(ctx: &Context, action: KeysAction) -> Result<(), CliError> {
    let now = ctx.now();
    match action {
        KeysAction::Show => {
            let current = ctx.dir.issuer_key(now)?;
            say!("issuer {}", ctx.env.issuer());
            for k in ctx.dir.keyring()? {
                let status = if k.kid == current.kid() {
                    "current".to_owned()
                } else if k.is_published(now) {
                    format!("retired, published until {}", rfc3339(k.retained_until()))
                } else {
                    "retired, no longer published".to_owned()
                };
                say!(
                    "{}  {}  created {}  {status}",
                    k.kid,
                    k.alg,
                    rfc3339(k.created)
                );
            }
        }
        KeysAction::Jwks => {
            ctx.dir.issuer_key(now)?;
            say!("{:#}", ctx.dir.jwks(now)?.to_json());
        }
        KeysAction::Rotate => {
            let (new, old) = ctx.dir.rotate(now)?;
            if let Some(old) = old {
                note!(
                    "retired {old}: it stays in the JWKS until every passport it signed has expired"
                );
            }
            say!("{}", new.kid());
        }
    }
    Ok(())
}

pub(crate) fn where_(ctx: &Context) -> Result<(), CliError> {
    let root = ctx.dir.root();
    match std::fs::metadata(root) {
        Ok(meta) => say!("{}  (mode {:04o})", root.display(), mode_of(&meta)),
        Err(_) => {
            say!("{}  (not created yet)", root.display());
            return Ok(());
        }
    }
    for (path, mode, len) in ctx.dir.listing()? {
        let name = path.strip_prefix(root).unwrap_or(&path);
        say!("  {:04o}  {:>8}  {}", mode, len, name.display());
    }
    Ok(())
}

// ---------------------------------------------------------------- input

/// The bundle from the argument, or from stdin when it is `-` or absent.
fn read_bundle(arg: Option<&str>) -> Result<String, CliError> {
    if let Some(text) = arg.filter(|a| *a != "-") {
        return Ok(text.to_owned());
    }
    let stdin = std::io::stdin();
    if arg.is_none() && stdin.is_terminal() {
        return Err(CliError::usage("no_input", "no bundle given")
            .hint("pass it as an argument, or pipe it on stdin"));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(u64::try_from(MAX_BUNDLE_LEN).unwrap_or(u64::MAX) + 1024)
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::usage("io_error", format!("cannot read stdin: {e}")))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(CliError::usage("no_input", "stdin was empty")
            .hint("pipe a bundle, e.g. `passport issue … | passport verify …`"));
    }
    String::from_utf8(bytes).map_err(|e| {
        CliError::failed(
            "malformed_bundle",
            format!(
                "the input is not UTF-8 (invalid byte at offset {})",
                e.utf8_error().valid_up_to()
            ),
        )
    })
}
