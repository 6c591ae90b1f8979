//! The key ring that seals every stored secret with AES-256-GCM.
//!
//! Each sealed value carries the id of the key that sealed it, a fresh random 96-bit
//! nonce, and is bound through the associated data to what it is for (tenant and
//! purpose), so that a ciphertext copied into another tenant's row fails to open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use sha2::{Digest, Sha256};
use std::fmt;

/// A 256-bit key with its id (the first 8 bytes of its SHA-256, in hex).
#[derive(Clone)]
pub struct VaultKey {
    id: String,
    cipher: Aes256Gcm,
}

impl fmt::Debug for VaultKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error("must be 64 hexadecimal characters (32 bytes), got {0} characters")]
    Length(usize),
    #[error("must be hexadecimal (0-9, a-f)")]
    NotHex,
}

impl VaultKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        let id = hex::encode(&Sha256::digest(bytes)[..8]);
        let cipher = Aes256Gcm::new_from_slice(bytes).expect("a 32-byte key is always valid");
        Self { id, cipher }
    }

    /// Parses the 64-hex-character form used in `PAYMENT_CONFIG_ENC_KEY`.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        if text.len() != 64 {
            return Err(KeyError::Length(text.len()));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text, &mut bytes).map_err(|_| KeyError::NotHex)?;
        Ok(Self::from_bytes(&bytes))
    }

    pub fn generate_hex() -> String {
        let mut bytes = [0u8; 32];
        rand::fill(&mut bytes);
        hex::encode(bytes)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A sealed value as it is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub nonce: Vec<u8>,
    pub ciphertext: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("sealed with key {0}, which is neither the current key nor a previous one")]
    UnknownKey(String),
    #[error("does not decrypt: tampered with, or copied from another tenant")]
    Tampered,
}

/// The current key, which seals, and the previous keys, which only open.
#[derive(Debug, Clone)]
pub struct KeyRing {
    current: VaultKey,
    previous: Vec<VaultKey>,
}

impl KeyRing {
    pub fn new(current: VaultKey, previous: Vec<VaultKey>) -> Self {
        Self { current, previous }
    }

    pub fn current_id(&self) -> &str {
        self.current.id()
    }

    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Sealed {
        let mut nonce = [0u8; 12];
        rand::fill(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        Sealed {
            key_id: self.current.id.clone(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
    }

    pub fn open(&self, sealed: &Sealed, aad: &[u8]) -> Result<Vec<u8>, OpenError> {
        let key = std::iter::once(&self.current)
            .chain(&self.previous)
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        let nonce: [u8; 12] = sealed
            .nonce
            .as_slice()
            .try_into()
            .map_err(|_| OpenError::Tampered)?;
        key.cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &sealed.ciphertext,
                    aad,
                },
            )
            .map_err(|_| OpenError::Tampered)
    }
}

/// The associated data webhook secrets were first sealed with: tenant and purpose, not
/// yet the expiry (see `tenants::secrets::aad`). Still opened, and re-sealed at start-up.
pub fn legacy_webhook_secret_aad(tenant_id: i64) -> Vec<u8> {
    format!("gateway/v1/stripe-webhook-secret/tenant/{tenant_id}").into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring() -> KeyRing {
        KeyRing::new(VaultKey::from_bytes(&[7; 32]), vec![])
    }

    #[test]
    fn sealed_value_opens_with_the_same_tenant() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", &legacy_webhook_secret_aad(1));
        assert_eq!(
            ring.open(&sealed, &legacy_webhook_secret_aad(1)).unwrap(),
            b"whsec_abc"
        );
        assert_ne!(sealed.ciphertext[..9], b"whsec_abc"[..]);
    }

    #[test]
    fn every_seal_uses_a_fresh_nonce() {
        let ring = ring();
        let a = ring.seal(b"same", b"aad");
        let b = ring.seal(b"same", b"aad");
        assert_ne!(a.nonce, b.nonce);
        assert_ne!(a.ciphertext, b.ciphertext);
        assert_eq!(a.nonce.len(), 12);
    }

    #[test]
    fn ciphertext_copied_to_another_tenant_does_not_open() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", &legacy_webhook_secret_aad(1));
        assert_eq!(
            ring.open(&sealed, &legacy_webhook_secret_aad(2)),
            Err(OpenError::Tampered)
        );
    }

    #[test]
    fn any_changed_byte_is_reported_as_tampered() {
        let ring = ring();
        let sealed = ring.seal(b"whsec_abc", b"aad");
        for i in 0..sealed.ciphertext.len() {
            let mut bad = sealed.clone();
            bad.ciphertext[i] ^= 1;
            assert_eq!(ring.open(&bad, b"aad"), Err(OpenError::Tampered));
        }
        let mut bad = sealed.clone();
        bad.nonce[0] ^= 1;
        assert_eq!(ring.open(&bad, b"aad"), Err(OpenError::Tampered));
    }

    #[test]
    fn previous_keys_open_but_do_not_seal() {
        let old = VaultKey::from_bytes(&[1; 32]);
        let sealed = KeyRing::new(old.clone(), vec![]).seal(b"s", b"a");
        let rotated = KeyRing::new(VaultKey::from_bytes(&[2; 32]), vec![old.clone()]);
        assert_eq!(rotated.open(&sealed, b"a").unwrap(), b"s");
        assert_ne!(rotated.seal(b"s", b"a").key_id, old.id());
        let forgotten = KeyRing::new(VaultKey::from_bytes(&[2; 32]), vec![]);
        assert_eq!(
            forgotten.open(&sealed, b"a"),
            Err(OpenError::UnknownKey(old.id().to_string()))
        );
    }

    #[test]
    fn hex_keys_are_validated() {
        assert_eq!(VaultKey::from_hex("abc").unwrap_err(), KeyError::Length(3));
        assert_eq!(
            VaultKey::from_hex(&"zz".repeat(32)).unwrap_err(),
            KeyError::NotHex
        );
        let k = VaultKey::generate_hex();
        assert_eq!(VaultKey::from_hex(&k).unwrap().id().len(), 16);
    }
}
