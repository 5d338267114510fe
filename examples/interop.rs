//! Interoperability with the Python reference, csp-agent-passport 0.2.1
//! (SPEC §3, §4 and §5 item 10), in both directions.
//!
//! ```text
//! interop mint <outdir>    # Rust mints; the Python verifier checks
//! interop verify <dir>     # Python minted; the Rust verifier checks
//! ```
//!
//! `mint` writes `issuer_public.jwk` (the Ed25519 public JWK), `root.txt` (a
//! root passport), `chain.txt` (the bundle `grandchild~child~root`, leaf
//! first) and `audience.txt`.
//!
//! `verify` reads `py_public.jwk` (the reference issuer's RSA public JWK),
//! `py_root.txt` and `py_chain.txt` (a bundle `leaf~parent~root`), verifies
//! both under a policy that opts in to untyped tokens, and shows that the
//! default policy refuses them with `untyped_token`.
//!
//! `scripts/interop.sh` runs both sides with the reference installed from PyPI.
//! Every failure ends the program with a non-zero status and the stable
//! error code.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use passport_claims::{
    AgentId, AgentModel, Assurance, Audience, ClaimsError, IdentityAssertion, Level, ScopeSet,
};
use passport_issuer::{DelegationRequest, IssuanceRequest, IssueError, Issuer};
use passport_jose::{Algorithm, JoseError, JwkSet, SigningKey, VerifyingKey};
use passport_verifier::{InMemoryKeyStore, VerificationPolicy, VerifiedPassport, Verifier};

/// The issuer the Rust side mints as.
const RUST_ISSUER: &str = "https://issuer.local";
/// The issuer the Python side mints as.
const PY_ISSUER: &str = "https://py-issuer.local";
/// One audience for every link, so each link passes the reference's
/// audience check when it is the leaf.
const AUDIENCE: &str = "https://tool.example";
/// The `acr` of the principal (IAL2, mapped to IAL/AAL/FAL 2).
const ACR: &str = "http://idmanagement.gov/ns/assurance/ial/2";

