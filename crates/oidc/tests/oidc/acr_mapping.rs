//! `acr`/`amr` → IAL/AAL/FAL: the NIST default, TOML and JSON tables, and
//! `CSP_ACR_MAPPING`, end to end through ID-token validation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use passport_claims::{Assurance, Level};
use passport_mock_oidc::MockOidc;
use passport_oidc::{AcrMapping, NistIalMapping, OidcConfig, TableMapping, acr_mapping_from_spec};
use serde_json::json;

use crate::common::{Env, env_with};

const IAL: &str = "http://idmanagement.gov/ns/assurance/ial/";
const AAL: &str = "http://idmanagement.gov/ns/assurance/aal/";
const LOA: &str = "http://idmanagement.gov/ns/assurance/loa/";

fn levels(ial: Option<u8>, aal: Option<u8>, fal: Option<u8>) -> Assurance {
    let l = |n: Option<u8>| n.map(|n| Level::new(n).unwrap());
    Assurance {
        ial: l(ial),
        aal: l(aal),
        fal: l(fal),
    }
}

async fn env_with_mapping(mapping: Arc<dyn AcrMapping>) -> Env {
    env_with(MockOidc::builder(), move |c| c.acr_mapping = mapping).await
}

/// Validates a token carrying `acr` (and `amr`) and returns its levels or
/// the error code.
async fn assurance_of(
    env: &Env,
    acr: Option<&str>,
    amr: &[&str],
) -> Result<Assurance, &'static str> {
    let mut claims = env.mock.default_claims();
    if let Some(acr) = acr {
        claims["acr"] = acr.into();
    }
    if !amr.is_empty() {
        claims["amr"] = json!(amr);
    }
    match env.validate(&env.mock.mint_id_token(claims)).await {
        Ok(identity) => {
            assert_eq!(identity.acr.as_deref(), acr);
            Ok(identity.assurance)
        }
        Err(e) => Err(e.code()),
    }
}

#[tokio::test]
async fn nist_default_maps_an_ial_uri_to_that_ial_only() {
    // An IAL URI says how the identity was proofed, not how the user
    // authenticated nor how the assertion is protected: `ial/2` used to
    // become AAL 2 and FAL 2, passing `--require-aal 2` without MFA.
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    for n in 1..=3u8 {
        let acr = format!("{IAL}{n}");
        assert_eq!(
            assurance_of(&env, Some(&acr), &[]).await,
            Ok(levels(Some(n), None, None)),
            "{acr}"
        );
    }
}

#[tokio::test]
async fn nist_default_maps_an_aal_uri_to_that_aal_only() {
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    for n in 1..=3u8 {
        let acr = format!("{AAL}{n}");
        assert_eq!(
            assurance_of(&env, Some(&acr), &[]).await,
            Ok(levels(None, Some(n), None)),
            "{acr}"
        );
    }
}

#[tokio::test]
async fn nist_default_translates_legacy_loa_conservatively() {
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    assert_eq!(
        assurance_of(&env, Some(&format!("{LOA}1")), &[]).await,
        Ok(levels(Some(1), Some(1), Some(1)))
    );
    // LOA-3 is IAL-2, not IAL-3.
    assert_eq!(
        assurance_of(&env, Some(&format!("{LOA}3")), &[]).await,
        Ok(levels(Some(2), Some(2), Some(2)))
    );
}

#[tokio::test]
async fn nist_default_without_acr_asserts_no_level() {
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    assert_eq!(
        assurance_of(&env, None, &["mfa"]).await,
        Ok(Assurance::none())
    );
}

#[tokio::test]
async fn nist_default_refuses_everything_else() {
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    for acr in [
        format!("{IAL}0"),
        format!("{IAL}4"),
        format!("{IAL}02"),
        format!("{IAL}2 "),
        IAL.to_owned(),
        format!("{LOA}2"),
        format!("{LOA}4"),
        format!("{AAL}0"),
        format!("{AAL}4"),
        format!("{AAL}2?phishing_resistant=true"),
        "HTTP://IDMANAGEMENT.GOV/ns/assurance/ial/2".to_owned(),
        "urn:mace:incommon:iap:silver".to_owned(),
        String::new(),
    ] {
        assert_eq!(
            assurance_of(&env, Some(&acr), &[]).await,
            Err("unsupported_acr"),
            "{acr:?}"
        );
    }
}

#[tokio::test]
async fn nist_default_ignores_amr() {
    let env = env_with_mapping(Arc::new(NistIalMapping)).await;
    let acr = format!("{IAL}1");
    assert_eq!(
        assurance_of(&env, Some(&acr), &["mfa", "hwk"]).await,
        Ok(levels(Some(1), None, None))
    );
}

