//! The claim rules of OpenID Connect Core §3.1.3.7, applied after the
//! signature has been verified.

use passport_claims::{IdentityAssertion, MAX_NUMERIC_DATE};
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_with::formats::PreferMany;
use serde_with::{OneOrMany, serde_as};

use crate::error::truncate;
use crate::{AcrMapping, OidcError};

pub(crate) struct ClaimRules<'a> {
    pub(crate) issuer: &'a str,
    pub(crate) client_id: &'a str,
    pub(crate) now: i64,
    pub(crate) skew: i64,
    pub(crate) nonce: Option<&'a str>,
    pub(crate) acr_mapping: &'a dyn AcrMapping,
}

/// `aud`: one string or an array of strings (RFC 7519 §4.1.3).
#[serde_as]
#[derive(Deserialize)]
#[serde(transparent)]
struct Audience(#[serde_as(as = "OneOrMany<_, PreferMany>")] Vec<String>);

pub(crate) fn check_claims(
    claims: Map<String, Value>,
    rules: &ClaimRules<'_>,
) -> Result<IdentityAssertion, OidcError> {
    // iss: exact, byte for byte (Core §3.1.3.7 item 2).
    let iss = string_claim(&claims, "iss")?;
    if iss != rules.issuer {
        return Err(OidcError::IssuerMismatch {
            context: "ID token",
            expected: rules.issuer.to_owned(),
            found: truncate(iss),
        });
    }

    // aud: contains our client id (item 3).
    let audience = match claims.get("aud") {
        None => return Err(OidcError::MissingClaim("aud")),
        Some(aud) => match Audience::deserialize(aud) {
            Ok(Audience(list)) if !list.is_empty() => list,
            _ => {
                return Err(OidcError::InvalidIdToken(
                    "`aud` is not a string or a non-empty array of strings".into(),
                ));
            }
        },
    };
    if !audience.iter().any(|a| a == rules.client_id) {
        return Err(OidcError::AudienceMismatch {
            expected: rules.client_id.to_owned(),
            found: audience.iter().take(8).map(|a| truncate(a)).collect(),
        });
    }

    // azp: required with several audiences, and ours when present (items 4–5).
    match claims.get("azp") {
        None if audience.len() > 1 => return Err(OidcError::MissingClaim("azp")),
        None => {}
        Some(Value::String(azp)) if azp == rules.client_id => {}
        Some(Value::String(azp)) => {
            return Err(OidcError::AzpMismatch {
                expected: rules.client_id.to_owned(),
                found: truncate(azp),
            });
        }
        Some(_) => return Err(OidcError::InvalidIdToken("`azp` is not a string".into())),
    }

    // exp, nbf, iat, with the skew (items 9–10).
    let exp = numeric_date(&claims, "exp")?.ok_or(OidcError::MissingClaim("exp"))?;
    if rules.now > exp.saturating_add(rules.skew) {
        return Err(OidcError::Expired {
            exp,
            now: rules.now,
        });
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")?
        && rules.now < nbf.saturating_sub(rules.skew)
    {
        return Err(OidcError::NotYetValid {
            at: nbf,
            now: rules.now,
        });
    }
    let iat = numeric_date(&claims, "iat")?.ok_or(OidcError::MissingClaim("iat"))?;
    if iat > rules.now.saturating_add(rules.skew) {
        return Err(OidcError::NotYetValid {
            at: iat,
            now: rules.now,
        });
    }

    // sub: a non-empty string.
    let subject = match claims.get("sub") {
        None => return Err(OidcError::MissingClaim("sub")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => {
            return Err(OidcError::InvalidIdToken(
                "`sub` is not a non-empty string".into(),
            ));
        }
    };

    // nonce: exactly the one sent, when one was sent (item 11).
    if let Some(expected) = rules.nonce {
        match claims.get("nonce") {
            Some(Value::String(n)) if n == expected => {}
            _ => return Err(OidcError::NonceMismatch),
        }
    }

    // acr and amr (items 12–13): the mapping decides the levels.
    let acr = match claims.get("acr") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(a.clone()),
        Some(_) => return Err(OidcError::InvalidIdToken("`acr` is not a string".into())),
    };
    let amr: Vec<String> = match claims.get("amr") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| OidcError::InvalidIdToken("`amr` holds a non-string".into()))?,
        Some(_) => return Err(OidcError::InvalidIdToken("`amr` is not an array".into())),
    };
    let assurance = rules.acr_mapping.map(acr.as_deref(), &amr)?;

    let issuer = iss.to_owned();
    let mut assertion = IdentityAssertion::new(issuer, subject).with_audience(audience);
    assertion = match acr {
        Some(acr) => assertion.with_acr(acr, assurance),
        None => {
            assertion.assurance = assurance;
            assertion
        }
    };
    Ok(assertion.with_raw_claims(claims))
}

fn string_claim<'c>(
    claims: &'c Map<String, Value>,
    name: &'static str,
) -> Result<&'c str, OidcError> {
    match claims.get(name) {
        None => Err(OidcError::MissingClaim(name)),
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(OidcError::InvalidIdToken(format!(
            "`{name}` is not a string"
        ))),
    }
}