/// The principal and agents of the Rust-minted chain (scripts/interop.py checks them).
const RUST_PRINCIPAL: &str = "alice";
const RUST_AGENTS: [&str; 3] = ["rust-planner", "rust-researcher", "rust-reader"];
/// The principal and agents of the Python-minted chain (root first).
const PY_PRINCIPAL: &str = "bob";
const PY_AGENTS: [&str; 3] = ["py-planner", "py-researcher", "py-reader"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.as_slice() {
        [_, cmd, dir] if cmd == "mint" => mint(Path::new(dir)),
        [_, cmd, dir] if cmd == "verify" => verify(Path::new(dir)),
        _ => {
            eprintln!("usage: interop mint <outdir> | interop verify <dir>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("FAIL {failure}");
            ExitCode::FAILURE
        }
    }
}

/// `interop mint <outdir>`: an Ed25519 issuer, a root and a 3-link chain.
fn mint(outdir: &Path) -> Result<(), Failure> {
    std::fs::create_dir_all(outdir).during("create the output directory")?;
    let key = SigningKey::generate(Algorithm::EdDSA).during("generate the EdDSA key")?;

    // The public JWK, as the key itself renders it (kid, alg, use included).
    let jwks = JwkSet::from_keys([key.verifying_key()]).during("build the public JWK")?;
    let jwk = jwks.to_json()["keys"][0].to_string();
    write(outdir, "issuer_public.jwk", &jwk)?;

    let keys = InMemoryKeyStore::new();
    keys.insert(RUST_ISSUER, key.verifying_key())
        .during("trust the issuer key")?;
    let verifier = Verifier::new(VerificationPolicy::new(RUST_ISSUER, AUDIENCE), keys)
        .during("build the verifier")?;
    let issuer = Issuer::new(RUST_ISSUER, key);

    let assertion = IdentityAssertion::new("https://idp.local", RUST_PRINCIPAL)
        .with_acr(ACR, Assurance::uniform(Level::TWO));
    let root = issuer
        .issue(IssuanceRequest::new(
            assertion,
            Audience::new(AUDIENCE).during("name the request")?,
            AgentId::new(RUST_AGENTS[0]).during("name the request")?,
            AgentModel::new("model-a").during("name the request")?,
            scopes(["files:*", "mail:send"])?,
        ))
        .during("issue the root")?;

    // The issuer API delegates only from a verified parent.
    let verified_root = verifier
        .verify_str(root.bundle())
        .during("verify the Rust root")?;
    let child = issuer
        .delegate(DelegationRequest::new(
            &verified_root,
            Audience::new(AUDIENCE).during("name the request")?,
            AgentId::new(RUST_AGENTS[1]).during("name the request")?,
            AgentModel::new("model-b").during("name the request")?,
            scopes(["files:*"])?,
        ))
        .during("delegate the child")?;
    let verified_child = verifier
        .verify_str(child.bundle())
        .during("verify the Rust child")?;
    let grandchild = issuer
        .delegate(DelegationRequest::new(
            &verified_child,
            Audience::new(AUDIENCE).during("name the request")?,
            AgentId::new(RUST_AGENTS[2]).during("name the request")?,
            AgentModel::new("model-c").during("name the request")?,
            scopes(["files:read"])?,
        ))
        .during("delegate the grandchild")?;
    let verified_chain = verifier
        .verify_str(grandchild.bundle())
        .during("verify the Rust chain")?;
    expect_chain(&verified_chain, RUST_PRINCIPAL, &RUST_AGENTS)?;

    write(outdir, "root.txt", root.bundle())?;
    // `grandchild~child~root`, leaf first (SPEC §4).
    write(outdir, "chain.txt", grandchild.bundle())?;
    write(outdir, "audience.txt", AUDIENCE)?;
    println!(
        "minted rust root and 3-link chain (EdDSA, kid {}) in {}",
        issuer.kid(),
        outdir.display()
    );
    Ok(())
}

/// `interop verify <dir>`: the reference's RS256, untyped tokens.
fn verify(dir: &Path) -> Result<(), Failure> {
    let jwk = read(dir, "py_public.jwk")?;
    let py_key = VerifyingKey::from_jwk_json(jwk.as_bytes()).during("load py_public.jwk")?;
    // Both implementations name keys by their RFC 7638 thumbprint.
    let thumbprint = py_key.thumbprint().during("thumbprint py_public.jwk")?;
    if thumbprint != py_key.kid() {
        return Err(Failure::new(
            "check the Python key's kid",
            "kid_mismatch",
            format!(
                "kid {:?} is not the RFC 7638 thumbprint {thumbprint:?}",
                py_key.kid()
            ),
        ));
    }
    let root = read(dir, "py_root.txt")?;
    let chain = read(dir, "py_chain.txt")?;

    let keys = Arc::new(InMemoryKeyStore::new());
    keys.insert(PY_ISSUER, py_key)
        .during("trust the Python issuer key")?;

    let interop = Verifier::new(
        VerificationPolicy::new(PY_ISSUER, AUDIENCE).accept_untyped(true),
        Arc::clone(&keys),
    )
    .during("build the interop verifier")?;

    let verified = interop.verify_str(&root).during("verify the Python root")?;
    expect_chain(&verified, PY_PRINCIPAL, &PY_AGENTS[..1])?;
    println!("OK rust-verified python root");
    println!("   {}", describe(&verified));

    let verified = interop
        .verify_str(&chain)
        .during("verify the Python chain")?;
    expect_chain(&verified, PY_PRINCIPAL, &PY_AGENTS)?;
    println!("OK rust-verified python chain ({} links)", verified.depth());
    println!("   {}", describe(&verified));

    // Without the opt-in, the reference's `typ: JWT` header is refused.
    let strict = Verifier::new(VerificationPolicy::new(PY_ISSUER, AUDIENCE), keys)
        .during("build the default verifier")?;
    for (name, text) in [("root", &root), ("chain", &chain)] {
        match strict.verify_str(text) {
            Err(e) if e.code() == "untyped_token" => {}
            Err(e) => {
                return Err(Failure::new(
                    format!("refuse the untyped Python {name} by default"),
                    e.code(),
                    format!("refused, but not as untyped: {e}"),
                ));
            }
            Ok(_) => {
                return Err(Failure::new(
                    format!("refuse the untyped Python {name} by default"),
                    "accepted",
                    "the default policy accepted an untyped passport",
                ));
            }
        }
    }
    println!("OK untyped python token refused by default (untyped_token)");
    Ok(())
}

/// Checks the verified bundle's principal and agents (root first).
fn expect_chain(
    verified: &VerifiedPassport,
    principal: &str,
    agents_root_first: &[&str],
) -> Result<(), Failure> {
    let found: Vec<&str> = verified
        .links()
        .iter()
        .rev()
        .map(|p| p.agent.agent_id.as_str())
        .collect();
    let subjects_ok = verified.links().iter().all(|p| p.sub == principal);
    if found != agents_root_first || !subjects_ok {
        return Err(Failure::new(
            "check the verified claims",
            "unexpected_claims",
            format!(
                "expected sub {principal:?} and agents {agents_root_first:?}, got sub {:?} and agents {found:?}",
                verified.principal()
            ),
        ));
    }
    Ok(())
}

/// `sub`, agents (root first), leaf scope and assurance; no token bytes.
fn describe(verified: &VerifiedPassport) -> String {
    let agents: Vec<&str> = verified
        .links()
        .iter()
        .rev()
        .map(|p| p.agent.agent_id.as_str())
        .collect();
    let leaf = verified.claims();
    let scopes: Vec<String> = verified.scopes().iter().map(ToString::to_string).collect();
    format!(
        "sub={} agents={} scope={scopes:?} {} iss={} jti={}",
        verified.principal(),
        agents.join(" -> "),
        verified.assurance(),
        leaf.iss,
        leaf.jti
    )
}

fn scopes<const N: usize>(patterns: [&str; N]) -> Result<ScopeSet, Failure> {
    ScopeSet::parse(patterns).map_err(|e| Failure::new("parse scopes", e.code(), e))
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), Failure> {
    let path: PathBuf = dir.join(name);
    std::fs::write(&path, format!("{text}\n")).during(format!("write {}", path.display()))
}

fn read(dir: &Path, name: &str) -> Result<String, Failure> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path).during(format!("read {}", path.display()))?;
    Ok(text.trim().to_owned())
}

