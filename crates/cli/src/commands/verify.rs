//! `passport verify`: verify a bundle and every link of its chain.

use std::sync::Arc;
use std::time::Duration;

use passport_audit::{AuditSink, JsonLinesSink};
use passport_claims::{Level, MAX_BUNDLE_LINKS, UnverifiedBundle};
use passport_jose::{JoseError, JwkSet};
use passport_status::{DenyListSource, StatusListSource};
use passport_verifier::{
    InMemoryKeyStore, KeyStore, StatusSource, VerificationPolicy, VerifiedPassport, Verifier,
};
use serde_json::{Value, json};

use super::{Context, read_bundle, runtime};
use crate::cli::VerifyArgs;
use crate::error::CliError;
use crate::files::{MAX_JWKS_BYTES, private_dir, read_capped, read_capped_or};
use crate::output;
use crate::store::{JWKS_CACHE, write_private};

/// How long a JWKS fetched by URL is reused.
const JWKS_CACHE_TTL: Duration = Duration::from_secs(300);

pub(crate) fn verify(ctx: &Context, args: &VerifyArgs) -> Result<(), CliError> {
    let outcome = verify_inner(ctx, args);
    let json_out = output::json_mode();
    match outcome {
        Ok(verified) => {
            if json_out {
                let mut out = serde_json::Map::new();
                out.insert("valid".into(), Value::Bool(true));
                out.extend(summary(&verified));
                output::emit(&Value::Object(out));
            } else {
                say!("{}", text(&verified));
            }
            Ok(())
        }
        Err(e) => {
            if json_out {
                output::emit(&json!({"valid": false, "error": e.code, "message": e.message}));
            }
            Err(e)
        }
    }
}

/// `valid`, then principal → actors → holder as `inspect --tree` draws
/// them (every name escaped: it comes from a token).
fn text(v: &VerifiedPassport) -> String {
    format!(
        "{}  {}",
        output::paint(output::GOOD, "valid"),
        super::inspect::tree(v.links()).trim_end()
    )
}

fn verify_inner(ctx: &Context, args: &VerifyArgs) -> Result<VerifiedPassport, CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    let trust = trusted_issuers(ctx, args)?;
    let issuers: Vec<String> = trust.iter().map(|t| t.issuer.clone()).collect();
    // Every URL is checked before anything is fetched or read from the
    // JWKS cache. A list answers for every trusted issuer whose key signed
    // it, so its URL must suit each of them.
    for t in &trust {
        if let Some(url) = t.jwks.as_deref().filter(|s| is_url(s)) {
            check_fetch_url("JWKS", &t.issuer, url)?;
        }
    }
    if let Some(url) = args.status_list.as_deref().filter(|s| is_url(s)) {
        for issuer in &issuers {
            check_fetch_url("status list", issuer, url)?;
        }
    }
    let mut policy = VerificationPolicy::new(issuers[0].clone(), args.aud.clone())
        .max_depth(usize::try_from(args.max_depth).unwrap_or(MAX_BUNDLE_LINKS))
        .max_lifetime(args.max_lifetime)
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
    let store = Arc::new(InMemoryKeyStore::new());
    let mut local_keys = false;
    for t in &trust {
        let jwks = match &t.jwks {
            None => {
                local_keys = true;
                ctx.dir.jwks(ctx.now())?
            }
            Some(source) if is_url(source) => fetch_jwks(ctx, source)?,
            Some(file) => {
                let path = std::path::Path::new(file);
                let bytes = read_capped_or(path, MAX_JWKS_BYTES, "--jwks", |source| {
                    JoseError::KeyFile {
                        path: path.to_owned(),
                        source,
                    }
                    .into()
                })?;
                JwkSet::from_json(&bytes)?
            }
        };
        if jwks.is_empty() {
            return Err(CliError::usage(
                "no_keys",
                format!("no trusted key for issuer {}: the JWKS is empty", t.issuer),
            )
            .hint("issue a passport first (creating the local issuer key) or pass --trust ISSUER=JWKS"));
        }
        for key in jwks.iter() {
            store.insert(t.issuer.clone(), key.clone())?;
        }
    }
    let keys: Arc<dyn KeyStore> = store;
    let mut verifier =
        Verifier::with_key_store(policy, Arc::clone(&keys))?.with_clock(ctx.clock.clone());
    if local_keys {
        // The local issuer checks its own list automatically.
        verifier = verifier.with_status_source(ctx.local_status()?);
    }
    if let Some(source) = &args.status_list {
        verifier =
            verifier.with_status_source(status_list_source(ctx, source, keys, &issuers, &bundle)?);
    }
    if args.no_status_check {
        verifier = verifier.dangerous_ignore_status();
    }
    if let Some(path) = &args.deny_list {
        let deny = DenyListSource::from_file(path)?;
        verifier = verifier.with_status_source(Arc::new(deny));
    }
    let sink: Option<Arc<dyn AuditSink>> = match &args.audit_log {
        Some(path) => Some(Arc::new(
            JsonLinesSink::open(path).map_err(|e| CliError::usage(e.code(), e.to_string()))?,
        )),
        None => None,
    };
    if let Some(sink) = output::with_tracing(sink) {
        verifier = verifier.with_audit(sink);
    }
    Ok(verifier.verify_bundle(&bundle)?)
}

