//! The webhook signature, one scheme both ways (docs/flows.md, the `webhook` trigger):
//! `X-Kangdao-Signature: t=<unix seconds>,v1=<hex>`, where `v1` is
//! HMAC-SHA256(secret, `<t>.<raw body>`). Signing the time with the body is what lets a
//! receiver refuse an old request replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header both directions carry.
pub const HEADER: &str = "X-Kangdao-Signature";

/// A parsed signature header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// Unix seconds the sender signed at.
    pub t: i64,
    /// The MAC as sent (lower-case hex).
    pub v1: String,
}

fn mac(secret: &str, t: i64, body: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac
}

/// The header value for `body` signed with `secret` at `t`.
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let v1 = hex::encode(mac(secret, t, body).finalize().into_bytes());
    format!("t={t},v1={v1}")
}

impl Signature {
    /// Reads `t=…,v1=…` (in either order, spaces allowed); `None` for anything else.
    pub fn parse(header: &str) -> Option<Signature> {
        let (mut t, mut v1) = (None, None);
        for part in header.split(',') {
            let (key, value) = part.trim().split_once('=')?;
            match key.trim() {
                "t" => t = Some(value.trim().parse::<i64>().ok()?),
                "v1" => {
                    let hex = value.trim().to_ascii_lowercase();
                    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return None;
                    }
                    v1 = Some(hex);
                }
                // Later schemes may add fields; an unknown one is not a reason to refuse.
                _ => {}
            }
        }
        Some(Signature { t: t?, v1: v1? })
    }

    /// Whether `v1` is the MAC of `body` at `t` under `secret`, compared in constant time.
    pub fn verifies(&self, secret: &str, body: &[u8]) -> bool {
        let Ok(expected) = hex::decode(&self.v1) else {
            return false;
        };
        mac(secret, self.t, body).verify_slice(&expected).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a-secret-of-at-least-thirty-two-characters";

    #[test]
    fn a_signed_body_verifies_and_a_changed_one_does_not() {
        let header = sign(SECRET, 1_764_000_000, br#"{"mrn":"M001"}"#);
        let sig = Signature::parse(&header).expect("parses");
        assert_eq!(sig.t, 1_764_000_000);
        assert!(sig.verifies(SECRET, br#"{"mrn":"M001"}"#));
        assert!(!sig.verifies(SECRET, br#"{"mrn":"M002"}"#));
        assert!(!sig.verifies(
            "another-secret-of-thirty-two-characters",
            br#"{"mrn":"M001"}"#
        ));
        let moved = Signature {
            t: sig.t + 1,
            ..sig.clone()
        };
        assert!(
            !moved.verifies(SECRET, br#"{"mrn":"M001"}"#),
            "the time is signed"
        );
    }

    #[test]
    fn the_mac_is_hmac_sha256_over_time_dot_body() {
        // Independent of `sign`: the scheme as docs/flows.md states it.
        let mut m = HmacSha256::new_from_slice(b"k").unwrap();
        m.update(b"5.{}");
        let expected = hex::encode(m.finalize().into_bytes());
        assert_eq!(sign("k", 5, b"{}"), format!("t=5,v1={expected}"));
    }

    #[test]
    fn malformed_headers_do_not_parse() {
        for bad in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=0000000000000000000000000000000000000000000000000000000000000000",
            "t=1,v1=zz00000000000000000000000000000000000000000000000000000000000000",
            "t=1;v1=0000000000000000000000000000000000000000000000000000000000000000",
        ] {
            assert_eq!(Signature::parse(bad), None, "{bad:?}");
        }
        let ok = "v1=00000000000000000000000000000000000000000000000000000000000000AB, t=7";
        assert_eq!(Signature::parse(ok).map(|s| s.t), Some(7));
    }
}
