//! Administrators' roles, and the mapping from the upstream provider's
//! claim to them (the policy file's `[administrators]` table).
//!
//! ```toml
//! [administrators]
//! claim = "roles"
//! # the upstream client whose ID tokens administrators present on the
//! # admin JSON API (a registration of its own: see `api_client_id`)
//! api_client_id = "passport-admin"
//! api_max_age = 600
//! [administrators.roles]
//! identity_admin = ["passport-admins"]
//! approver = ["approvers"]
//! resource_owner = ["owners"]
//! auditor = ["auditors"]
//! ```

use std::collections::{BTreeMap, BTreeSet};

use axum::http::{HeaderMap, header};
use passport_oidc::OidcError;
use passport_store::server::RoleClaim;
use serde::Deserialize;
use serde_json::Value;

use crate::oauth::{OAuthError, codes};
use crate::service::Server;

/// What an administrator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AdminRole {
    /// Registers agent identities and changes their roles and state.
    IdentityAdmin,
    /// Approves or denies requests for environments that need approval.
    Approver,
    /// Revokes passports and engages or lifts kill-switches for its
    /// resources.
    ResourceOwner,
    /// Reads the registry and the audit trail.
    Auditor,
}

/// Which upstream claim values give which role, and which ID tokens the
/// admin JSON API takes.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RoleMapping {
    /// The ID-token claim holding the upstream roles or groups: an array
    /// of strings or one space-separated string.
    #[serde(default = "default_claim")]
    pub(crate) claim: String,
    /// For each role, the upstream values that give it.
    #[serde(default)]
    pub(crate) roles: BTreeMap<AdminRole, Vec<String>>,
    /// The upstream client whose ID tokens administrators present on the
    /// admin JSON API: a registration of its own at the provider, never
    /// the client users log in with. An ID token a user hands an agent to
    /// exchange for a passport is issued to that client, so it is no
    /// administrator's credential (and an admin token is no subject token:
    /// its `aud`/`azp` name this client). Unset: the JSON API takes no
    /// bearer (the dashboard's sessions still work).
    #[serde(default)]
    pub(crate) api_client_id: Option<String>,
    /// How old, in seconds, an admin API ID token may be (since its
    /// `auth_time`, else its `iat`): bounds the replay of one that leaked.
    #[serde(default = "default_api_max_age")]
    pub(crate) api_max_age: u64,
}

impl Default for RoleMapping {
    fn default() -> RoleMapping {
        RoleMapping {
            claim: default_claim(),
            roles: BTreeMap::new(),
            api_client_id: None,
            api_max_age: default_api_max_age(),
        }
    }
}

fn default_claim() -> String {
    "roles".to_owned()
}

/// Ten minutes: a fresh login for each administrative session of work.
fn default_api_max_age() -> u64 {
    600
}

impl RoleMapping {
    /// The roles `claims` (an upstream ID token's) give: every role one of
    /// whose values the mapped claim holds. A claim of another shape gives
    /// none.
    pub(crate) fn roles_of(&self, claims: &serde_json::Map<String, Value>) -> BTreeSet<AdminRole> {
        self.roles_held(&self.claim_of(claims))
    }

    /// The mapped claim of `claims` and its values (none for a claim of
    /// another shape): what a dashboard session keeps, to be mapped again
    /// at each request with [`RoleMapping::roles_from`].
    pub(crate) fn claim_of(&self, claims: &serde_json::Map<String, Value>) -> RoleClaim {
        let values = match claims.get(&self.claim) {
            Some(Value::Array(values)) => values
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Some(Value::String(values)) => {
                values.split_ascii_whitespace().map(str::to_owned).collect()
            }
            _ => Vec::new(),
        };
        RoleClaim::new(self.claim.clone(), values)
    }

    /// The roles this mapping gives the values `kept` (from
    /// [`RoleMapping::claim_of`], perhaps under an earlier mapping): none
    /// when the mapping now reads another claim.
    pub(crate) fn roles_from(&self, kept: &RoleClaim) -> BTreeSet<AdminRole> {
        if kept.claim != self.claim {
            return BTreeSet::new();
        }
        self.roles_held(kept)
    }

