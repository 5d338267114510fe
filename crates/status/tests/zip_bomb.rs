//! A "zip bomb" list: 64 MiB of zeros compressed to about 64 KiB must be
//! refused under a small cap without ever holding the 64 MiB. Alone in its
//! own test binary so the process's peak memory is this test's.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::Write as _;

use passport_jose::b64;
use passport_status::StatusList;

/// The process's peak resident set ("high water mark"), in KiB, on Linux.
fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn a_64_mib_bomb_is_refused_without_allocating_it() {
    // Built by streaming, so making the bomb never holds 64 MiB either.
    let chunk = vec![0u8; 1 << 20];
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    for _ in 0..64 {
        encoder.write_all(&chunk).unwrap();
    }
    let compressed = encoder.finish().unwrap();
    drop(chunk);
    assert!(compressed.len() < 512 * 1024, "{}", compressed.len());
    let lst = b64::encode(&compressed);

    let before = peak_rss_kib();
    let started = std::time::Instant::now();
    let err = StatusList::decode(1, &lst, 1 << 20).unwrap_err();
    assert_eq!(err.code(), "list_too_large");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    if let (Some(before), Some(after)) = (before, peak_rss_kib()) {
        // The cap is 1 MiB; inflating the whole bomb would add 64 MiB.
        assert!(
            after.saturating_sub(before) < 8 * 1024,
            "peak RSS grew from {before} KiB to {after} KiB"
        );
    }
}
