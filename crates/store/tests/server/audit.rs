//! The audit trail's tables: appends move the head in the same
//! transaction; every kind of tampering with the stored rows is found,
//! with the first bad seq — a truncated tail through the head row.

use std::sync::Arc;

use passport_audit::chain::{BreakKind, ChainBreak, ChainState};
use passport_audit::{Action, AuditRecord, LinkRef, Outcome};
use passport_store::server::{AuditAppend, Database};

use crate::common::{NOW, entry, on_both};
use passport_store::StoreError;

on_both!(
    appends_and_reads_back,
    an_append_off_the_head_is_refused,
    an_edited_record_is_found,
    an_edited_last_record_is_found_through_the_head,
    a_dropped_record_is_found,
    swapped_records_are_found,
    a_duplicated_record_is_found,
    a_truncated_tail_is_found_through_the_head,
    a_deleted_head_is_found,
    a_row_appended_without_the_head_is_found,
    passports_and_their_records_are_stored_together,
    the_newest_records_are_read_by_time_across_chains,
    an_export_stops_at_its_limit,
    a_filtered_export_counts_only_accepted_lines_over_pages,
);

const CHAIN: &str = "chain-a";

async fn append(db: &Database, chain: &mut ChainState, n: usize) {
    let mut records = Vec::new();
    let mut hash = String::new();
    for i in 0..n {
        let mut r = AuditRecord::new(NOW + i as i64, Action::Issue, Outcome::Done);
        r.links = vec![LinkRef {
            jti: format!("j{}", chain.head().seq + 1),
            agent_id: "bot".into(),
        }];
        let sealed = chain.seal(&r).unwrap();
        hash = sealed.hash;
        records.push(AuditAppend {
            seq: sealed.seq,
            at: r.time,
            line: String::from_utf8(sealed.line).unwrap(),
        });
    }
    db.append_audit(chain.chain(), records, &hash, NOW)
        .await
        .unwrap();
}

async fn six(db: &Database) {
    let mut chain = ChainState::new(CHAIN);
    append(db, &mut chain, 2).await;
    append(db, &mut chain, 4).await;
    let report = db.verify_audit().await.unwrap();
    assert!(report.ok(), "{report:?}");
}

async fn broken(db: &Database, script: &str) -> ChainBreak {
    six(db).await;
    db.execute_script_for_tests(script).await.unwrap();
    let report = db.verify_audit().await.unwrap();
    assert!(!report.ok(), "{report:?}");
    report.first_break().unwrap().clone()
}

async fn appends_and_reads_back(db: Arc<Database>) {
    six(&db).await;
    let mut other = ChainState::new("chain-b");
    append(&db, &mut other, 3).await;
    let heads = db.audit_heads().await.unwrap();
    assert_eq!(heads.len(), 2);
    assert_eq!((heads[0].chain_id.as_str(), heads[0].seq), (CHAIN, 6));
    assert_eq!((heads[1].chain_id.as_str(), heads[1].seq), ("chain-b", 3));
    let report = db.verify_audit().await.unwrap();
    assert!(report.ok());
    assert_eq!(
        report.chains.iter().map(|c| c.records).collect::<Vec<_>>(),
        [6, 3]
    );
    // pages, and the time filter
    let page = db.audit_page(None, NOW, NOW + 1, 100).await.unwrap();
    assert_eq!(page.len(), 6, "{page:?}");
    let page = db
        .audit_page(Some((CHAIN.into(), 5)), i64::MIN, i64::MAX, 100)
        .await
        .unwrap();
    assert_eq!(
        page.iter()
            .map(|r| (r.chain_id.as_str(), r.seq))
            .collect::<Vec<_>>(),
        [(CHAIN, 6), ("chain-b", 1), ("chain-b", 2), ("chain-b", 3)]
    );
    // the lines are stored verbatim
    let first = &db.audit_page(None, i64::MIN, i64::MAX, 1).await.unwrap()[0];
    let record: AuditRecord = serde_json::from_str(&first.line).unwrap();
    assert_eq!(record.seq, Some(1));
}

async fn an_append_off_the_head_is_refused(db: Arc<Database>) {
    six(&db).await;
    // a second writer on the chain, starting over from its genesis
    let mut fork = ChainState::new(CHAIN);
    let sealed = fork
        .seal(&AuditRecord::new(NOW, Action::Revoke, Outcome::Done))
        .unwrap();
    let err = db
        .append_audit(
            CHAIN,
            vec![AuditAppend {
                seq: sealed.seq,
                at: NOW,
                line: String::from_utf8(sealed.line).unwrap(),
            }],
            &sealed.hash,
            NOW,
        )
        .await
        .unwrap_err();
    assert!(
        ["store_failed", "postgres_failed"].contains(&err.code()),
        "{err}"
    );
    // nothing of it was stored
    let report = db.verify_audit().await.unwrap();
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.chains[0].records, 6);
}

