//! From a provider's `acr` (and `amr`) to NIST SP 800-63-3 levels.
//!
//! Externally Agent Passport speaks IAL/AAL/FAL only; what a provider puts in
//! `acr` is provider-specific. An [`AcrMapping`] translates. Two are built in:
//!
//! - [`NistIalMapping`], the default (`CSP_ACR_MAPPING=ial`): each
//!   idmanagement.gov URI asserts only the level it names (an `ial/N` URI
//!   is an IAL, not an AAL or a FAL; csp-agent-passport's `ial_acr_mapping`
//!   asserts all three);
//! - [`TableMapping`], loaded from a TOML or JSON file
//!   (`CSP_ACR_MAPPING=/path/to/table.toml`), for providers that emit other
//!   values, without a code change.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use passport_claims::{Assurance, Level};
use serde::Deserialize;

use crate::OidcError;
use crate::error::truncate;

/// Maps an ID token's `acr` and `amr` to assurance levels.
///
/// Implementations must be conservative: an `acr` they do not recognise is an
/// [`OidcError::UnsupportedAcr`], never a guess. `acr` is `None` when the
/// token has none (scope-driven deployments); the built-in mappings then
/// assert no level.
pub trait AcrMapping: Send + Sync + fmt::Debug {
    /// The levels for this `acr` and `amr` (the token's `amr` array, empty
    /// when absent).
    fn map(&self, acr: Option<&str>, amr: &[String]) -> Result<Assurance, OidcError>;
}

const IAL_PREFIX: &str = "http://idmanagement.gov/ns/assurance/ial/";
const AAL_PREFIX: &str = "http://idmanagement.gov/ns/assurance/aal/";
const LOA_1: &str = "http://idmanagement.gov/ns/assurance/loa/1";
const LOA_3: &str = "http://idmanagement.gov/ns/assurance/loa/3";

/// The default mapping: each idmanagement.gov URI asserts exactly what it
/// names, and nothing else.
///
/// | `acr` | IAL | AAL | FAL |
/// |---|---|---|---|
/// | `http://idmanagement.gov/ns/assurance/ial/N`, N ∈ 1–3 | N | none | none |
/// | `http://idmanagement.gov/ns/assurance/aal/N`, N ∈ 1–3 | none | N | none |
/// | `http://idmanagement.gov/ns/assurance/loa/1` (legacy) | 1 | 1 | 1 |
/// | `http://idmanagement.gov/ns/assurance/loa/3` (legacy) | 2 | 2 | 2 |
/// | absent | none | none | none |
/// | anything else | [`OidcError::UnsupportedAcr`] | | |
///
/// Why, from NIST SP 800-63-3, which splits the old single level of
/// assurance into three independent ones:
///
/// - An `ial/N` URI says how the subject's identity was proofed
///   (SP 800-63A). It says nothing about how the subject authenticated
///   this time (AAL, SP 800-63B) nor about the assertion's protection
///   (FAL, SP 800-63C): Login.gov, which defines these URIs, signals the
///   AAL with separate `aal/N` values and in its OIDC ID tokens returns only
///   the IAL value. Mapping `ial/2` to AAL 2 would let a password-only login
///   pass a `--require-aal 2` policy (csp-agent-passport 0.2.1's
///   `ial_acr_mapping`, which this mapping used to copy, does that).
/// - An `aal/N` URI says how the subject authenticated, and only that.
///   Variants with parameters (`aal/2?phishing_resistant=true`) are not
///   recognised; a [`TableMapping`] can name them.
/// - The legacy LOA URIs name OMB M-04-04 levels, which bundled proofing,
///   authentication and assertion; SP 800-63-3 maps LOA 1 to IAL 1, AAL 1
///   and FAL 1, and LOA 3 to IAL 2, AAL 2 and FAL 2 — *not* IAL 3, which
///   requires in-person proofing; mapping it to 3 would silently satisfy
///   every `--require-ial 3` policy.
///
/// No built-in URI asserts a FAL except the legacy LOAs. `amr` is ignored:
/// RFC 8176 values name methods, not levels (a [`TableMapping`] can raise
/// the AAL from them).
///
/// ```
/// use passport_claims::{Assurance, Level};
/// use passport_oidc::{AcrMapping, NistIalMapping};
/// let m = NistIalMapping;
/// let ial2 = m.map(Some("http://idmanagement.gov/ns/assurance/ial/2"), &[])?;
/// assert_eq!((ial2.ial, ial2.aal, ial2.fal), (Some(Level::TWO), None, None));
/// let aal2 = m.map(Some("http://idmanagement.gov/ns/assurance/aal/2"), &[])?;
/// assert_eq!((aal2.ial, aal2.aal, aal2.fal), (None, Some(Level::TWO), None));
/// let loa3 = m.map(Some("http://idmanagement.gov/ns/assurance/loa/3"), &[])?;
/// assert_eq!(loa3, Assurance::uniform(Level::TWO));
/// assert_eq!(m.map(None, &[])?, Assurance::none());
/// assert_eq!(m.map(Some("urn:other"), &[]).unwrap_err().code(), "unsupported_acr");
/// # Ok::<(), passport_oidc::OidcError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NistIalMapping;

