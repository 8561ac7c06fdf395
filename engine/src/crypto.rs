//! Sensitive fields at rest: AES-256-GCM ciphertext plus a keyed hash for equality and
//! uniqueness, under a key the deployment holds (never built in).

use crate::error::{EngineError, Result};
use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::path::{Path, PathBuf};

type HmacSha256 = Hmac<Sha256>;

/// Marks a stored ciphertext; the rest names the key and the algorithm so keys can rotate and
/// other algorithms (SM4) can be added.
const CIPHERTEXT_PREFIX: &str = "enc:v1:";
const ALGORITHM_AES256GCM: &str = "a256gcm";
const NONCE_LEN: usize = 12;

/// The keys derived from one master key.
pub struct Keyring {
    key_id: String,
    fingerprint: String,
    cipher: Aes256Gcm,
    hash_key: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

fn derive(master: &[u8], purpose: &str) -> [u8; 32] {
    // HMAC as a KDF: one master key, independent keys per purpose.
    let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes any key length");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Where the key came from at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    File(PathBuf),
    Generated(PathBuf),
}

impl Keyring {
    pub fn from_master(master: &[u8; 32]) -> Keyring {
        let fingerprint = hex::encode(derive(master, "kangdao/fingerprint/v1"));
        let key_id = fingerprint[..8].to_string();
        let enc_key = derive(master, "kangdao/encrypt/v1");
        let cipher = Aes256Gcm::new_from_slice(&enc_key).expect("32-byte key");
        Keyring {
            key_id,
            fingerprint,
            cipher,
            hash_key: derive(master, "kangdao/lookup-hash/v1"),
        }
    }

    /// Loads the key from `key_file`, or from `data_dir/secrets/master.key`, generating that
    /// file (mode 0600) when neither exists.
    pub fn load_or_create(
        key_file: Option<&Path>,
        data_dir: &Path,
    ) -> Result<(Keyring, KeySource)> {
        if let Some(path) = key_file {
            let master = read_key_file(path)?;
            return Ok((
                Keyring::from_master(&master),
                KeySource::File(path.to_path_buf()),
            ));
        }
        let path = data_dir.join("secrets").join("master.key");
        if path.exists() {
            let master = read_key_file(&path)?;
            return Ok((Keyring::from_master(&master), KeySource::File(path)));
        }
        let mut master = [0u8; 32];
        rand::rng().fill_bytes(&mut master);
        write_key_file(&path, &master)?;
        Ok((Keyring::from_master(&master), KeySource::Generated(path)))
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Identifies the key without revealing it; the database keeps it to refuse another key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn encrypt(&self, plaintext: &str) -> String {
        let mut nonce_bytes = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce_bytes);
        let nonce = Nonce::from(nonce_bytes);
        let ciphertext = self
            .cipher
            .encrypt(&nonce, plaintext.as_bytes())
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(&nonce_bytes);
        sealed.extend_from_slice(&ciphertext);
        format!(
            "{CIPHERTEXT_PREFIX}{}:{ALGORITHM_AES256GCM}:{}",
            self.key_id,
            B64.encode(sealed)
        )
    }