/// Whether a `--jwks` or `--status-list` value names a URL (fetched) rather
/// than a file (read).
fn is_url(source: &str) -> bool {
    source.starts_with("https://") || source.starts_with("http://")
}

/// Refuses to fetch `url` (`what`: JWKS, status list) for `issuer` unless
/// the remote key store would: the issuer https or plain http on a loopback host
/// ([`passport_remote::check_issuer`]), and the URL https when the issuer is
/// ([`passport_remote::check_endpoint`]). An https issuer's keys over plain
/// http let whoever is on the path choose the keys a forged passport is
/// checked with; its status list over plain http, an older list (from
/// before a revocation) be replayed, as this command keeps no record of the
/// lists it saw. Exit 2, `insecure_url`, before any request.
fn check_fetch_url(what: &str, issuer: &str, url: &str) -> Result<(), CliError> {
    passport_remote::check_issuer(issuer)
        .and_then(|()| passport_remote::check_endpoint(issuer, url))
        .map_err(|e| {
            let err = CliError::usage(e.code(), format!("the {what} of issuer {issuer}: {e}"));
            match e {
                passport_remote::RemoteError::InsecureUrl { .. } => err.hint(
                    "an https issuer's keys and status list need https URLs (or files); plain http only for an issuer on this machine, from this machine",
                ),
                _ => err,
            }
        })
}

/// A trusted issuer and where its keys come from (`None`: the local issuer's).
struct Trust {
    issuer: String,
    jwks: Option<String>,
}

/// Pairs every trusted issuer with its own keys: `--trust ISSUER=JWKS`
/// (repeatable), or one `--issuer` with `--jwks`, or the local issuer with
/// its own keys. Anything that would let one key set speak for several
/// issuers is refused.
fn trusted_issuers(ctx: &Context, args: &VerifyArgs) -> Result<Vec<Trust>, CliError> {
    let ambiguous = |message: String| {
        CliError::usage("ambiguous_trust", message)
            .hint("pair each issuer with its own keys: --trust ISSUER=JWKS (repeatable)")
    };
    if !args.trust.is_empty() {
        if !args.issuers.is_empty() || args.jwks.is_some() {
            return Err(ambiguous(
                "--trust cannot be combined with --issuer or --jwks".into(),
            ));
        }
        return args
            .trust
            .iter()
            .map(|value| match value.split_once('=') {
                Some((issuer, jwks)) if !issuer.is_empty() && !jwks.is_empty() => Ok(Trust {
                    issuer: issuer.to_owned(),
                    jwks: Some(jwks.to_owned()),
                }),
                _ => Err(ambiguous(format!("--trust {value:?} is not ISSUER=JWKS"))),
            })
            .collect();
    }
    let local = ctx.env.issuer();
    let mut issuers = args.issuers.clone();
    issuers.dedup();
    match (&args.jwks, issuers.as_slice()) {
        (Some(_), [_, _, ..]) => Err(ambiguous(
            "one --jwks cannot hold the keys of several issuers".into(),
        )),
        (Some(jwks), one) => Ok(vec![Trust {
            issuer: one.first().cloned().unwrap_or(local),
            jwks: Some(jwks.clone()),
        }]),
        (None, []) => Ok(vec![Trust {
            issuer: local,
            jwks: None,
        }]),
        (None, named) => match named.iter().find(|i| **i != local) {
            Some(other) => Err(ambiguous(format!(
                "no keys for issuer {other}: the local keys belong to the local issuer only"
            ))),
            None => Ok(vec![Trust {
                issuer: local,
                jwks: None,
            }]),
        },
    }
}

