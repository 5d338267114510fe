//! [`Issuer`]: mints root passports and delegates narrower ones.

use std::sync::Arc;
use tracing::Span;
use tracing::field::Empty;

use passport_audit::{Action, AuditRecord, AuditSink, LinkRef, Outcome, clip};
use passport_claims::{
    Actor, AgentClaims, Clock, MAX_BUNDLE_LINKS, PASSPORT_TYP, PassportClaims, StatusAllocator,
    SystemClock,
};
use passport_jose::{JoseError, MAX_TOKEN_LEN, SigningKey, VerifyingKey, sha256_b64url};

use crate::{DelegationRequest, IssuanceRequest, IssueError, IssuedPassport};

/// Default lifetime of a root passport, in seconds (15 minutes).
pub const DEFAULT_ROOT_TTL: u64 = 15 * 60;
/// Default lifetime of a delegated passport, in seconds (5 minutes).
pub const DEFAULT_CHILD_TTL: u64 = 5 * 60;
/// The longest lifetime an issuer grants, in seconds (24 hours).
pub const MAX_TTL: u64 = 24 * 60 * 60;

/// Mints root and delegated passports with one signing key.
pub struct Issuer {
    url: String,
    key: SigningKey,
    clock: Arc<dyn Clock>,
    max_depth: usize,
    status: Option<Arc<dyn StatusAllocator>>,
    audit: Option<Arc<dyn AuditSink>>,
}

impl std::fmt::Debug for Issuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issuer")
            .field("url", &self.url)
            .field("kid", &self.key.kid())
            .field("max_depth", &self.max_depth)
            .field("status", &self.status.is_some())
            .field("audit", &self.audit.is_some())
            .finish_non_exhaustive()
    }
}

impl Issuer {
    /// An issuer named `url` (the `iss` of everything it mints) signing with `key`.
    pub fn new(url: impl Into<String>, key: SigningKey) -> Issuer {
        Issuer {
            url: url.into(),
            key,
            clock: Arc::new(SystemClock),
            max_depth: passport_verifier::DEFAULT_MAX_DEPTH,
            status: None,
            audit: None,
        }
    }

    /// Uses `clock` instead of the system clock.
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Issuer {
        self.clock = clock;
        self
    }

    /// Sets the maximum bundle length delegation may reach (at most
    /// [`MAX_BUNDLE_LINKS`], the format's limit, whatever is set here).
    pub fn with_max_depth(mut self, max_depth: usize) -> Issuer {
        self.max_depth = max_depth;
        self
    }

    /// Gives every passport minted from now on a `status` claim
    /// (`{"status_list": {"idx": N, "uri": U}}`) from `allocator`.
    pub fn with_status(mut self, allocator: Arc<dyn StatusAllocator>) -> Issuer {
        self.status = Some(allocator);
        self
    }

    /// Records every issuance and delegation (and every refusal to mint) in
    /// `sink`. A passport that cannot be audited is not handed out.
    pub fn with_audit(mut self, sink: Arc<dyn AuditSink>) -> Issuer {
        self.audit = Some(sink);
        self
    }

    /// The issuer identifier.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The signing key's `kid`.
    pub fn kid(&self) -> &str {
        self.key.kid()
    }

    /// The public key verifiers need.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Mints a root passport for the asserted principal.
    ///
    /// Runs in a `passport.issue` span (fields `agent_id`, `jti`, `outcome`)
    /// and counts `passport_issue_total{kind = "root", outcome}`.
    pub fn issue(&self, request: IssuanceRequest) -> Result<IssuedPassport, IssueError> {
        let span = tracing::info_span!(
            "passport.issue",
            jti = Empty,
            agent_id = Empty,
            outcome = Empty
        );
        if !span.is_disabled() {
            span.record("agent_id", request.agent_id.as_str());
        }
        let result = span.in_scope(|| {
            let audience = request.audience.clone();
            let result = self.issue_unaudited(request);
            self.audited(Action::Issue, audience.as_str(), &[], result)
        });
        observed(&span, "root", &result);
        result
    }

