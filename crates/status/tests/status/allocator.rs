//! The index allocator: never the same index twice, across restarts,
//! threads and allocators sharing one file; statuses kept and published.

use std::collections::HashSet;
use std::sync::Arc;

use passport_status::{INITIAL_INDEX_SPACE, IndexAllocator, Status, StatusList};
use proptest::prelude::*;

const URI: &str = "https://issuer.local/status/1";

fn indices(allocator: &IndexAllocator) -> Vec<u64> {
    allocator.records().unwrap().iter().map(|r| r.idx).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    /// Allocate in several "sessions", each a fresh allocator reloading the
    /// file (a restart): every index is distinct, none is ever handed out
    /// again, and the file remembers them all.
    #[test]
    fn indices_never_repeat_across_restarts(sessions in proptest::collection::vec(1usize..40, 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("status.json");
        let mut seen = HashSet::new();
        let mut n = 0;
        for (s, count) in sessions.iter().enumerate() {
            // A tiny space so that it doubles several times along the way.
            let allocator = IndexAllocator::open_with_space(&path, URI, 4).unwrap();
            for i in 0..*count {
                let record = allocator
                    .allocate_record(&format!("jti-{s}-{i}"), "agent", 1_700_000_000)
                    .unwrap();
                prop_assert_eq!(allocator.uri(), URI);
                prop_assert!(seen.insert(record.idx), "index {} handed out twice", record.idx);
                n += 1;
            }
            let space = allocator.space().unwrap();
            prop_assert!(space.is_power_of_two() && (n as u64) * 2 <= space);
            prop_assert!(seen.iter().all(|i| *i < space));
        }
        let reloaded = IndexAllocator::open(&path, URI).unwrap();
        let stored: HashSet<u64> = indices(&reloaded).into_iter().collect();
        prop_assert_eq!(stored, seen);
    }
}

#[test]
fn concurrent_allocators_on_one_file_never_share_an_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("status.json");
    let shared = Arc::new(IndexAllocator::open_with_space(&path, URI, 8).unwrap());
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let path = path.clone();
            let shared = shared.clone();
            std::thread::spawn(move || {
                // Half the threads share one allocator, half open their own
                // (like separate processes: only the file lock protects them).
                let own = IndexAllocator::open_with_space(&path, URI, 8).unwrap();
                let allocator = if t % 2 == 0 { &*shared } else { &own };
                (0..25)
                    .map(|i| {
                        allocator
                            .allocate_record(&format!("jti-{t}-{i}"), "agent", 0)
                            .unwrap()
                            .idx
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in threads {
        all.extend(t.join().unwrap());
    }
    let distinct: HashSet<u64> = all.iter().copied().collect();
    assert_eq!(distinct.len(), 150, "an index was handed out twice");
    let stored: HashSet<u64> = indices(&shared).into_iter().collect();
    assert_eq!(stored, distinct, "an allocation was lost");
}

#[test]
fn indices_are_spread_over_the_space_not_sequential() {
    let dir = tempfile::tempdir().unwrap();
    let allocator = IndexAllocator::open(dir.path().join("s.json"), URI).unwrap();
    let idx: Vec<u64> = (0..32)
        .map(|i| {
            allocator
                .allocate_record(&format!("j{i}"), "a", 0)
                .unwrap()
                .idx
        })
        .collect();
    assert_eq!(allocator.space().unwrap(), INITIAL_INDEX_SPACE);
    let sequential = idx.windows(2).filter(|w| w[1] == w[0] + 1).count();
    assert!(sequential < 4, "{idx:?}");
    assert!(idx.iter().any(|i| *i > INITIAL_INDEX_SPACE / 2), "{idx:?}");
}

#[test]
fn statuses_are_kept_looked_up_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let allocator = IndexAllocator::open(&path, URI).unwrap();
    let a = allocator.allocate_record("jti-a", "agent-a", 100).unwrap();
    let b = allocator.allocate_record("jti-b", "agent-b", 200).unwrap();
    let c = allocator.allocate_record("jti-c", "agent-c", 300).unwrap();
    assert_eq!(a.status, Status::Valid);

    allocator.set_status("jti-a", Status::Invalid).unwrap();
    allocator.set_status(b.idx, Status::Suspended).unwrap();
    assert_eq!(
        allocator
            .set_status("nope", Status::Invalid)
            .unwrap_err()
            .code(),
        "unknown_passport"
    );
    assert_eq!(
        allocator
            .set_status(u64::MAX, Status::Invalid)
            .unwrap_err()
            .code(),
        "unknown_passport"
    );
    assert_eq!(
        allocator
            .allocate_record("jti-a", "x", 0)
            .unwrap_err()
            .code(),
        "invalid_status_list_claims"
    );

    // Another handle (another process) sees the same state.
    let other = IndexAllocator::open(&path, URI).unwrap();
    let revoked = other.revoked().unwrap();
    assert_eq!(
        revoked
            .iter()
            .map(|r| (r.jti.as_str(), r.status))
            .collect::<Vec<_>>(),
        [("jti-a", Status::Invalid), ("jti-b", Status::Suspended)]
    );
    assert_eq!(other.lookup_jti("jti-c").unwrap().unwrap().exp, 300);
    assert_eq!(
        other.lookup_idx(b.idx).unwrap().unwrap().agent_id,
        "agent-b"
    );
    assert!(other.lookup_jti("nope").unwrap().is_none());

    let list = other.status_list().unwrap();
    assert_eq!((list.bits(), list.len()), (2, INITIAL_INDEX_SPACE));
    assert_eq!(list.get(a.idx).unwrap(), 1);
    assert_eq!(list.get(b.idx).unwrap(), 2);
    assert_eq!(list.get(c.idx).unwrap(), 0);
    let (bits, lst) = list.encode().unwrap();
    assert_eq!(
        StatusList::decode(bits.into(), &lst, 1 << 20).unwrap(),
        list
    );
}

#[cfg(unix)]
#[test]
fn the_state_file_is_private_and_written_atomically() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    let allocator = IndexAllocator::open(&path, URI).unwrap();
    allocator.allocate_record("j", "a", 0).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Only the state file and its lock file remain: no temporary files.
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["s.json", "s.json.lock"]);
}

#[test]
fn a_corrupt_or_foreign_state_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    IndexAllocator::open(&path, URI)
        .unwrap()
        .allocate_record("j", "a", 0)
        .unwrap();
    assert_eq!(
        IndexAllocator::open(&path, "https://issuer.local/status/2")
            .unwrap_err()
            .code(),
        "corrupt_state"
    );
    let good = std::fs::read_to_string(&path).unwrap();
    let record = r#"{"idx":5,"jti":"k","agent_id":"a","exp":0,"status":"valid"}"#;
    for bad in [
        String::new(),
        "[]".to_owned(),
        good.replace("\"version\":1", "\"version\":2"),
        good.replace("\"space\":65536", "\"space\":65535"),
        good.replace("\"records\":[", &format!("\"records\":[{record},{record},")),
        good.replace("\"records\":[", "\"records\":[{\"idx\":70000,\"jti\":\"k\",\"agent_id\":\"a\",\"exp\":0,\"status\":\"valid\"},"),
        good.replace("\"status\":\"valid\"", "\"status\":\"revoked\""),
        good.replace("\"uri\"", "\"extra\":1,\"uri\""),
        good.replace("\"uri\"", "\"space\":4,\"uri\""),
    ] {
        std::fs::write(&path, &bad).unwrap();
        let err = IndexAllocator::open(&path, URI).unwrap_err();
        assert_eq!(err.code(), "corrupt_state", "{bad}");
    }
}

#[test]
fn the_space_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    assert_eq!(
        IndexAllocator::open_with_space(&path, URI, 3)
            .unwrap_err()
            .code(),
        "corrupt_state"
    );
    assert_eq!(
        IndexAllocator::open_with_space(&path, URI, 1 << 27)
            .unwrap_err()
            .code(),
        "corrupt_state"
    );
}