async fn an_edited_record_is_found(db: Arc<Database>) {
    let b = broken(
        &db,
        "UPDATE audit_log SET line = replace(line, '\"j3\"', '\"jX\"') WHERE seq = 3",
    )
    .await;
    assert_eq!((b.kind, b.seq), (BreakKind::Edited, 3));
}

async fn an_edited_last_record_is_found_through_the_head(db: Arc<Database>) {
    let b = broken(
        &db,
        "UPDATE audit_log SET line = replace(line, '\"j6\"', '\"jX\"') WHERE seq = 6",
    )
    .await;
    assert_eq!((b.kind, b.seq), (BreakKind::Edited, 6));
}

async fn a_dropped_record_is_found(db: Arc<Database>) {
    let b = broken(&db, "DELETE FROM audit_log WHERE seq = 4").await;
    assert_eq!((b.kind, b.seq), (BreakKind::Gap, 4));
}

async fn swapped_records_are_found(db: Arc<Database>) {
    let b = broken(
        &db,
        "UPDATE audit_log SET seq = -seq WHERE seq IN (2, 3); \
         UPDATE audit_log SET seq = CASE seq WHEN -2 THEN 3 ELSE 2 END WHERE seq < 0",
    )
    .await;
    assert_eq!((b.kind, b.seq), (BreakKind::Reordered, 2));
}

async fn a_duplicated_record_is_found(db: Arc<Database>) {
    let b = broken(
        &db,
        "UPDATE audit_log SET seq = seq + 1000 WHERE seq >= 4; \
         UPDATE audit_log SET seq = seq - 999 WHERE seq >= 1000; \
         INSERT INTO audit_log (chain_id, seq, at, line) \
           SELECT chain_id, 4, at, line FROM audit_log WHERE seq = 3",
    )
    .await;
    assert_eq!((b.kind, b.seq), (BreakKind::Duplicated, 3));
}

async fn a_truncated_tail_is_found_through_the_head(db: Arc<Database>) {
    let b = broken(&db, "DELETE FROM audit_log WHERE seq > 4").await;
    assert_eq!((b.kind, b.seq), (BreakKind::Truncated, 5));
    // the whole chain gone: truncated from seq 1
    let b2 = {
        db.execute_script_for_tests("DELETE FROM audit_log")
            .await
            .unwrap();
        db.verify_audit()
            .await
            .unwrap()
            .first_break()
            .unwrap()
            .clone()
    };
    assert_eq!((b2.kind, b2.seq), (BreakKind::Truncated, 1));
}

async fn a_deleted_head_is_found(db: Arc<Database>) {
    let b = broken(&db, "DELETE FROM audit_heads").await;
    assert_eq!((b.kind, b.seq), (BreakKind::NoHead, 6));
}

async fn a_row_appended_without_the_head_is_found(db: Arc<Database>) {
    let b = broken(
        &db,
        "INSERT INTO audit_log (chain_id, seq, at, line) \
           SELECT chain_id, 7, at, line FROM audit_log WHERE seq = 6",
    )
    .await;
    assert_eq!((b.kind, b.seq), (BreakKind::Inserted, 7));
}

/// `record_issued_audited`: the passports the registry takes and the
/// records sealed for them are stored in one transaction; a refused
/// passport is told to the sealer and stores nothing; a sealing error
/// stores nothing at all.
async fn passports_and_their_records_are_stored_together(db: Arc<Database>) {
    db.record_issued(entry("gone", None)).await.unwrap();
    db.revoke_cascade("gone", NOW).await.unwrap();
    let mut chain = ChainState::new(CHAIN);
    let seal = {
        let mut chain = chain.clone();
        move |recorded: &[bool]| {
            // root, a child of a revoked parent, a duplicate of root
            assert_eq!(recorded, [true, false, false]);
            let r = AuditRecord::new(NOW, Action::Issue, Outcome::Done);
            let sealed = chain.seal(&r).unwrap();
            let append = AuditAppend {
                seq: sealed.seq,
                at: NOW,
                line: String::from_utf8(sealed.line).unwrap(),
            };
            Ok((vec![append], sealed.hash))
        }
    };
    let results = db
        .record_issued_audited(
            CHAIN,
            vec![
                entry("root", None),
                entry("kid", Some("gone")),
                entry("root", None),
            ],
            seal,
            NOW,
        )
        .await
        .unwrap();
    assert!(results[0].is_ok());
    assert!(
        matches!(results[1], Err(StoreError::ParentRevoked(_))),
        "{results:?}"
    );
    assert!(
        matches!(results[2], Err(StoreError::DuplicatePassport(_))),
        "{results:?}"
    );
    assert!(db.passport("root").await.unwrap().is_some());
    assert!(db.passport("kid").await.unwrap().is_none());
    chain
        .seal(&AuditRecord::new(NOW, Action::Issue, Outcome::Done))
        .unwrap();
    let heads = db.audit_heads().await.unwrap();
    assert_eq!((heads[0].seq, &heads[0].hash), (1, &chain.head().hash));

    // the sealer fails: neither the passport nor any record is stored
    let err = db
        .record_issued_audited(
            CHAIN,
            vec![entry("later", None)],
            |_: &[bool]| Err(StoreError::Corrupt("not sealed".into())),
            NOW,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err}");
    assert!(db.passport("later").await.unwrap().is_none());
    assert_eq!(db.audit_heads().await.unwrap()[0].seq, 1);
    assert!(db.verify_audit().await.unwrap().ok());
}