impl AcrMapping for NistIalMapping {
    fn map(&self, acr: Option<&str>, _amr: &[String]) -> Result<Assurance, OidcError> {
        let Some(acr) = acr else {
            return Ok(Assurance::none());
        };
        nist_levels(acr).ok_or_else(|| OidcError::UnsupportedAcr(truncate(acr)))
    }
}

fn nist_levels(acr: &str) -> Option<Assurance> {
    match acr {
        LOA_1 => return Some(Assurance::uniform(Level::ONE)),
        LOA_3 => return Some(Assurance::uniform(Level::TWO)),
        _ => {}
    }
    let none = Assurance::none();
    if let Some(level) = acr.strip_prefix(IAL_PREFIX).and_then(one_digit_level) {
        return Some(Assurance {
            ial: Some(level),
            ..none
        });
    }
    let level = acr.strip_prefix(AAL_PREFIX).and_then(one_digit_level)?;
    Some(Assurance {
        aal: Some(level),
        ..none
    })
}

/// Exactly one digit, 1–3: "02", "+2" or "2 " are not the NIST URI.
fn one_digit_level(suffix: &str) -> Option<Level> {
    match suffix {
        "1" => Some(Level::ONE),
        "2" => Some(Level::TWO),
        "3" => Some(Level::THREE),
        _ => None,
    }
}

/// A mapping read from a TOML or JSON table.
///
/// # Table format
///
/// ```toml
/// # Fall back to the NIST mapping for acr values not listed below (default false).
/// include_nist = true
///
/// # acr value → levels. Each of ial, aal, fal is optional (1–3); an omitted
/// # one is not asserted.
/// [acr."urn:example:gold"]
/// ial = 2
/// aal = 1
/// fal = 1
///
/// # RFC 8176 amr value → the AAL it raises to. Applied after the acr lookup,
/// # only ever raises, and only when the token has a known acr.
/// [amr]
/// mfa = 2
/// hwk = 3
/// ```
///
/// The JSON form has the same shape:
/// `{"include_nist": true, "acr": {"urn:example:gold": {"ial": 2, "aal": 1}}, "amr": {"mfa": 2}}`.
/// Unknown keys, levels outside 1–3, and duplicate JSON members are refused at
/// load time, so a typo cannot silently weaken a mapping.
///
/// # Example
///
/// ```
/// use passport_claims::{Assurance, Level};
/// use passport_oidc::{AcrMapping, TableMapping};
/// let table = TableMapping::from_toml(r#"
///     [acr."urn:example:silver"]
///     ial = 2
///     aal = 1
///     [amr]
///     hwk = 3
/// "#)?;
/// let plain = table.map(Some("urn:example:silver"), &[])?;
/// assert_eq!((plain.ial, plain.aal, plain.fal), (Some(Level::TWO), Some(Level::ONE), None));
/// let raised = table.map(Some("urn:example:silver"), &["pwd".into(), "hwk".into()])?;
/// assert_eq!(raised.aal, Some(Level::THREE));
/// # Ok::<(), passport_oidc::OidcError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct TableMapping {
    include_nist: bool,
    acr: BTreeMap<String, Assurance>,
    amr: BTreeMap<String, Level>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TableFile {
    #[serde(default)]
    include_nist: bool,
    #[serde(default)]
    acr: BTreeMap<String, LevelsEntry>,
    #[serde(default)]
    amr: BTreeMap<String, Level>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LevelsEntry {
    ial: Option<Level>,
    aal: Option<Level>,
    fal: Option<Level>,
}

impl TableMapping {
    /// Parses the TOML form.
    pub fn from_toml(text: &str) -> Result<TableMapping, OidcError> {
        let file: TableFile = toml::from_str(text)
            .map_err(|e| OidcError::Config(format!("acr mapping table (TOML): {e}")))?;
        Ok(TableMapping::from_file_struct(file))
    }

    /// Parses the JSON form (strictly: duplicate members are refused).
    pub fn from_json(text: &str) -> Result<TableMapping, OidcError> {
        let map = passport_jose::json::parse_object(text.as_bytes(), "acr mapping table")
            .map_err(|e| OidcError::Config(format!("acr mapping table (JSON): {e}")))?;
        let file: TableFile = serde_json::from_value(serde_json::Value::Object(map))
            .map_err(|e| OidcError::Config(format!("acr mapping table (JSON): {e}")))?;
        Ok(TableMapping::from_file_struct(file))
    }

    /// Reads a table file (at most [`MAX_TABLE_BYTES`]): `.json` is JSON,
    /// `.toml` is TOML, anything else is JSON when it starts with `{` and
    /// TOML otherwise.
    pub fn from_path(path: &Path) -> Result<TableMapping, OidcError> {
        let text = read_table(path)?;
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("json") => TableMapping::from_json(&text),
            Some("toml") => TableMapping::from_toml(&text),
            _ if text.trim_start().starts_with('{') => TableMapping::from_json(&text),
            _ => TableMapping::from_toml(&text),
        }
    }

    fn from_file_struct(file: TableFile) -> TableMapping {
        let acr = file
            .acr
            .into_iter()
            .map(|(k, v)| {
                (
                    k,
                    Assurance {
                        ial: v.ial,
                        aal: v.aal,
                        fal: v.fal,
                    },
                )
            })
            .collect();
        TableMapping {
            include_nist: file.include_nist,
            acr,
            amr: file.amr,
        }
    }
}