const TABLE_TOML: &str = r#"
[acr."urn:example:bronze"]
ial = 1
aal = 1
fal = 1

[acr."urn:example:silver"]
ial = 2
aal = 1

[acr."urn:example:gold"]
ial = 3
aal = 3
fal = 2

[amr]
mfa = 2
hwk = 3
"#;

const TABLE_JSON: &str = r#"{
  "acr": {
    "urn:example:bronze": {"ial": 1, "aal": 1, "fal": 1},
    "urn:example:silver": {"ial": 2, "aal": 1},
    "urn:example:gold": {"ial": 3, "aal": 3, "fal": 2}
  },
  "amr": {"mfa": 2, "hwk": 3}
}"#;

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_owned()
}

/// The table's behaviour, the same for both file formats.
async fn check_table(env: &Env) {
    assert_eq!(
        assurance_of(env, Some("urn:example:bronze"), &[]).await,
        Ok(levels(Some(1), Some(1), Some(1)))
    );
    assert_eq!(
        assurance_of(env, Some("urn:example:silver"), &[]).await,
        Ok(levels(Some(2), Some(1), None))
    );
    // RFC 8176 amr raises AAL …
    assert_eq!(
        assurance_of(env, Some("urn:example:silver"), &["pwd", "mfa"]).await,
        Ok(levels(Some(2), Some(2), None))
    );
    assert_eq!(
        assurance_of(env, Some("urn:example:bronze"), &["hwk", "mfa"]).await,
        Ok(levels(Some(1), Some(3), Some(1)))
    );
    // … never lowers it, and unknown amr values change nothing.
    assert_eq!(
        assurance_of(env, Some("urn:example:gold"), &["mfa"]).await,
        Ok(levels(Some(3), Some(3), Some(2)))
    );
    assert_eq!(
        assurance_of(env, Some("urn:example:bronze"), &["otp", "pin"]).await,
        Ok(levels(Some(1), Some(1), Some(1)))
    );
    // Unknown acr: refused (no NIST fallback unless asked for).
    assert_eq!(
        assurance_of(env, Some(&format!("{IAL}2")), &[]).await,
        Err("unsupported_acr")
    );
    // No acr: no levels, whatever the amr.
    assert_eq!(
        assurance_of(env, None, &["hwk"]).await,
        Ok(Assurance::none())
    );
}

fn config_from_env(vars: &[(&str, &str)]) -> Result<OidcConfig, passport_oidc::OidcError> {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OidcConfig::from_env(|k| map.get(k).cloned())
}

#[tokio::test]
async fn toml_table_from_csp_acr_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "acr.toml", TABLE_TOML);
    let config = config_from_env(&[
        (
            "CSP_DISCOVERY_URL",
            "http://x/.well-known/openid-configuration",
        ),
        ("CSP_CLIENT_ID", "c"),
        ("CSP_ACR_MAPPING", &path),
    ])
    .unwrap();
    let env = env_with_mapping(config.acr_mapping).await;
    check_table(&env).await;
}

#[tokio::test]
async fn json_table_from_csp_acr_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "acr.json", TABLE_JSON);
    let config = config_from_env(&[
        (
            "CSP_DISCOVERY_URL",
            "http://x/.well-known/openid-configuration",
        ),
        ("CSP_CLIENT_ID", "c"),
        ("CSP_ACR_MAPPING", &path),
    ])
    .unwrap();
    let env = env_with_mapping(config.acr_mapping).await;
    check_table(&env).await;
}

#[tokio::test]
async fn table_format_is_sniffed_without_a_known_extension() {
    let dir = tempfile::tempdir().unwrap();
    let env =
        env_with_mapping(acr_mapping_from_spec(&write(dir.path(), "mapping", TABLE_JSON)).unwrap())
            .await;
    check_table(&env).await;
    let env = env_with_mapping(
        acr_mapping_from_spec(&write(dir.path(), "mapping.conf", TABLE_TOML)).unwrap(),
    )
    .await;
    check_table(&env).await;
}

#[tokio::test]
async fn table_can_fall_back_to_nist() {
    let table =
        TableMapping::from_toml("include_nist = true\n[acr.\"urn:x\"]\nial = 2\n[amr]\nmfa = 3\n")
            .unwrap();
    let env = env_with_mapping(Arc::new(table)).await;
    assert_eq!(
        assurance_of(&env, Some("urn:x"), &[]).await,
        Ok(levels(Some(2), None, None))
    );
    assert_eq!(
        assurance_of(&env, Some(&format!("{LOA}3")), &[]).await,
        Ok(levels(Some(2), Some(2), Some(2)))
    );
    // amr raising applies to the NIST fallback too.
    assert_eq!(
        assurance_of(&env, Some(&format!("{IAL}1")), &["mfa"]).await,
        Ok(levels(Some(1), Some(3), None))
    );
    assert_eq!(
        assurance_of(&env, Some("urn:y"), &[]).await,
        Err("unsupported_acr")
    );
}

