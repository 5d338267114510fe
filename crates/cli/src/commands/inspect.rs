//! `passport inspect`: decode a bundle WITHOUT verifying it.

use std::borrow::Borrow;

use passport_claims::{PassportClaims, UnverifiedBundle};
use serde_json::{Value, json};

use super::read_bundle;
use crate::cli::InspectArgs;
use crate::error::CliError;
use crate::output;
use crate::term::{self, escape};
use crate::time::rfc3339;

pub(crate) fn inspect(args: &InspectArgs) -> Result<(), CliError> {
    let text = read_bundle(args.bundle.as_deref())?;
    let bundle = UnverifiedBundle::parse(&text).map_err(passport_verifier::VerifyError::from)?;
    note!(
        "{}: decoded WITHOUT verification; nothing here is trusted (use `passport verify`).",
        output::paint(output::WARNING, "warning")
    );
    let decoded = bundle.inspect_unverified();
    if args.tree && !output::json_mode() {
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
    if output::json_mode() {
        output::emit(&Value::Array(out));
    } else {
        say!("{}", term::json(&Value::Array(out), true));
    }
    Ok(())
}

/// principal (levels) → each actor → the current holder, root first. Every
/// name comes from an unverified token, so each is escaped.
pub(super) fn tree<C: Borrow<PassportClaims>>(leaf_first: &[C]) -> String {
    let mut out = String::new();
    let Some(root) = leaf_first.last().map(Borrow::borrow) else {
        return out;
    };
    out.push_str(&format!(
        "{} ({}){}\n",
        escape(&root.sub),
        root.assurance,
        root.acr
            .as_deref()
            .map(|a| format!(" acr {}", escape(a)))
            .unwrap_or_default()
    ));
    for (depth, p) in leaf_first.iter().map(Borrow::borrow).rev().enumerate() {
        let indent = "   ".repeat(depth);
        let scope: Vec<_> = p
            .agent
            .tool_scope
            .iter()
            .map(|s| escape(s.as_str()))
            .collect();
        let holder = if depth + 1 == leaf_first.len() {
            "  ← current holder"
        } else {
            ""
        };
        out.push_str(&format!(
            "{indent}└─ {} [{}] aud {} expires {}{holder}\n",
            escape(&p.agent.agent_id),
            scope.join(", "),
            escape(&p.aud),
            rfc3339(p.exp)
        ));
    }
    out
}