/// A failed step: what was being done, the stable error code, the error.
#[derive(Debug)]
struct Failure {
    step: String,
    code: String,
    detail: String,
}

impl Failure {
    fn new(step: impl Into<String>, code: impl Into<String>, detail: impl fmt::Display) -> Failure {
        Failure {
            step: step.into(),
            code: code.into(),
            detail: detail.to_string(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.step, self.code, self.detail)
    }
}

/// Errors with a stable code.
trait Coded: fmt::Display {
    fn code(&self) -> &'static str;
}

impl Coded for passport_verifier::VerifyError {
    fn code(&self) -> &'static str {
        passport_verifier::VerifyError::code(self)
    }
}

impl Coded for IssueError {
    fn code(&self) -> &'static str {
        IssueError::code(self)
    }
}

impl Coded for JoseError {
    fn code(&self) -> &'static str {
        JoseError::code(self)
    }
}

impl Coded for ClaimsError {
    fn code(&self) -> &'static str {
        ClaimsError::code(self)
    }
}

impl Coded for std::io::Error {
    fn code(&self) -> &'static str {
        "io_error"
    }
}

/// Names the step a fallible call belongs to.
trait During<T> {
    fn during(self, step: impl Into<String>) -> Result<T, Failure>;
}

impl<T, E: Coded> During<T> for Result<T, E> {
    fn during(self, step: impl Into<String>) -> Result<T, Failure> {
        self.map_err(|e| Failure::new(step, e.code(), &e))
    }
}
