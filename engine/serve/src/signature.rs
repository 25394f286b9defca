//! Signatures of thinking blocks: HMAC-SHA256 of the thinking text under a key made at
//! random when the server starts.
//!
//! Clients send a turn's thinking back unchanged in later requests (Claude Code does, in
//! every tool loop). The signature lets the server tell its own reasoning from an edited
//! or invented one, as the Messages API does, without storing anything: whoever does not
//! hold the key cannot sign. The key lives only in this process, so a restarted server no
//! longer accepts the signatures of the one before; a client starts a new conversation
//! then (the same holds for the Messages API across models).

use sha2::{Digest, Sha256};

/// SHA-256's block size, which HMAC pads its key to.
const BLOCK: usize = 64;

/// Signs and checks thinking text.
#[derive(Clone)]
pub struct Signer {
    key: [u8; 32],
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key never goes into logs.
        f.debug_struct("Signer").finish_non_exhaustive()
    }
}

impl Signer {
    /// A signer with a fresh random key; fails only when the OS has no randomness to give.
    pub fn random() -> Result<Signer, getrandom::Error> {
        let mut key = [0u8; 32];
        getrandom::fill(&mut key)?;
        Ok(Signer { key })
    }

    /// A signer with a given key (tests, and servers that must share signatures).
    pub fn with_key(key: [u8; 32]) -> Signer {
        Signer { key }
    }

    /// The signature of `thinking`: lowercase hex of its HMAC-SHA256.
    pub fn sign(&self, thinking: &str) -> String {
        hex::encode(self.mac(thinking.as_bytes()))
    }

    /// Whether `signature` is this server's signature of `thinking`, compared in constant
    /// time so the comparison leaks nothing about a valid signature.
    pub fn verify(&self, thinking: &str, signature: &str) -> bool {
        let expected = self.sign(thinking);
        expected.len() == signature.len()
            && expected
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// HMAC (RFC 2104) over SHA-256: H((K ^ opad) || H((K ^ ipad) || m)).
    fn mac(&self, message: &[u8]) -> [u8; 32] {
        let mut padded = [0u8; BLOCK];
        padded[..self.key.len()].copy_from_slice(&self.key);
        let inner_key: Vec<u8> = padded.iter().map(|b| b ^ 0x36).collect();
        let outer_key: Vec<u8> = padded.iter().map(|b| b ^ 0x5c).collect();
        let inner = Sha256::new()
            .chain_update(&inner_key)
            .chain_update(message)
            .finalize();
        Sha256::new()
            .chain_update(&outer_key)
            .chain_update(inner)
            .finalize()
            .into()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The MAC is the standard HMAC-SHA256, checked against Python's `hmac.new(b"k"*32, b"what do ya want for nothing?",
    /// "sha256")`.
    #[test]
    fn mac_is_standard_hmac_sha256() {
        let signer = Signer::with_key([b'k'; 32]);
        assert_eq!(
            signer.sign("what do ya want for nothing?"),
            "4f63351605b85f42e803b30e42c1905fed065a563ff4295a47982e43f228e097"
        );
    }

    #[test]
    fn verifies_its_own_and_refuses_edits_and_other_keys() {
        let a = Signer::random().unwrap();
        let b = Signer::random().unwrap();
        let sig = a.sign("let me think");
        assert!(a.verify("let me think", &sig));
        assert!(!a.verify("let me think!", &sig));
        assert!(!a.verify("let me think", ""));
        assert!(!b.verify("let me think", &sig));
    }
}
