//! Every error code of every crate, checked against `docs/error-codes.md`.
//!
//! The library codes come from each error type's `CODES`, which
//! `passport_jose::error_codes!` builds from the same table as its exhaustive
//! `code()` match, so a variant cannot go unlisted. Codes built as plain
//! strings (the CLI's own, the status sources' `StatusUnavailable` causes)
//! are found by scanning the sources, and each must be in its table.
//!
//! Regenerate the file with
//! `UPDATE_ERROR_CODES=1 cargo test -p passport-cli error_codes`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use passport_agent::ClientError;
use passport_audit::AuditError;
use passport_axum::AuthError;
use passport_claims::scope::ScopeError;
use passport_claims::{ClaimsError, Level};
use passport_dpop::DpopError;
use passport_issuer::IssueError;
use passport_jose::{Algorithm, JoseError, KeyAlgorithm};
use passport_oidc::OidcError;
use passport_status::{StatusError, StatusListSource};
use passport_store::{LocalStatus, StoreError};
use passport_verifier::{
    AssuranceKind, ChainViolation, PolicyError, StatusUnavailable, VerifyError,
};

use crate::error::CODES as CLI_CODES;
use passport_remote::RemoteError;
use passport_rmcp::ToolScopeError;
use passport_server as server;

type Codes = &'static [(&'static str, &'static str)];

/// One table of the document: the codes one type (or one source of
/// plain-string codes) reports itself.
struct Section {
    krate: &'static str,
    ty: &'static str,
    codes: Codes,
    /// Types whose codes it passes on unchanged (`Variant(e) => e.code()`).
    wraps: &'static str,
    /// The HTTP answer of each code when passport-axum refuses a request with it.
    http: BTreeMap<&'static str, String>,
}

fn section(krate: &'static str, ty: &'static str, codes: Codes, wraps: &'static str) -> Section {
    Section {
        krate,
        ty,
        codes,
        wraps,
        http: BTreeMap::new(),
    }
}

