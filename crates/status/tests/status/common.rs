//! The status tests' fixture: the shared kit, plus an index allocator in a
//! temporary directory that the kit's issuer allocates from.

use std::ops::Deref;
use std::path::PathBuf;
use std::sync::Arc;

use passport_status::{IndexAllocator, StatusList, StatusListSource, StatusListToken};
use passport_testkit::{Kit, NOW, with};
use passport_verifier::{StatusSource, Verifier, VerifyError};
use serde_json::{Value, json};

pub(crate) const URI: &str = "https://issuer.local/status/1";
/// The kit issuer's status base: where its lists live.
pub(crate) const STATUS_BASE: &str = "https://issuer.local/status";
/// The issuer of [`Fixture::served`]: plain http on loopback, as its lists
/// are served by a plain-http test server on this machine (an https
/// issuer's lists are never fetched over plain http).
pub(crate) const LOOPBACK_ISS: &str = "http://127.0.0.1";

/// A [`Kit`] whose issuer allocates status indices for the list at a URI.
pub(crate) struct Fixture {
    kit: Kit,
    dir: tempfile::TempDir,
    pub(crate) allocator: Arc<IndexAllocator>,
}

impl Deref for Fixture {
    type Target = Kit;

    fn deref(&self) -> &Kit {
        &self.kit
    }
}

impl Fixture {
    pub(crate) fn new() -> Fixture {
        Fixture::with_uri(URI)
    }

    pub(crate) fn with_uri(uri: &str) -> Fixture {
        Fixture::with_kit(Kit::new(), uri)
    }

    /// A fixture whose issuer is [`LOOPBACK_ISS`], its list at `uri` on a
    /// plain-http server on this machine.
    pub(crate) fn served(uri: &str) -> Fixture {
        Fixture::with_kit(Kit::for_issuer(LOOPBACK_ISS), uri)
    }

    fn with_kit(mut kit: Kit, uri: &str) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let allocator = Arc::new(
            IndexAllocator::open(dir.path().join("status.json"), uri)
                .unwrap()
                .with_clock(kit.clock.clone()),
        );
        kit.issuer = kit.new_issuer().with_status(allocator.clone());
        Fixture {
            kit,
            dir,
            allocator,
        }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A list source trusting the kit's issuer with its lists under
    /// [`STATUS_BASE`], on the kit's clock.
    pub(crate) fn source(&self) -> StatusListSource {
        StatusListSource::new(self.key_store())
            .with_clock(self.clock.clone())
            .trust_issuer(passport_testkit::ISS, STATUS_BASE)
            .unwrap()
    }

    /// A verifier asking `source` about every link.
    pub(crate) fn verifier_using(&self, source: Arc<dyn StatusSource>) -> Verifier {
        self.verifier(self.policy()).with_status_source(source)
    }

    /// The allocator's current list, signed now, valid an hour, ttl 60 s.
    pub(crate) fn publish(&self) -> String {
        self.allocator
            .publish(&self.key, self.now(), 60, 3600)
            .unwrap()
    }

    /// Signs a list token with the fixture's key.
    pub(crate) fn sign_list(
        &self,
        uri: &str,
        list: &StatusList,
        iat: i64,
        exp: i64,
        ttl: u64,
    ) -> String {
        StatusListToken::sign(&self.key, uri, list, iat, exp, ttl).unwrap()
    }

    /// Signs arbitrary claims under a header of the key's `alg` and `kid`
    /// with `header` merged in (a `null` value removes).
    pub(crate) fn sign_claims(&self, header: Value, claims: Value) -> String {
        let base = json!({"alg": self.key.algorithm().as_str(), "kid": self.key.kid()});
        self.sign_raw(&with(base, header), &serde_json::to_vec(&claims).unwrap())
    }
}

/// Standard list claims with `changes` merged (a `null` value removes).
pub(crate) fn list_claims(uri: &str, lst: &str, bits: u64, changes: Value) -> Value {
    let claims = json!({
        "sub": uri, "iat": NOW, "exp": NOW + 3600, "ttl": 300,
        "status_list": {"bits": bits, "lst": lst},
    });
    with(claims, changes)
}

/// `lst` of raw bytes compressed with ZLIB.
pub(crate) fn zlib_lst(bytes: &[u8]) -> String {
    use std::io::Write as _;
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(bytes).unwrap();
    passport_jose::b64::encode(e.finish().unwrap())
}

/// The code of the status source's failure that refused `bundle`.
pub(crate) fn unavailable_code(verifier: &Verifier, bundle: &str) -> &'static str {
    let err = verifier.verify_str(bundle).unwrap_err();
    assert_eq!(err.code(), "status_unavailable", "{err}");
    match err.root_cause() {
        VerifyError::StatusUnavailable(s) => s.code,
        other => panic!("{other:?}"),
    }
}