    fn roles_held(&self, held: &RoleClaim) -> BTreeSet<AdminRole> {
        let held: BTreeSet<&str> = held.values.iter().map(String::as_str).collect();
        self.roles
            .iter()
            .filter(|(_, values)| values.iter().any(|v| held.contains(v.as_str())))
            .map(|(role, _)| *role)
            .collect()
    }
}

/// An authenticated administrator: the upstream principal and the roles
/// the mapping gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct AdminActor {
    /// The upstream `sub`.
    pub(crate) principal: String,
    /// What it may do.
    pub(crate) roles: BTreeSet<AdminRole>,
}

impl AdminActor {
    /// Refuses (403 `access_denied`, naming the role) unless the actor
    /// holds `role`.
    pub(crate) fn require(&self, role: AdminRole) -> Result<(), OAuthError> {
        if self.roles.contains(&role) {
            Ok(())
        } else {
            Err(OAuthError::new(
                403,
                codes::ACCESS_DENIED,
                format!("insufficient_role: this needs the {} role", role.name()),
            ))
        }
    }
}

impl AdminRole {
    /// The name used in the policy file and in refusals.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AdminRole::IdentityAdmin => "identity_admin",
            AdminRole::Approver => "approver",
            AdminRole::ResourceOwner => "resource_owner",
            AdminRole::Auditor => "auditor",
        }
    }
}

/// The administrator an API request authenticates as: `Authorization:
/// Bearer <ID token>` of the upstream provider issued to the
/// [`RoleMapping::api_client_id`] client (signature, `iss`, `aud`/`azp` =
/// that client, times: [`passport_oidc::Provider::validate_id_token_for`]),
/// at most [`RoleMapping::api_max_age`] seconds old, with its roles from
/// the [`RoleMapping`]. Without an upstream provider or an admin client
/// there are no API administrators (every request 401). The dashboard's
/// browser sessions produce the same [`AdminActor`].
///
/// # Errors
/// 401 `invalid_token` with a `Bearer` challenge when the header is
/// missing or the token is refused; 503 when the provider is unreachable.
pub(crate) async fn actor_from_bearer(
    server: &Server,
    headers: &HeaderMap,
) -> Result<AdminActor, OAuthError> {
    let unauthorized = |why: &str| {
        let mut e = OAuthError::new(401, INVALID_TOKEN, why);
        e.www_authenticate = Some(format!("Bearer error=\"{INVALID_TOKEN}\""));
        e
    };
    let Some(upstream) = server.inner.upstream.clone() else {
        return Err(unauthorized(
            "administrators log in at the upstream provider, and none is configured",
        ));
    };
    let mapping = super::role_mapping(server);
    let Some(api_client) = mapping.api_client_id.as_deref() else {
        return Err(unauthorized(
            "admin_api_off: the admin API takes ID tokens of the upstream client \
             `[administrators] api_client_id` names, and none is configured",
        ));
    };
    if api_client == upstream.config().client_id {
        tracing::error!(
            "[administrators] api_client_id is the client users log in with: \
             the admin API stays off"
        );
        return Err(unauthorized(
            "admin_api_off: `[administrators] api_client_id` must be a client of its own, \
             not the one users log in with",
        ));
    }
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("an upstream ID token is required (Authorization: Bearer)"))?;
    let assertion = upstream
        .validate_id_token_for(token, None, api_client)
        .await
        .map_err(|e| match e {
            OidcError::DiscoveryFailed(_) | OidcError::JwksFailed(_) | OidcError::HttpFailed(_) => {
                OAuthError::new(
                    503,
                    codes::TEMPORARILY_UNAVAILABLE,
                    "the upstream provider is unavailable",
                )
            }
            other => unauthorized(&format!("{}: the ID token is refused", other.code())),
        })?;
    let claims = &assertion.raw_claims;
    let authenticated = ["auth_time", "iat"]
        .iter()
        .find_map(|name| claims.get(*name).and_then(Value::as_i64));
    let max_age = i64::try_from(mapping.api_max_age).unwrap_or(i64::MAX);
    let now = server.inner.clock.now();
    // an authentication in the future (beyond the provider's clock skew)
    // is no fresh login: a clock fault would otherwise stretch the window
    // to the token's expiry (session-5 review 2)
    let skew = i64::try_from(upstream.config().clock_skew.as_secs()).unwrap_or(0);
    match authenticated {
        Some(at) if at <= now.saturating_add(skew) && now.saturating_sub(at) <= max_age => {}
        _ => {
            return Err(unauthorized(&format!(
                "stale_login: the ID token's authentication is more than {max_age} s old; \
                 log in again"
            )));
        }
    }
    let roles = mapping.roles_of(claims);
    Ok(AdminActor {
        principal: assertion.subject,
        roles,
    })
}

