//! Paging tokens of `/clients/{client_id}/orders`: opaque and tamper-evident.
//!
//! A token is the last order line of a page (`order_id`, `product_id`) and a tag that binds
//! it to the query it came from (client, `status` and `channel` filters), as
//! `base64url(version ‖ order_id ‖ product_id ‖ tag)` without padding: 1 + 8 + 8 + 16 bytes,
//! 44 characters. The tag is HMAC-SHA-256 (truncated to 128 bits) keyed by a secret
//! ([`TokenKey`]), so a token that was edited, forged without the key, or replayed against
//! other filters is refused (400), and the API never trusts a key it did not hand out.
//! The page size may change from one page to the next.
//!
//! The key is the same on every instance of the API (tokens survive cold starts and
//! cross instances): `DUFF_PAGING_SECRET` when set, else derived from the lake URI (then a
//! token is tamper-evident against clients that do not know the deployment, which suffices
//! for a paging cursor: it grants nothing the caller could not ask for directly).

use crate::catalog::PageKey;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use duff_core::{Channel, Status};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const TOKEN_LEN: usize = 1 + 8 + 8 + TAG_LEN;

/// The secret that signs paging tokens.
#[derive(Clone)]
pub struct TokenKey(Vec<u8>);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey(..)")
    }
}

/// What a token is bound to: the query that produced the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenScope {
    /// The client.
    pub client_id: i64,
    /// The `status` filter.
    pub status: Option<Status>,
    /// The `channel` filter.
    pub channel: Option<Channel>,
}

impl TokenKey {
    /// A key from secret bytes (any length).
    pub fn new(secret: impl AsRef<[u8]>) -> TokenKey {
        TokenKey(secret.as_ref().to_vec())
    }

    /// The key derived from the lake's location, used when no secret is configured.
    pub fn for_lake(lake_uri: &str) -> TokenKey {
        TokenKey::new(format!("duff-etl paging token v1 {lake_uri}"))
    }

    /// An HMAC keyed by this key (the ingestion routes' tokens, `ingestions.rs`).
    pub(crate) fn mac(&self) -> Option<Hmac<Sha256>> {
        <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).ok()
    }

    fn tag(&self, scope: &TokenScope, key: PageKey) -> Option<Hmac<Sha256>> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.0).ok()?;
        mac.update(b"duff-page\0");
        mac.update(&[VERSION]);
        mac.update(&scope.client_id.to_be_bytes());
        mac.update(scope.status.map_or("", Status::as_str).as_bytes());
        mac.update(b"\0");
        mac.update(scope.channel.map_or("", Channel::as_str).as_bytes());
        mac.update(b"\0");
        mac.update(&key.order_id.to_be_bytes());
        mac.update(&key.product_id.to_be_bytes());
        Some(mac)
    }

    /// The token of the page that ends at `key`.
    pub fn seal(&self, scope: &TokenScope, key: PageKey) -> String {
        let mut bytes = Vec::with_capacity(TOKEN_LEN);
        bytes.push(VERSION);
        bytes.extend_from_slice(&key.order_id.to_be_bytes());
        bytes.extend_from_slice(&key.product_id.to_be_bytes());
        if let Some(mac) = self.tag(scope, key) {
            bytes.extend_from_slice(&mac.finalize().into_bytes()[..TAG_LEN]);
        }
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The key in `token`, when the token was sealed by this key for `scope`.
    pub fn open(&self, scope: &TokenScope, token: &str) -> Option<PageKey> {
        if token.len() > 64 {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        if bytes.len() != TOKEN_LEN || bytes[0] != VERSION {
            return None;
        }
        let order_id = i64::from_be_bytes(bytes[1..9].try_into().ok()?);
        let product_id = i64::from_be_bytes(bytes[9..17].try_into().ok()?);
        let key = PageKey { order_id, product_id };
        // Constant-time comparison of the tag.
        self.tag(scope, key)?.verify_truncated_left(&bytes[17..]).ok()?;
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCOPE: TokenScope = TokenScope { client_id: 1001, status: None, channel: Some(Channel::B2B) };

    #[test]
    fn round_trips_and_refuses_tampering() {
        let k = TokenKey::new("secret");
        let key = PageKey { order_id: 5678, product_id: 102 };
        let t = k.seal(&SCOPE, key);
        assert_eq!(t.len(), 44);
        assert_eq!(k.open(&SCOPE, &t), Some(key));
        // Another key, another scope, an edited token, garbage: refused.
        assert_eq!(TokenKey::new("other").open(&SCOPE, &t), None);
        assert_eq!(k.open(&TokenScope { client_id: 1002, ..SCOPE }, &t), None);
        assert_eq!(k.open(&TokenScope { status: Some(Status::Created), ..SCOPE }, &t), None);
        let mut raw = URL_SAFE_NO_PAD.decode(&t).unwrap();
        raw[8] ^= 1;
        assert_eq!(k.open(&SCOPE, &URL_SAFE_NO_PAD.encode(&raw)), None);
        assert_eq!(k.open(&SCOPE, ""), None);
        assert_eq!(k.open(&SCOPE, "not base64!"), None);
        assert_eq!(k.open(&SCOPE, &"A".repeat(10_000)), None);
    }
}