    pub fn decrypt(&self, stored: &str) -> Result<String> {
        let bad = || EngineError::internal("a stored ciphertext is damaged or under another key");
        let rest = stored.strip_prefix(CIPHERTEXT_PREFIX).ok_or_else(bad)?;
        let mut parts = rest.splitn(3, ':');
        let (key_id, algorithm, body) = (
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
            parts.next().ok_or_else(bad)?,
        );
        if key_id != self.key_id || algorithm != ALGORITHM_AES256GCM {
            return Err(bad());
        }
        let sealed = B64.decode(body).map_err(|_| bad())?;
        if sealed.len() < NONCE_LEN {
            return Err(bad());
        }
        let (nonce_bytes, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce_array: [u8; NONCE_LEN] = nonce_bytes.try_into().map_err(|_| bad())?;
        let plain = self
            .cipher
            .decrypt(&Nonce::from(nonce_array), ciphertext)
            .map_err(|_| bad())?;
        String::from_utf8(plain).map_err(|_| bad())
    }

    pub fn is_ciphertext(value: &str) -> bool {
        value.starts_with(CIPHERTEXT_PREFIX)
    }

    /// The keyed hash stored in projection columns and indexes of sensitive fields, so equality
    /// lookups and uniqueness work without the plaintext. `field` separates equal values of
    /// different fields.
    pub fn lookup_hash(&self, field: &str, normalized_value: &str) -> String {
        let mut mac =
            HmacSha256::new_from_slice(&self.hash_key).expect("HMAC takes any key length");
        mac.update(field.as_bytes());
        mac.update(&[0]);
        mac.update(normalized_value.as_bytes());
        hex::encode(&mac.finalize().into_bytes()[..20])
    }
}

fn read_key_file(path: &Path) -> Result<[u8; 32]> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        EngineError::Configuration(format!("cannot read key file {}: {e}", path.display()))
    })?;
    let bytes = B64.decode(text.trim()).map_err(|_| {
        EngineError::Configuration(format!(
            "key file {} is not a base64-encoded 32-byte key",
            path.display()
        ))
    })?;
    bytes.try_into().map_err(|_| {
        EngineError::Configuration(format!(
            "key file {} must hold exactly 32 bytes",
            path.display()
        ))
    })
}

/// Writes a new key file readable only by its owner.
pub fn write_key_file(path: &Path, master: &[u8; 32]) -> Result<()> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        EngineError::Configuration(format!("cannot write key file {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent() {
        // The secrets folder is the server user's alone (0700).
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(dir).map_err(fail)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(fail)?;
    file.write_all(format!("{}\n", B64.encode(master)).as_bytes())
        .map_err(fail)?;
    file.sync_all().map_err(fail)
}

/// Generates a fresh master key file, for `key_file` in production set-ups.
pub fn generate_key_file(path: &Path) -> Result<()> {
    let mut master = [0u8; 32];
    rand::rng().fill_bytes(&mut master);
    write_key_file(path, &master)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ciphertext_round_trips_and_hides_the_value() {
        let keys = Keyring::from_master(&[7u8; 32]);
        let sealed = keys.encrypt("11010519491231002X");
        assert!(!sealed.contains("11010519491231002X"));
        assert!(Keyring::is_ciphertext(&sealed));
        assert_eq!(keys.decrypt(&sealed).unwrap(), "11010519491231002X");
        // A fresh nonce each time: equal values do not give equal ciphertexts.
        assert_ne!(sealed, keys.encrypt("11010519491231002X"));
    }

    #[test]
    fn another_key_cannot_decrypt_and_hashes_differ() {
        let a = Keyring::from_master(&[1u8; 32]);
        let b = Keyring::from_master(&[2u8; 32]);
        assert!(b.decrypt(&a.encrypt("13800138000")).is_err());
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.lookup_hash("phone", "13800138000"),
            b.lookup_hash("phone", "13800138000")
        );
        assert_eq!(
            a.lookup_hash("phone", "13800138000"),
            a.lookup_hash("phone", "13800138000")
        );
        assert_ne!(a.lookup_hash("phone", "1"), a.lookup_hash("mobile", "1"));
    }

    #[test]
    fn tampered_ciphertext_is_refused() {
        let keys = Keyring::from_master(&[3u8; 32]);
        let mut sealed = keys.encrypt("secret");
        sealed.pop();
        sealed.push('A');
        assert!(keys.decrypt(&sealed).is_err());
        assert!(keys.decrypt("enc:v1:zz").is_err());
        assert!(keys.decrypt("plain").is_err());
    }

    #[test]
    fn generated_key_file_is_private_and_reloads() {
        let dir = std::env::temp_dir().join(format!("kangdao-key-{}", uuid::Uuid::new_v4()));
        let (first, source) = Keyring::load_or_create(None, &dir).unwrap();
        assert!(matches!(source, KeySource::Generated(_)));
        let (second, source) = Keyring::load_or_create(None, &dir).unwrap();
        assert!(matches!(source, KeySource::File(_)));
        assert_eq!(first.fingerprint(), second.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("secrets/master.key"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(dir).ok();
    }
}
