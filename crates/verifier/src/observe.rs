//! Tracing spans and metrics of a verification (see the crate docs'
//! "Observability" section). Nothing here ever sees a token: a span gets the
//! verified leaf's `jti` and `agent_id` and the outcome code; metrics get the
//! outcome code and the cache's hit or miss, bounded label sets.
//!
//! With no subscriber and no recorder installed both are the facades' no-ops:
//! the span is disabled (its fields are never formatted) and the counters
//! are no-op handles.

use tracing::Span;
use tracing::field::Empty;

use crate::{Verification, VerifyError};

/// The `passport.verify` span, its fields filled by [`verified`].
pub(crate) fn verify_span() -> Span {
    tracing::info_span!(
        "passport.verify",
        jti = Empty,
        agent_id = Empty,
        outcome = Empty
    )
}

/// Counts `result` in `passport_verify_total` and fills `span`'s fields.
/// A refused bundle's `jti` and `agent_id` are unverified, attacker-chosen
/// strings: they go to the audit trail, clipped and marked, not to the span.
pub(crate) fn verified(span: &Span, result: Result<&Verification, &VerifyError>) {
    let outcome = match result {
        // A literal label: the facade's key is a static, built once (a
        // computed one is a `Vec` per call, on every request).
        Ok(_) => {
            metrics::counter!("passport_verify_total", "outcome" => "ok").increment(1);
            "ok"
        }
        Err(e) => {
            metrics::counter!("passport_verify_total", "outcome" => e.code()).increment(1);
            e.code()
        }
    };
    if span.is_disabled() {
        return;
    }
    span.record("outcome", outcome);
    if let Ok(verification) = result {
        let v = verification.verified();
        span.record("jti", v.claims().jti.as_str());
        span.record("agent_id", v.agent_id());
    }
}

/// Counts one lookup of the signature cache (when it is enabled).
pub(crate) fn cache_lookup(hit: bool) {
    // Literal labels: the facade builds the key without allocating.
    if hit {
        metrics::counter!("passport_verify_cache_total", "result" => "hit").increment(1);
    } else {
        metrics::counter!("passport_verify_cache_total", "result" => "miss").increment(1);
    }
}
