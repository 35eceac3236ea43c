//! Signing keys and the key ring (rotation without logging everyone out).

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// The shortest key accepted, in bytes (256 bits, the HMAC-SHA256 block
/// security level).
pub const MIN_KEY_LEN: usize = 32;

/// One HMAC-SHA256 signing key.
///
/// `Debug` never prints the key, and equality is constant-time. The HMAC
/// state after absorbing the key is computed once, so each signature costs
/// only the message blocks.
///
/// ```
/// use edge_session::Key;
/// let key = Key::try_from_bytes(b"0123456789abcdef0123456789abcdef")?;
/// assert_eq!(format!("{key:?}"), "Key(<redacted>)");
/// assert!(Key::try_from_bytes(b"too short").is_err());
/// # Ok::<(), edge_session::Error>(())
/// ```
#[derive(Clone)]
pub struct Key {
    bytes: Box<[u8]>,
    mac: HmacSha256,
}

impl Key {
    /// Makes a key from secret bytes.
    ///
    /// # Errors
    /// [`Error::KeyTooShort`] if `bytes` is shorter than [`MIN_KEY_LEN`].
    pub fn try_from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() < MIN_KEY_LEN {
            return Err(Error::KeyTooShort { len: bytes.len() });
        }
        let mac = <HmacSha256 as KeyInit>::new_from_slice(bytes)
            .map_err(|_| Error::InvalidConfig("HMAC refused the key"))?;
        Ok(Key {
            bytes: bytes.into(),
            mac,
        })
    }

    /// Makes a key from secret bytes.
    ///
    /// # Panics
    /// If `bytes` is shorter than [`MIN_KEY_LEN`]; see [`Key::try_from_bytes`].
    #[track_caller]
    pub fn from_bytes(bytes: &[u8]) -> Self {
        match Self::try_from_bytes(bytes) {
            Ok(key) => key,
            Err(e) => panic!("{e}"),
        }
    }

    /// Generates a fresh random 64-byte key (for tests and ephemeral demos:
    /// sessions signed with it die with the process).
    ///
    /// # Errors
    /// [`Error::Random`] if the operating system's random source fails.
    #[cfg(feature = "getrandom")]
    pub fn generate() -> Result<Self> {
        let mut bytes = [0u8; 64];
        getrandom::fill(&mut bytes).map_err(|_| Error::Random)?;
        Self::try_from_bytes(&bytes)
    }

    pub(crate) fn mac(&self) -> HmacSha256 {
        self.mac.clone()
    }
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.bytes.ct_eq(&other.bytes).into()
    }
}

impl Eq for Key {}

/// The keys a deployment accepts: it signs with the first (newest) key and
/// verifies with every key, so a key can be rotated without logging anyone
/// out. Drop the old key from the ring once its cookies have expired.
///
/// ```
/// use edge_session::{Key, KeyRing};
/// let old = Key::from_bytes(&[1; 32]);
/// let new = Key::from_bytes(&[2; 32]);
/// let ring = KeyRing::new(new.clone()).with_previous(old);
/// assert_eq!(ring.signing_key(), &new);
/// assert_eq!(ring.len(), 2);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRing {
    keys: Vec<Key>,
}

impl KeyRing {
    /// A ring with one key, used to sign and to verify.
    pub fn new(signing: Key) -> Self {
        KeyRing {
            keys: alloc::vec![signing],
        }
    }

    /// Adds an older key that is still accepted for verification.
    #[must_use]
    pub fn with_previous(mut self, key: Key) -> Self {
        self.keys.push(key);
        self
    }

    /// A ring from keys ordered newest first.
    ///
    /// # Errors
    /// [`Error::NoKeys`] if `keys` is empty.
    pub fn from_keys(keys: impl IntoIterator<Item = Key>) -> Result<Self> {
        let keys: Vec<Key> = keys.into_iter().collect();
        if keys.is_empty() {
            return Err(Error::NoKeys);
        }
        Ok(KeyRing { keys })
    }

    /// The key new cookies are signed with.
    pub fn signing_key(&self) -> &Key {
        &self.keys[0]
    }

    /// The number of keys in the ring (always at least one).
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Signs the concatenation of `parts` with the signing key.
    pub(crate) fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.signing_key().mac();
        for part in parts {
            mac.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    /// Verifies `tag` over the concatenation of `parts` with every key, in
    /// constant time per key. Says nothing about why a tag failed.
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        self.keys.iter().any(|key| {
            let mut mac = key.mac();
            for part in parts {
                mac.update(part);
            }
            mac.verify_slice(tag).is_ok()
        })
    }
}

impl From<Key> for KeyRing {
    fn from(key: Key) -> Self {
        KeyRing::new(key)
    }
}