/// Codes that name the same condition in more than one place, and why.
const SHARED: &[(&str, &str)] = &[
    (
        "resource_invalid",
        "The token service checks the RFC 8707 `resource` parameter the same way at `/authorize` and `/token`: the same rule, the same code.",
    ),
    (
        "scope_invalid",
        "The token service parses the `scope` parameter the same way at `/authorize` and `/token`: the same rule, the same code.",
    ),
    (
        "audit_failed",
        "Issuing and verifying both refuse to act without an audit record; the condition (the record could not be written) is the same. Both wrap an `AuditError`, whose own code says why.",
    ),
    (
        "chain_too_deep",
        "The issuer refuses to make, and the verifier to accept, a chain longer than its limit.",
    ),
    (
        "config",
        "Configuration the CLI reads from its environment (`CSP_*`, the data directory) is missing or invalid; both exit 2.",
    ),
    (
        "invalid_request",
        "An issuance or delegation request field is empty or invalid, whether the issuer finds it or the CLI does while turning its flags into the request's types.",
    ),
    (
        "crypto_failure",
        "The cryptographic library failed in a way that does not depend on the input, for a passport or a DPoP proof.",
    ),
    (
        "dpop_key_mismatch",
        "The proof's key is not the passport's `cnf.jkt`, found by the verifier (`PendingProof`) or by the DPoP verifier.",
    ),
    (
        "file_too_large",
        "A file an operator names is larger than its size cap: one the CLI reads (`--jwks`, `--holder-key`, `audit --file`, `.env`) or the acr mapping table passport-oidc reads.",
    ),
    (
        "http_failed",
        "An HTTP request failed at the transport level, in the OIDC client or in the agent's client.",
    ),
    (
        "id_token_expired",
        "The ID token has expired; the CLI checks its stored one before asking the provider, with the same code.",
    ),
    (
        "invalid_numeric_date",
        "The same NumericDate rule (an integer from 0 to 253402300799), for a passport's dates or an ID token's.",
    ),
    (
        "index_space_exhausted",
        "Every status index is taken, in the file-based allocator (passport-status) or the local issuer's store (passport-store).",
    ),
    (
        "invalid_base64",
        "The same encoding rule (unpadded, canonical base64url), for a JWS segment or a status list's `lst`.",
    ),
    (
        "io_error",
        "A file could not be read or written (the CLI adds stdin).",
    ),
    (
        "issuer_changed",
        "A chain keeps one issuer: the issuer refuses to delegate from another issuer's parent, the verifier refuses a child whose `iss` differs.",
    ),
    (
        "discovery_failed",
        "An issuer's metadata document could not be fetched or used, whether passport-oidc reads it for a login or passport-remote for a trusted issuer's `jwks_uri`.",
    ),
    (
        "insecure_url",
        "Plain http where https is required, by the same rule (passport-remote's `check_issuer` and `check_endpoint`): an issuer must be https or plain http on a loopback host, and an https issuer's URLs are https — a trusted issuer's `jwks_uri` (the remote key store, or `passport verify`'s `--jwks`, `--trust` and `--status-list` URLs, which pass its error on), a status list source's status bases (`check_endpoint` only, applied by `StatusListSource::trust_issuer`: a source that fetches nothing may trust an issuer that is not a URL) and list URLs (passport-status `check_status_url`, both checks, before each fetch and in passport-tower's `trusting(..).status_base(..)`), or the OIDC client's issuer and discovery URL.",
    ),
    (
        "issuer_mismatch",
        "A document or response names another issuer than the expected one, byte for byte: the same rule in the OIDC client and in the remote key store's discovery.",
    ),
    (
        "key_issuer_conflict",
        "One key (the same RFC 7638 thumbprint) cannot belong to two issuers, whether added to an in-memory key store or fetched by the remote key store.",
    ),
    (
        "jwks_failed",
        "A JWKS could not be fetched or parsed: the provider's (passport-oidc) or the one `passport verify --jwks-url` names.",
    ),
    (
        "key_retired",
        "A token (a passport, or a status list token) was issued after its key's retirement time; the same rule for both kinds of token.",
    ),
    (
        "malformed_bundle",
        "A bundle that cannot be read or decoded, found by the bundle parser or by the CLI reading one (not UTF-8, a leaf that cannot be decoded).",
    ),
    (
        "pop_required",
        "A bearer passport where proof of possession is required, by the verification policy or by the passport-axum route.",
    ),
    (
        "random_unavailable",
        "The operating system's random source failed.",
    ),
    (
        "scope_widened",
        "Delegation must attenuate: the issuer refuses to widen, the verifier refuses a widened child, the CLI reports the issuer's refusal.",
    ),
    (
        "status_list_expired",
        "A status list token past its `exp`, when it is loaded (`StatusError`) or when a cached one is asked (`StatusUnavailable`).",
    ),
    (
        "status_list_unreachable",
        "A status list could not be fetched or loaded, when fetching (`StatusError`) or when a verifier asks (`StatusUnavailable`).",
    ),
    (
        "status_uri_not_allowed",
        "A status list URI this source does not trust: asked to fetch it (`StatusError`) or named by a passport (`StatusUnavailable`, both sources).",
    ),
    (
        "token_too_large",
        "The token is longer than the accepted limit, as a compact JWS (passport-jose) or as an `Authorization` header (passport-axum).",
    ),
    (
        "unknown_kid",
        "A JWS rule, the same for every token: no trusted key for this kind of token (passport, ID token, status list token) has its `kid`.",
    ),
    (
        "unknown_passport",
        "No passport with this `jti` (or index) was issued here: the allocator's or the store's lookup, or the CLI's `revoke` target.",
    ),
];