impl AcrMapping for TableMapping {
    fn map(&self, acr: Option<&str>, amr: &[String]) -> Result<Assurance, OidcError> {
        let Some(acr) = acr else {
            return Ok(Assurance::none());
        };
        let mut levels = match self.acr.get(acr) {
            Some(levels) => *levels,
            None if self.include_nist => {
                nist_levels(acr).ok_or_else(|| OidcError::UnsupportedAcr(truncate(acr)))?
            }
            None => return Err(OidcError::UnsupportedAcr(truncate(acr))),
        };
        let raised = amr.iter().filter_map(|m| self.amr.get(m)).max().copied();
        if let Some(raised) = raised {
            levels.aal = Some(levels.aal.map_or(raised, |aal| aal.max(raised)));
        }
        Ok(levels)
    }
}

/// The largest acr mapping table file read, 1 MiB.
pub const MAX_TABLE_BYTES: usize = 1024 * 1024;

/// Reads at most [`MAX_TABLE_BYTES`] + 1 bytes, so neither a huge file nor
/// `/dev/zero` is read whole.
fn read_table(path: &Path) -> Result<String, OidcError> {
    use std::io::Read as _;
    let failed =
        |e: std::io::Error| OidcError::Config(format!("acr mapping table {}: {e}", path.display()));
    let mut bytes = Vec::new();
    std::fs::File::open(path)
        .map_err(failed)?
        .take(MAX_TABLE_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(failed)?;
    if bytes.len() > MAX_TABLE_BYTES {
        return Err(OidcError::FileTooLarge {
            what: "acr mapping table",
            path: path.to_owned(),
            max: MAX_TABLE_BYTES,
        });
    }
    String::from_utf8(bytes)
        .map_err(|_| OidcError::Config(format!("acr mapping table {}: not UTF-8", path.display())))
}

/// The mapping named by `CSP_ACR_MAPPING`: `ial` (any case, also the
/// default when empty) for [`NistIalMapping`], otherwise the path of a
/// [`TableMapping`] file.
pub fn acr_mapping_from_spec(spec: &str) -> Result<Arc<dyn AcrMapping>, OidcError> {
    let spec = spec.trim();
    if spec.is_empty() || spec.eq_ignore_ascii_case("ial") {
        return Ok(Arc::new(NistIalMapping));
    }
    Ok(Arc::new(TableMapping::from_path(Path::new(spec))?))
}
