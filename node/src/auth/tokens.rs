//! API token secrets: generated at random, known to the node only as SHA-256 hashes (the
//! stored record is [`crate::model::TokenRecord`]; its keys are in `store::auth`).

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefix of every token, so leaked tokens are recognisable (e.g. by secret scanners).
pub const TOKEN_PREFIX: &str = "mmt_";

/// A new random token (256 bits) and its hash.
pub fn generate() -> (String, [u8; 32]) {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let token = format!("{TOKEN_PREFIX}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b));
    let h = hash(&token);
    (token, h)
}

pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