fn sections() -> Vec<Section> {
    let mut s = vec![
        section("passport-jose", "JoseError", JoseError::CODES, ""),
        section(
            "passport-claims",
            "ClaimsError",
            ClaimsError::CODES,
            "`JoseError` (`Json`), `ScopeError` (`Scope`)",
        ),
        section("passport-claims", "ScopeError", ScopeError::CODES, ""),
        section("passport-audit", "AuditError", AuditError::CODES, ""),
        section(
            "passport-verifier",
            "VerifyError",
            VerifyError::CODES,
            "`JoseError` (`Jose`), `ClaimsError` (`Malformed`), the failing link's `VerifyError` (`InLink`)",
        ),
        section(
            "passport-verifier",
            "ChainViolation",
            ChainViolation::CODES,
            "",
        ),
        section(
            "passport-issuer",
            "IssueError",
            IssueError::CODES,
            "`JoseError` (`Jose`)",
        ),
        section(
            "passport-oidc",
            "OidcError",
            OidcError::CODES,
            "`JoseError` (`Jose`)",
        ),
        section(
            "passport-remote",
            "RemoteError",
            RemoteError::CODES,
            "the wrapped `RemoteError` (`Issuer`, naming the issuer)",
        ),
        section("passport-dpop", "DpopError", DpopError::CODES, ""),
        section(
            "passport-status",
            "StatusError",
            StatusError::CODES,
            "`JoseError` (`Jose`)",
        ),
        section(
            "passport-status",
            "StatusUnavailable from StatusListSource",
            StatusListSource::UNAVAILABLE_CODES,
            "`StatusError` (a lookup in a verified list)",
        ),
        section(
            "passport-store",
            "StoreError",
            StoreError::CODES,
            "`StatusError` (`Status`)",
        ),
        section(
            "passport-store",
            "StatusUnavailable from LocalStatus",
            LocalStatus::UNAVAILABLE_CODES,
            "",
        ),
        section(
            "passport-tower",
            "AuthError",
            AuthError::CODES,
            "`VerifyError` (`Token`), `DpopError` (`Proof`)",
        ),
        section(
            "passport-agent",
            "ClientError",
            ClientError::CODES,
            "`DpopError` (`Proof`), `RemoteError` (`Remote`), `OidcError` (`Authorization`)",
        ),
        section("passport-rmcp", "ToolScopeError", ToolScopeError::CODES, ""),
        section(
            "passport-server",
            "FormError",
            server::form::FormError::CODES,
            "",
        ),
        section(
            "passport-server",
            "MetadataError",
            server::metadata::MetadataError::CODES,
            "",
        ),
        section(
            "passport-server",
            "PkceError",
            server::pkce::PkceError::CODES,
            "",
        ),
        section(
            "passport-server",
            "ClientAuthError",
            server::client_auth::ClientAuthError::CODES,
            "",
        ),
        section(
            "passport-server",
            "ClientMetadataError",
            server::client_metadata::ClientMetadataError::CODES,
            "",
        ),
        section(
            "passport-server",
            "AuthorizeError",
            server::authorize::AuthorizeError::CODES,
            "",
        ),
        section(
            "passport-server",
            "TokenRequestError",
            server::token_request::TokenRequestError::CODES,
            "",
        ),
        section(
            "passport-server",
            "RateLimitError",
            server::rate_limit::RateLimitError::CODES,
            "",
        ),
        section(
            "passport-server",
            "TrustedProxyError",
            server::client_address::TrustedProxyError::CODES,
            "",
        ),
        section(
            "passport-server",
            "Nat64PrefixError",
            server::client_address::Nat64PrefixError::CODES,
            "",
        ),
        section(
            "passport-server",
            "ServerError",
            server::ServerError::CODES,
            "`MetadataError` (`Issuer`), `StoreError` (`Store`), `JoseError` (`Key`), `PolicyError` (`Policy`)",
        ),
        section(
            "passport-server",
            "PolicyError",
            server::PolicyError::CODES,
            "",
        ),
    ];
    for sec in &mut s {
        let samples: Vec<AuthError> = match sec.ty {
            "JoseError" => jose_samples()
                .into_iter()
                .map(|e| AuthError::Token(VerifyError::Jose(e)))
                .collect(),
            "ClaimsError" => claims_samples()
                .into_iter()
                .map(|e| AuthError::Token(VerifyError::Malformed(e)))
                .collect(),
            "ScopeError" => scope_samples()
                .into_iter()
                .map(|e| AuthError::Token(VerifyError::Malformed(ClaimsError::Scope(e))))
                .collect(),
            "VerifyError" => verify_samples().into_iter().map(AuthError::Token).collect(),
            "DpopError" => dpop_samples().into_iter().map(AuthError::Proof).collect(),
            "AuthError" => auth_samples(),
            _ => continue,
        };
        let sampled: BTreeSet<&str> = samples.iter().map(AuthError::code).collect();
        let listed: BTreeSet<&str> = sec.codes.iter().map(|(c, _)| *c).collect();
        assert_eq!(
            sampled, listed,
            "{}: the HTTP samples in error_codes.rs must cover exactly its CODES",
            sec.ty
        );
        for e in samples {
            let answer = match e.oauth_error() {
                Some(error) => format!("{} `{error}`", e.status().as_u16()),
                None => e.status().as_u16().to_string(),
            };
            sec.http.insert(e.code(), answer);
        }
    }
    s
}