    fn issue_unaudited(&self, request: IssuanceRequest) -> Result<IssuedPassport, IssueError> {
        let IssuanceRequest {
            assertion,
            audience,
            agent_id,
            agent_model,
            tool_scope,
            task_purpose,
            ttl,
            holder_jkt,
            jti,
            not_after,
        } = request;
        // The audience and agent id are non-empty by construction (their types).
        non_empty("subject", &assertion.subject)?;
        let jti = match jti {
            Some(jti) => checked_jti(jti)?,
            None => new_jti(),
        };
        check_jkt(holder_jkt.as_deref())?;
        let ttl = checked_ttl(ttl.unwrap_or(DEFAULT_ROOT_TTL))?;
        let now = self.clock.now();
        let wanted = now.saturating_add(ttl);
        let exp = match not_after {
            Some(cap) if cap <= now => {
                return Err(IssueError::InvalidRequest {
                    field: "not_after",
                    reason: format!("{cap} is not after the signing time {now}"),
                });
            }
            Some(cap) => wanted.min(cap),
            None => wanted,
        };
        let mut passport = PassportClaims::new(
            self.url.clone(),
            assertion.subject,
            String::from(audience),
            jti,
            now,
            exp,
            AgentClaims {
                agent_id: agent_id.into(),
                agent_model: agent_model.into(),
                tool_scope,
                task_purpose,
                parent_jti: None,
            },
        );
        passport.acr = assertion.acr;
        passport.assurance = assertion.assurance;
        passport.cnf_jkt = holder_jkt;
        let token = self.sign(&mut passport)?;
        Ok(IssuedPassport {
            bundle: token.clone(),
            token,
            clamped: exp < wanted,
            claims: passport,
        })
    }

    /// Mints a child of `request.parent`'s leaf for another agent.
    ///
    /// Runs in a `passport.delegate` span (fields `agent_id` of the child,
    /// `jti`, `outcome`) and counts
    /// `passport_issue_total{kind = "delegate", outcome}`.
    pub fn delegate(&self, request: DelegationRequest<'_>) -> Result<IssuedPassport, IssueError> {
        let span = tracing::info_span!(
            "passport.delegate",
            jti = Empty,
            agent_id = Empty,
            outcome = Empty
        );
        if !span.is_disabled() {
            span.record("agent_id", request.agent_id.as_str());
        }
        let result = span.in_scope(|| {
            let audience = request.audience.clone();
            let parent = request.parent;
            let result = self.delegate_unaudited(request);
            self.audited(Action::Delegate, audience.as_str(), parent.links(), result)
        });
        observed(&span, "delegate", &result);
        result
    }

    /// Records the outcome; a minted passport that cannot be recorded is withheld.
    fn audited(
        &self,
        action: Action,
        audience: &str,
        ancestors: &[Arc<PassportClaims>],
        result: Result<IssuedPassport, IssueError>,
    ) -> Result<IssuedPassport, IssueError> {
        let Some(sink) = &self.audit else {
            return result;
        };
        let outcome = if result.is_ok() {
            Outcome::Done
        } else {
            Outcome::Failed
        };
        let mut record = AuditRecord::new(self.clock.now(), action, outcome);
        record.aud = Some(clip(audience));
        record.iss = Some(self.url.clone());
        let link = |p: &PassportClaims| LinkRef {
            jti: clip(&p.jti),
            agent_id: clip(&p.agent.agent_id),
        };
        match &result {
            Ok(minted) => {
                record.links.push(link(minted.claims()));
                record.sub = Some(clip(&minted.claims().sub));
            }
            Err(e) => {
                record.error = Some(e.code().to_owned());
                record.sub = ancestors.first().map(|p| clip(&p.sub));
            }
        }
        record.links.extend(ancestors.iter().map(|p| link(p)));
        match (sink.record(&record), result) {
            (Ok(()), result) => result,
            (Err(e), Ok(_)) => Err(IssueError::AuditFailed(e)),
            (Err(_), Err(e)) => Err(e),
        }
    }