/// The verified leaf's claims and the chain, leaf first.
fn summary(v: &VerifiedPassport) -> serde_json::Map<String, Value> {
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
    let mut out = serde_json::Map::new();
    out.insert("passport".into(), passport);
    out.insert("chain".into(), Value::Array(chain));
    out
}

/// Fetches a JWKS over HTTP(S), reusing a copy younger than five minutes.
fn fetch_jwks(ctx: &Context, url: &str) -> Result<JwkSet, CliError> {
    let name = format!(
        "{}.json",
        &passport_jose::sha256_b64url(url.as_bytes())[..22]
    );
    let cache_dir = ctx.dir.path(JWKS_CACHE);
    let cached = cache_dir.join(&name);
    // A cached key set is trusted like the URL it came from, so it is read
    // only from a data directory and a cache directory this user alone
    // controls, and only from a private regular file (never through a link).
    ctx.dir.ensure()?;
    let cache_usable =
        private_dir(&cache_dir).is_ok() && passport_store::ensure_private_dir(&cache_dir).is_ok();
    if cache_usable
        && let Some(meta) = passport_store::private_file(&cached)?
        && meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age < JWKS_CACHE_TTL)
        && let Ok(bytes) = read_capped(&cached, MAX_JWKS_BYTES, "the cached JWKS")
        && let Ok(set) = JwkSet::from_json(&bytes)
    {
        return Ok(set);
    }
    tracing::debug!(url, "fetching the JWKS");
    // The same bounded, redirect-refusing fetch as the servers' remote key
    // store (passport-remote); every failure is `jwks_failed`.
    let fetched = runtime()?.block_on(async {
        let client = passport_remote::http_client(Duration::from_secs(10))?;
        passport_remote::fetch_jwks(&client, url, MAX_JWKS_BYTES).await
    });
    let fetched = fetched.map_err(|e| {
        let transport = matches!(e, passport_remote::RemoteError::Transport { .. });
        let error = CliError::failed("jwks_failed", e.to_string());
        if transport {
            error.hint("check the URL and that its host is reachable; a JWKS file works too")
        } else {
            error
        }
    })?;
    let (set, body) = (fetched.keys, fetched.body);
    // Only the owner may list or read the cache (mode 0700).
    if cache_usable {
        // A cache that cannot be written is only slower, never wrong.
        let _ = write_private(&cached, &body);
    }
    Ok(set)
}

/// A status list from a file, or from an http(s) URL fetched now (the
/// passports' own status URIs must lie under it). A list answers only for
/// passports of the issuer whose key signed it: another trusted issuer's
/// key cannot sign a list that un-revokes them.
fn status_list_source(
    ctx: &Context,
    source: &str,
    keys: Arc<dyn KeyStore>,
    issuers: &[String],
    bundle: &UnverifiedBundle,
) -> Result<Arc<dyn StatusSource>, CliError> {
    let failed = |e: passport_status::StatusError| CliError::failed(e.code(), e.to_string());
    let trusting = |base: &str| {
        issuers.iter().try_fold(
            StatusListSource::new(Arc::clone(&keys)).with_clock(ctx.clock.clone()),
            |lists, issuer| lists.trust_issuer(issuer.clone(), base.to_owned()),
        )
    };
    if is_url(source) {
        let lists = trusting(source)?;
        runtime()?
            .block_on(lists.prefetch(bundle))
            .map_err(failed)?;
        Ok(Arc::new(lists))
    } else {
        // The CLI does not know the issuers' status bases: the list file's
        // own URI is the base, and its signer decides whose passports it
        // answers for.
        // Without a `sub`, no base: loading the file then says so
        // (`invalid_claims`), before any issuer is trusted with a base.
        let lists = match list_file_uri(source)? {
            Some(base) => trusting(&base)?,
            None => StatusListSource::new(Arc::clone(&keys)),
        };
        lists.add_file(source)?;
        Ok(Arc::new(lists))
    }
}

/// The URI a list file claims (its `sub`), read without verifying anything.
fn list_file_uri(path: &str) -> Result<Option<String>, CliError> {
    use std::io::Read as _;
    let io = |e: std::io::Error| CliError::usage("io_error", format!("{path}: {e}"));
    let mut token = String::new();
    std::fs::File::open(path)
        .map_err(io)?
        .take(passport_status::DEFAULT_MAX_LIST_TOKEN_LEN as u64)
        .read_to_string(&mut token)
        .map_err(io)?;
    Ok(passport_status::StatusListToken::unverified_uri(&token))
}
