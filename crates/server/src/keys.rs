//! The server's signing keys: generated on the first start and kept in the
//! database (so every instance on one database signs with the same key and
//! publishes the same set), published as the JWKS.

use passport_jose::{Algorithm, SigningKey, VerifyingKey};
use passport_store::StoreError;
use passport_store::server::{Database, KeyMaterial, KeyState, NewSigningKey, SigningKeyRecord};
use serde_json::{Value, json};

use crate::service::ServerError;

/// The key the server signs with, creating it on the first start: an
/// Ed25519 key added as `next` and promoted at once (nothing was signed
/// before it, so there is no overlap to wait for). An instance that loses
/// the race to create it reads the winner's.
pub(crate) async fn current_key(db: &Database, now: i64) -> Result<SigningKey, ServerError> {
    for _ in 0..3 {
        let keys = db.signing_keys().await?;
        if let Some(current) = keys.iter().rev().find(|k| k.state == KeyState::Current) {
            return parse(current);
        }
        if !keys.iter().any(|k| k.state == KeyState::Next) {
            let key = SigningKey::generate(Algorithm::EdDSA)?;
            let added = db
                .add_next_key(NewSigningKey {
                    kid: key.kid().to_owned(),
                    alg: key.algorithm().as_str().to_owned(),
                    private_key: KeyMaterial::new(key.private_jwk_json()?),
                    not_before: now,
                    created_at: now,
                })
                .await;
            match added {
                Ok(()) | Err(StoreError::DuplicateKey(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        match db.promote_next_key(now).await {
            Ok(record) => return parse(&record),
            // another instance promoted it first: read again
            Err(StoreError::NoNextKey) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(ServerError::NoSigningKey)
}

fn parse(record: &SigningKeyRecord) -> Result<SigningKey, ServerError> {
    Ok(SigningKey::from_jwk_json(
        record.private_key.expose().as_bytes(),
    )?)
}

/// Every key a verifier may need at `now`: the next key (published before
/// it signs), the current one, and retired keys until the last passport
/// they signed expires (`max_exp`).
pub(crate) async fn published(db: &Database, now: i64) -> Result<Vec<VerifyingKey>, ServerError> {
    db.signing_keys()
        .await?
        .iter()
        .filter(|k| k.is_published(now))
        .map(|k| Ok(parse(k)?.verifying_key()))
        .collect()
}

/// The RFC 7517 JWK Set of `keys`, each marked `use: sig`.
pub(crate) fn jwks(keys: &[VerifyingKey]) -> Value {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut jwk = k.jwk().clone();
            jwk.insert("use".into(), json!("sig"));
            Value::Object(jwk)
        })
        .collect();
    json!({ "keys": keys })
}