    fn delegate_unaudited(
        &self,
        request: DelegationRequest<'_>,
    ) -> Result<IssuedPassport, IssueError> {
        let DelegationRequest {
            parent: verified,
            audience,
            agent_id,
            agent_model,
            tool_scope,
            task_purpose,
            ttl,
            holder_jkt,
        } = request;
        check_jkt(holder_jkt.as_deref())?;
        let parent = verified.claims();
        // A bound parent's authority must stay bound: a child without its
        // own holder key would turn a sender-constrained passport into a
        // bearer one.
        if parent.cnf_jkt.is_some() && holder_jkt.is_none() {
            return Err(IssueError::HolderKeyRequired);
        }
        if parent.iss != self.url {
            return Err(IssueError::IssuerMismatch {
                parent: parent.iss.clone(),
                issuer: self.url.clone(),
            });
        }
        let now = self.clock.now();
        if parent.exp <= now {
            return Err(IssueError::ParentExpired {
                exp: parent.exp,
                now,
            });
        }
        // Never deeper than the format allows, whatever `with_max_depth`
        // says: no verifier would accept the bundle. With every token at most
        // `MAX_TOKEN_LEN` (checked in `sign`), this also keeps the bundle
        // within `MAX_BUNDLE_LEN`, which is `MAX_BUNDLE_LINKS` tokens and
        // their separators.
        let max = self.max_depth.min(MAX_BUNDLE_LINKS);
        let depth = verified.depth() + 1;
        if depth > max {
            return Err(IssueError::DepthExceeded { depth, max });
        }
        let widened = tool_scope.not_implied_by(&parent.agent.tool_scope);
        if !widened.is_empty() {
            return Err(IssueError::ScopeAttenuation {
                requested: tool_scope.iter().map(ToString::to_string).collect(),
                parent: parent
                    .agent
                    .tool_scope
                    .iter()
                    .map(ToString::to_string)
                    .collect(),
                widened: widened.iter().map(ToString::to_string).collect(),
            });
        }
        let ttl = checked_ttl(ttl.unwrap_or(DEFAULT_CHILD_TTL))?;
        let wanted = now.saturating_add(ttl);
        let exp = wanted.min(parent.exp);
        let mut child = PassportClaims::new(
            self.url.clone(),
            parent.sub.clone(),
            String::from(audience),
            new_jti(),
            now,
            exp,
            AgentClaims {
                agent_id: agent_id.into(),
                agent_model: agent_model.into(),
                tool_scope,
                task_purpose,
                parent_jti: Some(parent.jti.clone()),
            },
        );
        child.act = Actor::wrapping(child.agent.agent_id.clone(), &parent.act);
        child.acr = parent.acr.clone();
        child.assurance = parent.assurance;
        child.cnf_jkt = holder_jkt;
        child.parent_hash = Some(sha256_b64url(verified.token().as_bytes()));
        let token = self.sign(&mut child)?;
        let bundle = format!("{token}~{}", verified.bundle());
        Ok(IssuedPassport {
            token,
            bundle,
            claims: child,
            clamped: exp < wanted,
        })
    }

    /// Adds the `status` reference (when configured) and signs. A token
    /// longer than a verifier accepts ([`MAX_TOKEN_LEN`]) is refused here
    /// (`token_too_large`) rather than handed out to fail everywhere.
    fn sign(&self, passport: &mut PassportClaims) -> Result<String, IssueError> {
        if let Some(allocator) = &self.status {
            passport.status = Some(allocator.allocate(passport)?);
        }
        let token = self
            .key
            .sign_compact(Some(PASSPORT_TYP), &passport.to_json())?;
        if token.len() > MAX_TOKEN_LEN {
            return Err(JoseError::TokenTooLarge {
                len: token.len(),
                max: MAX_TOKEN_LEN,
            }
            .into());
        }
        Ok(token)
    }
}

/// Counts a minting in `passport_issue_total` and fills its span's
/// `outcome` and (when minted) `jti`. Never the token.
fn observed(span: &Span, kind: &'static str, result: &Result<IssuedPassport, IssueError>) {
    let outcome = match result {
        Ok(_) => "ok",
        Err(e) => e.code(),
    };
    metrics::counter!("passport_issue_total", "kind" => kind, "outcome" => outcome).increment(1);
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    if let Ok(minted) = result {
        span.record("jti", minted.claims().jti.as_str());
    }
}

fn new_jti() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A caller's `jti`: 1 to 128 printable ASCII characters.
fn checked_jti(jti: String) -> Result<String, IssueError> {
    if jti.is_empty() || jti.len() > 128 || !jti.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(IssueError::InvalidRequest {
            field: "jti",
            reason: "must be 1 to 128 printable ASCII characters".into(),
        });
    }
    Ok(jti)
}

fn non_empty(field: &'static str, value: &str) -> Result<(), IssueError> {
    if value.trim().is_empty() {
        return Err(IssueError::InvalidRequest {
            field,
            reason: "must not be empty".into(),
        });
    }
    Ok(())
}

/// A holder key thumbprint: 43 base64url characters (SHA-256).
fn check_jkt(jkt: Option<&str>) -> Result<(), IssueError> {
    match jkt {
        Some(jkt) if passport_jose::b64::decode(jkt).is_none_or(|h| h.len() != 32) => {
            Err(IssueError::InvalidRequest {
                field: "holder_jkt",
                reason: "not an RFC 7638 SHA-256 thumbprint (43 base64url characters)".into(),
            })
        }
        _ => Ok(()),
    }
}

fn checked_ttl(ttl: u64) -> Result<i64, IssueError> {
    if ttl == 0 || ttl > MAX_TTL {
        return Err(IssueError::InvalidRequest {
            field: "ttl",
            reason: format!("{ttl} s is outside 1..={MAX_TTL} s"),
        });
    }
    i64::try_from(ttl).map_err(|_| IssueError::InvalidRequest {
        field: "ttl",
        reason: "too large".into(),
    })
}
