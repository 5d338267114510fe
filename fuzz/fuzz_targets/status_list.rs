//! Token Status Lists (draft-ietf-oauth-status-list): the list encoding and
//! the signed token.
//!
//! The first byte is a mode. Mode 0: the rest is a token, verified as the
//! kit issuer's list for `LIST_URI` at `passport_testkit::NOW`. Mode 1: the
//! rest is a claims payload, signed by the kit's key under a
//! `statuslist+jwt` header, then verified likewise. Mode 2: the second byte
//! is `bits`, the rest `lst`, for `StatusList::decode`.
//!
//! Properties: a decoded list encodes and decodes back to itself, with the
//! same bits and length; an accepted token is for `LIST_URI`, unexpired,
//! and its list re-signed by `StatusListToken::sign` verifies to the same
//! list (accepted implies re-verifiable); a list never inflates past the
//! cap; every refusal has a documented code.
#![no_main]

use libfuzzer_sys::fuzz_target;
use passport_fuzz::{assert_documented, kit};
use passport_status::{ListExpectations, StatusList, StatusListToken};
use passport_testkit::{ISS, NOW};
use serde_json::json;

const LIST_URI: &str = "https://issuer.local/status/1";
/// Small, so a "zip bomb" input costs little.
const MAX_DECOMPRESSED: usize = 64 * 1024;

fn round_trip(list: &StatusList) {
    let (bits, lst) = list.encode().expect("a list encodes");
    assert_eq!(bits, list.bits());
    let back = StatusList::decode(u64::from(bits), &lst, MAX_DECOMPRESSED)
        .expect("an encoded list decodes");
    assert!(back == *list, "encode/decode changed the list");
    assert_eq!(back.len(), list.len());
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let kit = kit();
    let expect = ListExpectations::new(ISS, LIST_URI, NOW).max_decompressed(MAX_DECOMPRESSED);
    let token = match mode % 3 {
        0 => String::from_utf8_lossy(rest).into_owned(),
        1 => kit.sign_raw(&kit.header(json!({"typ": "statuslist+jwt"})), rest),
        _ => {
            let Some((&bits, lst)) = rest.split_first() else {
                return;
            };
            match StatusList::decode(
                u64::from(bits),
                &String::from_utf8_lossy(lst),
                MAX_DECOMPRESSED,
            ) {
                Ok(list) => {
                    assert!(list.as_bytes().len() <= MAX_DECOMPRESSED);
                    round_trip(&list);
                }
                Err(e) => assert_documented(e.code()),
            }
            return;
        }
    };
    let verified = match StatusListToken::verify(&token, kit.keys.as_ref(), &expect) {
        Ok(verified) => verified,
        Err(e) => return assert_documented(e.code()),
    };
    assert_eq!(verified.uri, LIST_URI);
    assert_eq!(verified.issuer, ISS);
    assert!(verified.exp > verified.iat);
    assert!(verified.list.as_bytes().len() <= MAX_DECOMPRESSED);
    round_trip(&verified.list);
    let resigned = StatusListToken::sign(
        &kit.key,
        LIST_URI,
        &verified.list,
        verified.iat,
        verified.exp,
        verified.ttl.unwrap_or(0),
    )
    .expect("an accepted list re-signs");
    let again = StatusListToken::verify(&resigned, kit.keys.as_ref(), &expect)
        .expect("a re-signed accepted list verifies");
    assert!(again.list == verified.list);
    assert_eq!((again.iat, again.exp), (verified.iat, verified.exp));
});