/// RFC 6750 §3.1's error for a refused bearer token.
const INVALID_TOKEN: &str = "invalid_token";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mapping() -> RoleMapping {
        toml::from_str(
            r#"
            claim = "groups"
            [roles]
            identity_admin = ["passport-admins"]
            approver = ["approvers", "leads"]
            "#,
        )
        .unwrap()
    }

    fn claims(v: Value) -> serde_json::Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn roles_come_from_the_mapped_claim_only() {
        let m = mapping();
        let both = m.roles_of(&claims(
            json!({"groups": ["leads", "passport-admins", "x"]}),
        ));
        assert_eq!(
            both,
            BTreeSet::from([AdminRole::IdentityAdmin, AdminRole::Approver])
        );
        // a space-separated string counts too
        let one = m.roles_of(&claims(json!({"groups": "approvers other"})));
        assert_eq!(one, BTreeSet::from([AdminRole::Approver]));
        // another claim, another shape, or a value that is only a prefix: none
        assert!(
            m.roles_of(&claims(json!({"roles": ["approvers"]})))
                .is_empty()
        );
        assert!(
            m.roles_of(&claims(json!({"groups": {"approvers": true}})))
                .is_empty()
        );
        assert!(
            m.roles_of(&claims(json!({"groups": ["approver"]})))
                .is_empty()
        );
    }

    #[test]
    fn kept_claim_values_are_mapped_by_the_mapping_in_force() {
        let kept = mapping().claim_of(&claims(json!({"groups": "leads x", "sub": "s"})));
        assert_eq!(
            kept,
            RoleClaim::new("groups", vec!["leads".into(), "x".into()])
        );
        assert_eq!(
            mapping().roles_from(&kept),
            BTreeSet::from([AdminRole::Approver])
        );
        // the value taken out of the mapping: the role is gone
        let fewer: RoleMapping =
            toml::from_str("claim = \"groups\"\n[roles]\napprover = [\"approvers\"]").unwrap();
        assert!(fewer.roles_from(&kept).is_empty());
        // the mapping now reads another claim: values kept from the old
        // one give nothing, even if they match
        let renamed: RoleMapping =
            toml::from_str("claim = \"roles\"\n[roles]\napprover = [\"leads\"]").unwrap();
        assert!(renamed.roles_from(&kept).is_empty());
        // a session stored before claim values were kept: no role
        assert!(mapping().roles_from(&RoleClaim::default()).is_empty());
    }

    #[test]
    fn an_unknown_role_or_member_is_refused_at_load() {
        assert!(toml::from_str::<RoleMapping>("[roles]\nsuperuser = [\"x\"]").is_err());
        assert!(toml::from_str::<RoleMapping>("claims = \"roles\"").is_err());
        assert_eq!(toml::from_str::<RoleMapping>("").unwrap().claim, "roles");
    }

    #[test]
    fn require_names_the_missing_role() {
        let actor = AdminActor {
            principal: "alice".into(),
            roles: BTreeSet::from([AdminRole::Auditor]),
        };
        assert!(actor.require(AdminRole::Auditor).is_ok());
        let e = actor.require(AdminRole::Approver).unwrap_err();
        assert_eq!((e.status, e.error), (403, "access_denied"));
        assert!(e.description.contains("approver"), "{}", e.description);
    }
}