fn io() -> std::io::Error {
    std::io::Error::other("x")
}

fn jose_samples() -> Vec<JoseError> {
    let path = PathBuf::from("k");
    vec![
        JoseError::TokenTooLarge { len: 0, max: 0 },
        JoseError::Malformed("x"),
        JoseError::InvalidBase64 { part: "x" },
        JoseError::InvalidJson {
            part: "x",
            reason: String::new(),
        },
        JoseError::DuplicateMember {
            part: "x",
            name: String::new(),
        },
        JoseError::MissingAlgorithm,
        JoseError::AlgorithmNone(String::new()),
        JoseError::UnsupportedAlgorithm(String::new()),
        JoseError::AlgorithmNotAllowed {
            alg: Algorithm::EdDSA,
            allowed: vec![],
        },
        JoseError::AlgorithmKeyMismatch {
            alg: Algorithm::EdDSA,
            key: KeyAlgorithm::Rsa,
        },
        JoseError::MissingKid,
        JoseError::ForbiddenHeader("jwk"),
        JoseError::CriticalHeader,
        JoseError::UnencodedPayload,
        JoseError::InvalidType {
            found: String::new(),
            expected: String::new(),
        },
        JoseError::UntypedNotAccepted { found: None },
        JoseError::BadSignature,
        JoseError::InvalidKey(String::new()),
        JoseError::WeakKey(String::new()),
        JoseError::IncompleteRsaKey("p"),
        JoseError::BadMac,
        JoseError::KeyFile {
            path: path.clone(),
            source: io(),
        },
        JoseError::InsecureKeyFile { path, mode: 0o644 },
        JoseError::Crypto("x"),
    ]
}

fn claims_samples() -> Vec<ClaimsError> {
    vec![
        ClaimsError::MissingClaim("x"),
        ClaimsError::InvalidClaim {
            name: "x",
            reason: "x",
        },
        ClaimsError::InvalidLevel("x"),
        ClaimsError::InvalidNumericDate("x"),
        ClaimsError::EmptyBundle,
        ClaimsError::BundleTooLarge { len: 0, max: 0 },
        ClaimsError::BundleTooDeep { count: 0, max: 0 },
        ClaimsError::MalformedBundle {
            index: 0,
            reason: "x",
        },
    ]
}

fn scope_samples() -> Vec<ScopeError> {
    vec![
        ScopeError::UnsupportedSyntax {
            pattern: String::new(),
        },
        ScopeError::PatternTooLong { len: 0, max: 0 },
        ScopeError::TooManyPatterns { count: 0, max: 0 },
    ]
}

fn verify_samples() -> Vec<VerifyError> {
    let level = Level::new(1).unwrap();
    let assurance = |kind| VerifyError::InsufficientAssurance {
        kind,
        required: level,
        found: None,
    };
    vec![
        VerifyError::UnknownKey {
            iss: String::new(),
            kid: String::new(),
        },
        VerifyError::KeyIssuerConflict {
            kid: String::new(),
            issuer: String::new(),
            owner: String::new(),
        },
        VerifyError::KeyRetired {
            kid: String::new(),
            iat: 0,
            retired_at: 0,
        },
        VerifyError::LifetimeTooLong {
            lifetime: 0,
            max: 0,
        },
        VerifyError::StatusSourceRequired { jti: String::new() },
        VerifyError::UntrustedIssuer { iss: String::new() },
        VerifyError::AudienceMismatch {
            expected: String::new(),
            found: String::new(),
        },
        VerifyError::Expired { exp: 0, now: 0 },
        VerifyError::NotYetValid { nbf: 0, now: 0 },
        VerifyError::IssuedInFuture { iat: 0, now: 0 },
        assurance(AssuranceKind::Ial),
        assurance(AssuranceKind::Aal),
        assurance(AssuranceKind::Fal),
        VerifyError::ScopeNotCovered {
            required: String::new(),
            granted: vec![],
        },
        VerifyError::WildcardNotAllowed {
            pattern: String::new(),
        },
        VerifyError::ActorNotAllowed {
            agent_id: String::new(),
        },
        VerifyError::ChainTooDeep { depth: 0, max: 0 },
        VerifyError::Chain {
            link: 1,
            violation: ChainViolation::AcrChanged,
        },
        VerifyError::Revoked { jti: String::new() },
        VerifyError::Suspended { jti: String::new() },
        VerifyError::StatusUnavailable(StatusUnavailable::new("x", "x")),
        VerifyError::AuditFailed(AuditError::Io {
            path: PathBuf::new(),
            source: io(),
        }),
        VerifyError::ProofOfPossessionRequired,
        VerifyError::ProofRequired,
        VerifyError::ProofKeyMismatch,
        VerifyError::Policy(PolicyError::NoIssuers),
    ]
}