#[test]
fn malformed_tables_are_configuration_errors() {
    for toml in [
        "[acr.\"a\"]\nial = 4\n",
        "[acr.\"a\"]\nial = 0\n",
        "[acr.\"a\"]\nial = 1\nial_level = 2\n",
        "[amr]\nmfa = 5\n",
        "fallback = \"nist\"\n",
        "[acr.\"a\"]\nial = \"two\"\n",
    ] {
        assert_eq!(
            TableMapping::from_toml(toml).unwrap_err().code(),
            "config",
            "{toml}"
        );
    }
    for json in [
        r#"{"acr": {"a": {"ial": 1}}, "acr": {}}"#,
        r#"{"acr": {"a": {"ial": 1, "ial": 3}}}"#,
        r#"{"acr": {"a": {"aal": -1}}}"#,
        r#"["not", "an", "object"]"#,
    ] {
        assert_eq!(
            TableMapping::from_json(json).unwrap_err().code(),
            "config",
            "{json}"
        );
    }
    assert_eq!(
        acr_mapping_from_spec("/nonexistent/acr.toml")
            .unwrap_err()
            .code(),
        "config"
    );
}

#[test]
fn an_oversized_table_file_is_refused_naming_file_and_cap() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.toml");
    let file = std::fs::File::create(&path).unwrap();
    // Sparse: no disk is spent on the attack.
    file.set_len(passport_oidc::MAX_TABLE_BYTES as u64 + 1)
        .unwrap();
    let err = acr_mapping_from_spec(path.to_str().unwrap()).unwrap_err();
    assert!(
        matches!(&err, passport_oidc::OidcError::FileTooLarge { path: p, max, .. }
            if *p == path && *max == passport_oidc::MAX_TABLE_BYTES),
        "{err:?}"
    );
    assert_eq!(err.code(), "file_too_large");
    assert!(err.to_string().contains("huge.toml"), "{err}");
    #[cfg(unix)]
    assert_eq!(
        acr_mapping_from_spec("/dev/zero").unwrap_err().code(),
        "file_too_large"
    );
}

#[test]
fn csp_acr_mapping_ial_selects_the_nist_default() {
    for spec in ["ial", "IAL", " ial ", ""] {
        let mapping = acr_mapping_from_spec(spec).unwrap();
        assert_eq!(
            mapping.map(Some(&format!("{IAL}3")), &[]).unwrap(),
            levels(Some(3), None, None)
        );
        assert_eq!(
            mapping.map(Some("urn:x"), &[]).unwrap_err().code(),
            "unsupported_acr"
        );
    }
}

#[test]
fn configuration_from_the_environment() {
    let base = [
        (
            "CSP_DISCOVERY_URL",
            "https://idp.example/.well-known/openid-configuration",
        ),
        ("CSP_CLIENT_ID", "cli"),
    ];
    let config = config_from_env(&base).unwrap();
    assert_eq!(config.redirect_uri, "http://127.0.0.1:8765/callback");
    assert_eq!(config.scopes, ["openid"]);
    assert_eq!(config.client_secret, None);
    assert_eq!(config.clock_skew, std::time::Duration::from_secs(30));
    assert_eq!(config.expected_issuer().unwrap(), "https://idp.example");

    let mut vars = base.to_vec();
    vars.extend([
        ("CSP_CLIENT_SECRET", "s3cret"),
        ("CSP_REDIRECT_URI", "http://localhost:9999/cb"),
        ("CSP_SCOPES", "openid  email profile"),
        ("CSP_ACR_MAPPING", "ial"),
    ]);
    let config = config_from_env(&vars).unwrap();
    assert_eq!(config.client_secret.as_ref().unwrap().expose(), "s3cret");
    assert!(!format!("{config:?}").contains("s3cret"));
    assert_eq!(config.redirect_uri, "http://localhost:9999/cb");
    assert_eq!(config.scopes, ["openid", "email", "profile"]);

    for missing in ["CSP_DISCOVERY_URL", "CSP_CLIENT_ID"] {
        let vars: Vec<_> = base
            .iter()
            .copied()
            .filter(|(k, _)| *k != missing)
            .collect();
        let err = config_from_env(&vars).unwrap_err();
        assert_eq!(err.code(), "config");
        assert!(err.to_string().contains(missing));
    }
    // Empty counts as unset.
    assert_eq!(
        config_from_env(&[("CSP_DISCOVERY_URL", " "), ("CSP_CLIENT_ID", "c")])
            .unwrap_err()
            .code(),
        "config"
    );
}
