//! Password hashing (argon2id, PHC strings) and the password policy. Passwords are never
//! logged, stored or echoed; only their hashes are kept.

use crate::error::{EngineError, FieldError, Result};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use once_cell::sync::Lazy;

pub const MIN_PASSWORD_CHARS: usize = 8;
pub const MAX_PASSWORD_CHARS: usize = 256;

/// Passwords are 8 to 256 characters (characters, not bytes, so Chinese passwords count fairly).
pub fn check_password_policy(password: &str) -> Result<()> {
    let n = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&n) {
        return Ok(());
    }
    let message = format!(
        "密码长度须为 {MIN_PASSWORD_CHARS} 到 {MAX_PASSWORD_CHARS} 个字符 / \
         Password must be {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
    );
    Err(EngineError::BadRequest {
        message: message.clone(),
        details: vec![FieldError::new("password", "password_length", message)],
    })
}

/// Hashes `password` with argon2id and a fresh random salt, as a PHC string
/// (`$argon2id$v=19$…`). Does not apply the policy: callers check it first.
pub fn hash_password(password: &str) -> Result<String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| EngineError::internal(format!("password hashing failed: {e}")))
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), hash)
        .is_ok()
}

/// A hash of a random password, verified against when a user name does not exist so that the
/// time a failed log-in takes does not tell whether the name exists.
static DUMMY_HASH: Lazy<String> = Lazy::new(|| {
    let mut seed = [0u8; 24];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut seed);
    hash_password(&hex::encode(seed)).unwrap_or_default()
});

/// Spends the time a real verification would, and always fails.
pub fn dummy_verify(password: &str) -> bool {
    let _ = verify_password(password, DUMMY_HASH.as_str());
    false
}

/// [`hash_password`] off the async runtime's worker threads (argon2 takes tens of ms).
pub async fn hash_password_blocking(password: &str) -> Result<String> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(EngineError::internal)?
}

/// [`verify_password`] off the async runtime's worker threads; `None` runs [`dummy_verify`].
pub async fn verify_password_blocking(password: &str, hash: Option<String>) -> Result<bool> {
    let password = password.to_string();
    tokio::task::spawn_blocking(move || match hash {
        Some(hash) => verify_password(&password, &hash),
        None => dummy_verify(&password),
    })
    .await
    .map_err(EngineError::internal)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_phc_strings_and_verify() {
        let h = hash_password("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse!", &h));
        assert!(!verify_password("correct horse", "not a hash"));
        // Salted: the same password hashes differently each time.
        assert_ne!(h, hash_password("correct horse").unwrap());
        assert!(!dummy_verify("anything"));
    }

    #[test]
    fn the_policy_wants_8_to_256_characters() {
        assert!(check_password_policy("1234567").is_err());
        assert!(check_password_policy("12345678").is_ok());
        assert!(check_password_policy(&"x".repeat(256)).is_ok());
        assert!(check_password_policy(&"x".repeat(257)).is_err());
        // Characters, not bytes.
        assert!(check_password_policy("康道康道康道康道").is_ok());
        match check_password_policy("short") {
            Err(EngineError::BadRequest { message, details }) => {
                assert!(message.contains("密码") && message.contains("Password"));
                assert_eq!(details[0].field, "password");
            }
            other => panic!("{other:?}"),
        }
    }
}