fn dpop_samples() -> Vec<DpopError> {
    let s = String::new;
    vec![
        DpopError::MissingProof,
        DpopError::MultipleProofs,
        DpopError::ProofTooLarge { len: 0, max: 0 },
        DpopError::Malformed(s()),
        DpopError::InvalidType,
        DpopError::MissingAlgorithm,
        DpopError::AlgorithmNone,
        DpopError::UnsupportedAlgorithm(s()),
        DpopError::AlgorithmNotAllowed(s()),
        DpopError::ForbiddenHeader("jku"),
        DpopError::MissingJwk,
        DpopError::InvalidJwk(s()),
        DpopError::PrivateKeyInProof,
        DpopError::AlgorithmKeyMismatch { alg: s(), key: s() },
        DpopError::BadSignature,
        DpopError::MissingClaim("jti"),
        DpopError::InvalidClaim("jti"),
        DpopError::HtmMismatch,
        DpopError::HtuMismatch,
        DpopError::InvalidUrl(s()),
        DpopError::IatTooOld,
        DpopError::IatInFuture,
        DpopError::Replay,
        DpopError::ReplayCacheFull,
        DpopError::ReplayQuotaExceeded { retry_after: 1 },
        DpopError::ReplayCacheUnavailable(s()),
        DpopError::MissingAth,
        DpopError::AthMismatch,
        DpopError::UseNonce {
            nonce: s(),
            reason: "missing",
        },
        DpopError::NonceNotConfigured,
        DpopError::WeakNonceSecret,
        DpopError::KeyMismatch,
        DpopError::UnsupportedKey(s()),
        DpopError::RandomUnavailable(s()),
        DpopError::Crypto(s()),
    ]
}

fn auth_samples() -> Vec<AuthError> {
    vec![
        AuthError::MissingCredentials,
        AuthError::UnsupportedScheme,
        AuthError::MultipleAuthorizationHeaders,
        AuthError::MalformedAuthorization("x"),
        AuthError::TokenTooLarge { len: 0, max: 0 },
        AuthError::BoundTokenAsBearer,
        AuthError::TokenNotBound,
        AuthError::ProofOfPossessionRequired,
        AuthError::LayerMissing,
        AuthError::InvalidConfig(String::new()),
    ]
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The library sources (`crates/*/src`), without unit-test modules named `tests`.
fn library_sources() -> Vec<(String, String)> {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(workspace().join("crates")).unwrap() {
        rust_files(&krate.unwrap().path().join("src"), &mut files);
    }
    files.sort();
    files
        .into_iter()
        .filter(|p| !p.ends_with("tests.rs") && !p.ends_with("error_codes.rs"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            let name = p
                .strip_prefix(workspace())
                .unwrap_or(&p)
                .display()
                .to_string();
            (name, text)
        })
        .collect()
}

/// The string literals passed as first argument to `call` (whitespace and
/// line breaks allowed after the parenthesis). Other first arguments
/// (`e.code()`) pass on a library code and are skipped.
fn literal_args<'a>(text: &'a str, call: &str) -> Vec<&'a str> {
    let mut out = Vec::new();
    for (at, _) in text.match_indices(call) {
        let rest = text[at + call.len()..].trim_start();
        if let Some(lit) = rest.strip_prefix('"') {
            out.push(&lit[..lit.find('"').unwrap()]);
        }
    }
    out
}

