//! The JSON state of earlier versions is imported once.

use passport_status::{RecordRef, Status};
use passport_store::Store;
use serde_json::json;

use crate::common::{NOW, URI};

#[test]
fn the_keyring_and_status_file_are_imported_once() {
    let dir = tempfile::tempdir().unwrap();
    let keyring = dir.path().join("issuer-keys.json");
    let status = dir.path().join("status.json");
    let public = json!({"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", "kid": "k1", "alg": "EdDSA"});
    std::fs::write(
        &keyring,
        json!({"keys": [
            {"kid": "k0", "alg": "EdDSA", "public": public, "created": 1, "retired": null, "max_exp": NOW},
            {"kid": "k1", "alg": "EdDSA", "public": public, "created": 2, "retired": null, "max_exp": 0},
        ]})
        .to_string(),
    )
    .unwrap();
    std::fs::write(
        &status,
        json!({"version": 1, "uri": URI, "space": 65536, "records": [
            {"idx": 7, "jti": "a", "agent_id": "bot", "exp": NOW + 60, "status": "invalid", "changed_at": NOW},
            {"idx": 9, "jti": "b", "agent_id": "bot", "exp": NOW + 60, "status": "valid"},
        ]})
        .to_string(),
    )
    .unwrap();
    let store = Store::open(dir.path().join("state.db")).unwrap();
    let imported = store
        .import_legacy(&keyring, &status, Some("k1"), NOW)
        .unwrap();
    assert_eq!((imported.keys, imported.status_records), (2, 2));
    // The key left without a retirement time by the old race retires now.
    let k0 = store.key("k0").unwrap().unwrap();
    assert_eq!(k0.retired, Some(NOW));
    assert_eq!(store.current_key().unwrap().unwrap().kid, "k1");
    let a = store
        .status_record(URI, RecordRef::Jti("a"))
        .unwrap()
        .unwrap();
    assert_eq!((a.idx, a.status), (7, Status::Invalid));
    assert!(!keyring.exists() && dir.path().join("status.json.imported").exists());
    // A second run finds nothing to import.
    let again = store
        .import_legacy(&keyring, &status, Some("k1"), NOW)
        .unwrap();
    assert_eq!((again.keys, again.status_records), (0, 0));
}

#[test]
fn a_malformed_legacy_file_is_refused_and_kept() {
    let dir = tempfile::tempdir().unwrap();
    let status = dir.path().join("status.json");
    std::fs::write(&status, b"{\"version\": 2}").unwrap();
    let store = Store::open(dir.path().join("state.db")).unwrap();
    let err = store
        .import_legacy(&dir.path().join("none.json"), &status, None, NOW)
        .unwrap_err();
    assert_eq!(err.code(), "corrupt_legacy_state");
    assert!(status.exists());
}