/// A NumericDate (RFC 7519 §2) as passports have them: an integer number of
/// seconds from 0 to [`MAX_NUMERIC_DATE`]. RFC 7519 allows fractions, but no
/// provider needs them, and a float is how absurd values arrive (`1e300`
/// saturated to `i64::MAX` once let a token be stored with expiry 0); the
/// passports minted from the token carry integers within the same range.
fn numeric_date(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, OidcError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(i) if (0..=MAX_NUMERIC_DATE).contains(&i) => Ok(Some(i)),
            _ => Err(OidcError::InvalidNumericDate(name)),
        },
        Some(_) => Err(OidcError::InvalidNumericDate(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NistIalMapping;
    use serde_json::json;

    fn rules<'a>(nonce: Option<&'a str>) -> ClaimRules<'a> {
        ClaimRules {
            issuer: "https://idp.example",
            client_id: "client",
            now: 1_000_000,
            skew: 30,
            nonce,
            acr_mapping: &NistIalMapping,
        }
    }

    fn check(claims: Value, nonce: Option<&str>) -> Result<IdentityAssertion, OidcError> {
        check_claims(claims.as_object().unwrap().clone(), &rules(nonce))
    }

    fn good() -> Value {
        json!({"iss": "https://idp.example", "sub": "alice", "aud": "client", "iat": 1_000_000, "exp": 1_000_300})
    }

    #[test]
    fn skew_is_applied_at_both_edges() {
        let mut c = good();
        c["exp"] = json!(1_000_000 - 30);
        assert!(check(c.clone(), None).is_ok());
        c["exp"] = json!(1_000_000 - 31);
        assert_eq!(check(c, None).unwrap_err().code(), "id_token_expired");
        let mut c = good();
        c["nbf"] = json!(1_000_030);
        assert!(check(c.clone(), None).is_ok());
        c["nbf"] = json!(1_000_031);
        assert_eq!(check(c, None).unwrap_err().code(), "id_token_not_yet_valid");
        let mut c = good();
        c["iat"] = json!(1_000_031);
        assert_eq!(check(c, None).unwrap_err().code(), "id_token_not_yet_valid");
    }

    #[test]
    fn absurd_dates_are_refused_not_saturated() {
        for name in ["exp", "iat", "nbf"] {
            for value in [
                json!(1e300),
                json!(1_000_000.5),
                json!(1_000_300.0),
                json!(-1),
                json!(i64::MAX),
                json!(i64::MIN),
                json!(u64::MAX),
                json!(MAX_NUMERIC_DATE + 1),
                json!("1000300"),
                json!(null),
            ] {
                let mut c = good();
                c[name] = value.clone();
                let err = check(c, None).unwrap_err();
                assert!(
                    matches!(err, OidcError::InvalidNumericDate(n) if n == name),
                    "{name} = {value}: {err:?}"
                );
                assert_eq!(err.code(), "invalid_numeric_date");
            }
        }
        // The largest NumericDate is still a date.
        let mut c = good();
        c["exp"] = json!(MAX_NUMERIC_DATE);
        c["nbf"] = json!(0);
        assert!(check(c, None).is_ok());
    }

    #[test]
    fn wrong_claim_types_are_invalid() {
        for (name, value) in [
            ("aud", json!([])),
            ("aud", json!([1])),
            ("aud", json!(["client", 1])),
            ("aud", json!(null)),
            ("aud", json!(7)),
            ("aud", json!({"client": true})),
            ("aud", json!([["client"]])),
            ("sub", json!("")),
            ("azp", json!(7)),
            ("acr", json!(2)),
            ("amr", json!("mfa")),
        ] {
            let mut c = good();
            c[name] = value;
            assert_eq!(
                check(c, None).unwrap_err().code(),
                "invalid_id_token",
                "{name}"
            );
        }
    }

    #[test]
    fn audience_is_one_string_or_many() {
        let mut c = good();
        c["aud"] = json!(["client"]);
        assert_eq!(check(c, None).unwrap().audience, ["client"]);
        let mut c = good();
        c["aud"] = json!(["other", "client"]);
        c["azp"] = json!("client");
        assert_eq!(check(c, None).unwrap().audience, ["other", "client"]);
        assert_eq!(check(good(), None).unwrap().audience, ["client"]);
        let mut c = good();
        c.as_object_mut().unwrap().remove("aud");
        assert_eq!(check(c, None).unwrap_err().code(), "id_token_missing_claim");
    }

    #[test]
    fn single_audience_with_foreign_azp_is_refused() {
        let mut c = good();
        c["azp"] = json!("other");
        assert_eq!(check(c, None).unwrap_err().code(), "azp_mismatch");
    }

    #[test]
    fn no_acr_means_no_levels() {
        let a = check(good(), None).unwrap();
        assert_eq!(a.acr, None);
        assert_eq!(a.assurance, passport_claims::Assurance::none());
        assert_eq!(a.raw_claims.get("sub"), Some(&json!("alice")));
    }
}