#[test]
fn every_plain_string_code_is_listed() {
    let sources = library_sources();
    let cli: BTreeMap<&str, u8> = CLI_CODES.iter().map(|(c, e, _)| (*c, *e)).collect();
    let mut used = BTreeSet::new();
    let mut unlisted = Vec::new();
    for (name, text) in &sources {
        // A hand-written `code()` would bypass `error_codes!` and its CODES.
        if text.contains("fn code(&self)")
            && !name.ends_with("tower/src/rejection.rs")
            && !name.ends_with("jose/src/error.rs")
        {
            unlisted.push(format!(
                "{name}: a hand-written fn code(); use passport_jose::error_codes!"
            ));
        }
        let listed = if name.starts_with("crates/store/") {
            LocalStatus::UNAVAILABLE_CODES
        } else {
            StatusListSource::UNAVAILABLE_CODES
        };
        let status_codes = literal_args(text, "StatusUnavailable::new(")
            .into_iter()
            .chain(literal_args(text, "StatusUnavailable::caused_by("));
        for code in status_codes {
            used.insert(code);
            if !listed.iter().any(|(c, _)| *c == code) {
                unlisted.push(format!(
                    "{name}: StatusUnavailable code {code:?} is not in its UNAVAILABLE_CODES"
                ));
            }
        }
        if !name.starts_with("crates/cli/") {
            continue;
        }
        for (call, exit) in [
            ("CliError::usage(", 2),
            ("CliError::failed(", 1),
            ("CliError::login_required(", 4),
        ] {
            for code in literal_args(text, call) {
                used.insert(code);
                match cli.get(code) {
                    Some(&e) if e == exit => {}
                    Some(&e) => unlisted.push(format!(
                        "{name}: {code:?} exits {exit} here but {e} in error::CODES"
                    )),
                    None => {
                        unlisted.push(format!("{name}: CLI code {code:?} is not in error::CODES"))
                    }
                }
            }
        }
        for code in literal_args(text, "code: ") {
            used.insert(code);
            if !cli.contains_key(code) {
                unlisted.push(format!("{name}: CLI code {code:?} is not in error::CODES"));
            }
        }
    }
    let stale: Vec<&str> = CLI_CODES
        .iter()
        .map(|(c, _, _)| *c)
        .chain(StatusListSource::UNAVAILABLE_CODES.iter().map(|(c, _)| *c))
        .chain(LocalStatus::UNAVAILABLE_CODES.iter().map(|(c, _)| *c))
        .filter(|c| !used.contains(c))
        .collect();
    assert!(unlisted.is_empty(), "{}", unlisted.join("\n"));
    assert!(stale.is_empty(), "listed but never reported: {stale:?}");
}

