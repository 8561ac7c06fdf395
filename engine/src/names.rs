//! Validated slugs for entity and field names.
//!
//! Table and column names are built from these, so the rule is strict: lower-case ASCII words
//! joined by single underscores, at most 28 characters (so `e_<entity>__<field>` stays under
//! PostgreSQL's 63-byte identifier limit).

use serde::{Deserialize, Serialize};
use std::fmt;

pub const MAX_NAME_LEN: usize = 28;
/// The rule [`check_slug`] applies, as a regular expression (for JSON Schemas).
pub const NAME_PATTERN: &str = "^[a-z][a-z0-9]*(_[a-z0-9]+)*$";

/// Why a string is not a valid name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("name is empty")]
    Empty,
    #[error("name is longer than {MAX_NAME_LEN} characters")]
    TooLong,
    #[error(
        "name must be lower-case letters, digits and single underscores, starting with a letter"
    )]
    BadCharacters,
}

pub fn check_slug(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty);
    }
    if s.len() > MAX_NAME_LEN {
        return Err(NameError::TooLong);
    }
    let bytes = s.as_bytes();
    if !bytes[0].is_ascii_lowercase() {
        return Err(NameError::BadCharacters);
    }
    let mut prev_underscore = false;
    for &b in bytes {
        match b {
            b'a'..=b'z' | b'0'..=b'9' => prev_underscore = false,
            b'_' if !prev_underscore => prev_underscore = true,
            _ => return Err(NameError::BadCharacters),
        }
    }
    if prev_underscore {
        return Err(NameError::BadCharacters);
    }
    Ok(())
}

macro_rules! slug_type {
    ($name:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn new(s: impl Into<String>) -> Result<Self, NameError> {
                let s = s.into();
                check_slug(&s)?;
                Ok(Self(s))
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = NameError;
            fn try_from(s: String) -> Result<Self, NameError> {
                Self::new(s)
            }
        }
        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }
    };
}

slug_type!(
    EntityName,
    "The name of an entity (`patient`), a valid slug."
);
slug_type!(
    FieldName,
    "The name of a field (`id_number`), a valid slug."
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_slugs() {
        for ok in [
            "patient",
            "follow_up",
            "a1",
            "x_1_b",
            "abcdefghijklmnopqrstuvwxyz12",
        ] {
            assert!(check_slug(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_non_slugs() {
        for bad in [
            "",
            "Patient",
            "1a",
            "_a",
            "a_",
            "a__b",
            "a-b",
            "a b",
            "患者",
            "abcdefghijklmnopqrstuvwxyz123",
            "a;drop",
        ] {
            assert!(check_slug(bad).is_err(), "{bad}");
        }
    }
}
