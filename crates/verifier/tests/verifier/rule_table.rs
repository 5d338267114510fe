//! Rules of the crate docs' table that no other module proves.

use passport_testkit::{AUD, ISS, Kit, alice, delegation, issuance};
use passport_verifier::{VerificationPolicy, VerifyError};

const ORCHESTRATOR: &str = "https://orchestrator.example";

/// SPEC §5 item 5: `aud` is the leaf's business. A root minted for an
/// orchestrator, delegated to a tool (the kit's `AUD`), verifies at the
/// tool; the same bundle is refused at the orchestrator, and so is the
/// orchestrator's own root at the tool.
#[test]
fn audience_is_the_leafs_and_an_ancestors_names_whom_it_delegated_to() {
    let kit = Kit::new();
    let root = kit.issue(issuance(
        alice(),
        ORCHESTRATOR,
        "agent-a",
        "model-a",
        &["files:*"],
    ));
    let at_orchestrator = kit.verifier(VerificationPolicy::new(ISS, ORCHESTRATOR));
    let parent = at_orchestrator.verify_str(root.bundle()).unwrap();
    let child = kit
        .issuer
        .delegate(delegation(
            &parent,
            AUD,
            "agent-b",
            "model-b",
            &["files:read"],
        ))
        .unwrap();

    let verified = kit.verify(child.bundle()).unwrap();
    assert_eq!(verified.root().aud, ORCHESTRATOR);

    let err = at_orchestrator.verify_str(child.bundle()).unwrap_err();
    assert_eq!(err.code(), "audience_mismatch");
    assert_eq!(err.link(), 0);
    assert!(matches!(
        err,
        VerifyError::AudienceMismatch { expected, found } if expected == ORCHESTRATOR && found == AUD
    ));

    let err = kit.verify(root.bundle()).unwrap_err();
    assert!(
        matches!(&err, VerifyError::AudienceMismatch { found, .. } if found == ORCHESTRATOR),
        "{err:?}"
    );
}

/// The crate docs' rule table stays true: every code it names is a code in
/// `docs/error-codes.md`, and every test it cites exists.
#[test]
fn the_crate_docs_rule_table_names_real_codes_and_real_tests() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let docs = std::fs::read_to_string(root.join("crates/verifier/src/lib.rs")).unwrap();
    let codes = std::fs::read_to_string(root.join("docs/error-codes.md")).unwrap();
    let mut tests = String::new();
    let mut dirs = vec![root.join("crates")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                tests.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut rows = 0;
    for line in docs.lines().filter_map(|l| l.strip_prefix("//! | ")) {
        let cells: Vec<&str> = line.split(" | ").collect();
        if cells.len() < 4 || cells[0] == "§" {
            continue;
        }
        rows += 1;
        for code in ticked(cells[2]) {
            assert!(
                codes.contains(&format!("`{code}`")),
                "the table's code {code:?} is not in docs/error-codes.md"
            );
        }
        let cited = ticked(cells[3]);
        assert!(!cited.is_empty(), "row {line:?} cites no test");
        for test in cited {
            assert!(
                tests.contains(&format!("fn {test}(")),
                "the table cites a test that does not exist: {test}"
            );
        }
    }
    assert!(
        rows >= 40,
        "only {rows} rows read: has the table's layout changed?"
    );
}