/// The live view's read: the newest by time whatever the chains (a chain
/// id sorting first, with old records, does not push newer ones out).
async fn the_newest_records_are_read_by_time_across_chains(db: Arc<Database>) {
    // chain "a…" holds NOW..NOW+2, chain "z…" NOW..NOW+4
    append(&db, &mut ChainState::new("a-old"), 3).await;
    append(&db, &mut ChainState::new("z-new"), 5).await;
    let newest = db.newest_audit(3).await.unwrap();
    let got: Vec<(String, u64, i64)> = newest
        .iter()
        .map(|r| (r.chain_id.clone(), r.seq, r.at))
        .collect();
    assert_eq!(
        got,
        [
            ("z-new".to_owned(), 5, NOW + 4),
            ("z-new".to_owned(), 4, NOW + 3),
            ("z-new".to_owned(), 3, NOW + 2),
        ]
    );
    assert_eq!(db.newest_audit(100).await.unwrap().len(), 8);
    assert!(db.newest_audit(0).await.unwrap().is_empty());
}

async fn an_export_stops_at_its_limit(db: Arc<Database>) {
    let mut chain = ChainState::new(CHAIN);
    append(&db, &mut chain, 2_100).await;
    let filter = passport_audit::Filter::default();
    let all = db.export_audit(&filter, usize::MAX).await.unwrap();
    assert_eq!(all.len(), 2_100);
    // The first lines, in order, however the pages (of 1,000) fall.
    for limit in [1, 3, 999, 1_000, 1_001, 2_000, 2_099, 2_100, 2_101] {
        let some = db.export_audit(&filter, limit).await.unwrap();
        assert_eq!(some, all[..limit.min(2_100)], "limit {limit}");
    }
    assert!(db.export_audit(&filter, 0).await.unwrap().is_empty());
}

/// The limit counts the lines the filter accepts, not the rows read: a
/// filter that skips two rows in three, over two chains and several pages,
/// exports what `each_audit_row` filtered by hand gives, in order.
async fn a_filtered_export_counts_only_accepted_lines_over_pages(db: Arc<Database>) {
    for (name, n) in [("chain-a", 2_345usize), ("chain-b", 1_234)] {
        let mut chain = ChainState::new(name);
        let mut records = Vec::new();
        let mut hash = String::new();
        for i in 0..n {
            let mut r = AuditRecord::new(NOW + i as i64, Action::Issue, Outcome::Done);
            r.links = vec![LinkRef {
                jti: format!("j{i}"),
                agent_id: if i % 3 == 0 {
                    "bot".into()
                } else {
                    "other".into()
                },
            }];
            let sealed = chain.seal(&r).unwrap();
            hash = sealed.hash;
            records.push(AuditAppend {
                seq: sealed.seq,
                at: r.time,
                line: String::from_utf8(sealed.line).unwrap(),
            });
        }
        db.append_audit(chain.chain(), records, &hash, NOW)
            .await
            .unwrap();
    }
    let filter = passport_audit::Filter {
        agent: Some("bot".into()),
        since: Some(NOW + 5),
        ..passport_audit::Filter::default()
    };
    let mut expected = Vec::new();
    db.each_audit_row(NOW + 5, i64::MAX, |row| {
        if serde_json::from_str::<AuditRecord>(&row.line).is_ok_and(|r| filter.accepts(&r)) {
            expected.push(row.line);
        }
    })
    .await
    .unwrap();
    assert!(expected.len() > 1_000, "{}", expected.len());
    let all = db.export_audit(&filter, usize::MAX).await.unwrap();
    assert_eq!(all, expected);
    for limit in [
        0,
        1,
        332,
        333,
        334,
        666,
        667,
        999,
        1_000,
        1_001,
        expected.len() - 1,
        expected.len(),
        expected.len() + 1,
    ] {
        let some = db.export_audit(&filter, limit).await.unwrap();
        assert_eq!(some, expected[..limit.min(expected.len())], "limit {limit}");
    }
    let mut streamed = Vec::new();
    db.each_exported_line(&filter, |l| {
        streamed.push(l);
        std::ops::ControlFlow::Continue(())
    })
    .await
    .unwrap();
    assert_eq!(streamed, expected);
}