#[test]
fn codes_mean_one_thing_each() {
    let mut places: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for sec in sections() {
        let mut seen = BTreeSet::new();
        for (code, meaning) in sec.codes {
            assert!(seen.insert(*code), "{}: {code} listed twice", sec.ty);
            assert!(
                code.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
                "{code} is not snake_case"
            );
            assert!(!meaning.is_empty(), "{code} has no condition");
            places
                .entry(code)
                .or_default()
                .push(format!("{} {}", sec.krate, sec.ty));
        }
    }
    for (code, _, _) in CLI_CODES {
        places.entry(code).or_default().push("passport-cli".into());
    }
    let shared: BTreeSet<&str> = SHARED.iter().map(|(c, _)| *c).collect();
    assert_eq!(shared.len(), SHARED.len(), "a code is in SHARED twice");
    let mut problems = Vec::new();
    for (code, at) in &places {
        if at.len() > 1 && !shared.contains(code) {
            problems.push(format!(
                "{code} is reported by {at:?}: rename one, or add it to SHARED with why it is the same condition"
            ));
        }
    }
    for code in &shared {
        if places.get(code).is_none_or(|at| at.len() < 2) {
            problems.push(format!(
                "{code} is in SHARED but reported in one place only"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|")
}

fn render() -> String {
    let mut out = String::from(
        "# Error codes\n\
         \n\
         <!-- Generated by crates/cli/src/error_codes.rs; do not edit by hand.\n\
         \x20    Regenerate: UPDATE_ERROR_CODES=1 cargo test -p passport-cli error_codes -->\n\
         \n\
         Every refusal carries a stable, machine-readable code: `code()` of each\n\
         crate's error type, `error[code]` on the CLI's stderr, and\n\
         `error_description` in passport-axum's answers. This file lists them\n\
         all; a test fails when a code is added, removed or changed without it.\n\
         \n\
         The rule: the same condition has the same code in every crate, and\n\
         different conditions have different codes. JWS-layer codes\n\
         (passport-jose's, and `unknown_kid`) name the same failure for any\n\
         token. Where the same claim rule fails on different kinds of token,\n\
         a passport's keeps the bare name and the others are prefixed\n\
         (`id_token_expired`, `status_list_expired`, `dpop_iat_too_old`).\n\
         \n\
         An error that wraps another crate's error reports that error's code\n\
         unchanged (its `code()` delegates): the same condition by\n\
         construction. Such codes are listed once, under the wrapped type.\n\
         \n\
         HTTP is the status and OAuth `error` passport-axum answers with when\n\
         the code refuses a request (a passport's codes, DPoP codes and the\n\
         layer's own); `—` where the code never reaches it. Exit is the\n\
         CLI's status: 1 rejected or failed, 2 usage or configuration, 4 log in\n\
         first.\n\
         \n\
         ## Shared codes\n\
         \n\
         Codes reported in more than one place, each naming one condition.\n\
         \n\
         | code | reported by | why it is the same condition |\n\
         |---|---|---|\n",
    );
    let sections = sections();
    for (code, why) in SHARED {
        let mut at: Vec<String> = sections
            .iter()
            .filter(|s| s.codes.iter().any(|(c, _)| c == code))
            .map(|s| format!("{} `{}`", s.krate, s.ty))
            .collect();
        if CLI_CODES.iter().any(|(c, _, _)| c == code) {
            at.push("passport-cli".into());
        }
        out.push_str(&format!(
            "| `{code}` | {} | {} |\n",
            at.join(", "),
            cell(why)
        ));
    }
    for sec in &sections {
        out.push_str(&format!("\n## {} — `{}`\n\n", sec.krate, sec.ty));
        if !sec.wraps.is_empty() {
            out.push_str(&format!(
                "Also reports, unchanged, the codes of {}.\n\n",
                sec.wraps
            ));
        }
        out.push_str("| code | condition | HTTP |\n|---|---|---|\n");
        for (code, meaning) in sec.codes {
            let http = sec.http.get(code).map_or("—", String::as_str);
            out.push_str(&format!("| `{code}` | {} | {http} |\n", cell(meaning)));
        }
    }
    out.push_str(
        "\n## passport-cli\n\n\
         The codes the `passport` command reports itself; it also reports the\n\
         codes of the library errors above (exit 1, or 2 for configuration\n\
         and key-file errors).\n\n\
         | code | condition | exit |\n|---|---|---|\n",
    );
    for (code, exit, meaning) in CLI_CODES {
        out.push_str(&format!("| `{code}` | {} | {exit} |\n", cell(meaning)));
    }
    out
}

#[test]
fn error_codes_md_is_up_to_date() {
    let path = workspace().join("docs/error-codes.md");
    let expected = render();
    if std::env::var_os("UPDATE_ERROR_CODES").is_some() {
        std::fs::write(&path, &expected).unwrap();
        return;
    }
    let found = std::fs::read_to_string(&path).unwrap_or_default();
    if found == expected {
        return;
    }
    let old: BTreeSet<&str> = found.lines().collect();
    let new: BTreeSet<&str> = expected.lines().collect();
    let mut diff = String::new();
    for line in found.lines().filter(|l| !new.contains(l)) {
        diff.push_str(&format!("- {line}\n"));
    }
    for line in expected.lines().filter(|l| !old.contains(l)) {
        diff.push_str(&format!("+ {line}\n"));
    }
    panic!(
        "docs/error-codes.md is out of date (a code was added, removed or changed):\n{diff}\n\
         If the change is intended, regenerate it:\n\
         UPDATE_ERROR_CODES=1 cargo test -p passport-cli error_codes"
    );
}
