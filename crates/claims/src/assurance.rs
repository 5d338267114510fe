//! NIST SP 800-63-3 assurance levels.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One NIST SP 800-63-3 level: 1, 2 or 3. Nothing else can be constructed or
/// decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub struct Level(u8);

impl Level {
    /// Level 1.
    pub const ONE: Level = Level(1);
    /// Level 2.
    pub const TWO: Level = Level(2);
    /// Level 3.
    pub const THREE: Level = Level(3);

    /// `Some` for 1, 2 and 3.
    ///
    /// ```
    /// use passport_claims::Level;
    /// assert_eq!(Level::new(2), Some(Level::TWO));
    /// assert_eq!(Level::new(0), None);
    /// assert_eq!(Level::new(4), None);
    /// ```
    pub const fn new(n: u8) -> Option<Level> {
        match n {
            1..=3 => Some(Level(n)),
            _ => None,
        }
    }

    /// The number.
    pub const fn get(self) -> u8 {
        self.0
    }
}

impl TryFrom<u8> for Level {
    type Error = String;
    fn try_from(n: u8) -> Result<Level, String> {
        Level::new(n).ok_or_else(|| format!("assurance level {n} is outside 1–3"))
    }
}

impl From<Level> for u8 {
    fn from(level: Level) -> u8 {
        level.0
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The identity (IAL), authenticator (AAL) and federation (FAL) assurance of
/// a principal. Each is optional: an OIDC provider's `acr` is itself optional.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct Assurance {
    /// Identity assurance level.
    pub ial: Option<Level>,
    /// Authenticator assurance level.
    pub aal: Option<Level>,
    /// Federation assurance level.
    pub fal: Option<Level>,
}

impl Assurance {
    /// All three at `level`.
    pub const fn uniform(level: Level) -> Assurance {
        Assurance {
            ial: Some(level),
            aal: Some(level),
            fal: Some(level),
        }
    }

    /// No level asserted.
    pub const fn none() -> Assurance {
        Assurance {
            ial: None,
            aal: None,
            fal: None,
        }
    }
}

impl fmt::Display for Assurance {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |l: Option<Level>| l.map_or_else(|| "-".to_owned(), |l| l.to_string());
        write!(
            f,
            "IAL{} AAL{} FAL{}",
            show(self.ial),
            show(self.aal),
            show(self.fal)
        )
    }
}
