//! How sensitive values are shown to those who may not see them in full.

use crate::forms::FieldType;

/// Masks a plaintext value of a sensitive field: `110105********1234`, `138****5678`.
pub fn mask(field_type: FieldType, value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let n = chars.len();
    let keep = |head: usize, tail: usize| -> String {
        if n <= head + tail {
            return "*".repeat(n.max(1));
        }
        let mut out: String = chars[..head].iter().collect();
        out.push_str(&"*".repeat(n - head - tail));
        out.extend(&chars[n - tail..]);
        out
    };
    match field_type {
        FieldType::IdCard => keep(6, 4),
        FieldType::Phone => {
            if let Some((area, number)) = value.split_once('-') {
                let digits: Vec<char> = number.chars().collect();
                let tail = digits.len().min(4);
                let shown: String = digits[digits.len() - tail..].iter().collect();
                format!("{area}-{}{shown}", "*".repeat(digits.len() - tail))
            } else {
                keep(3, 4)
            }
        }
        FieldType::Email => match value.split_once('@') {
            Some((local, domain)) => {
                let first: String = local.chars().take(1).collect();
                format!("{first}***@{domain}")
            }
            None => keep(1, 0),
        },
        FieldType::Textarea => "******".into(),
        // A contact held in a text field (a message's recipient) masks as what it is, so
        // staff can still tell two mobiles apart: a mainland mobile, an email address.
        FieldType::Text if is_mobile(value) => mask(FieldType::Phone, value),
        FieldType::Text if value.contains('@') => mask(FieldType::Email, value),
        _ => keep(1, 0),
    }
}

fn is_mobile(value: &str) -> bool {
    value.len() == 11 && value.starts_with('1') && value.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_like_hospital_staff_expect() {
        assert_eq!(
            mask(FieldType::IdCard, "110105194912310021"),
            "110105********0021"
        );
        assert_eq!(mask(FieldType::Phone, "13812345678"), "138****5678");
        assert_eq!(mask(FieldType::Phone, "010-12345678"), "010-****5678");
        assert_eq!(mask(FieldType::Email, "li@example.com"), "l***@example.com");
        assert_eq!(mask(FieldType::Text, "张三丰"), "张**");
        assert_eq!(mask(FieldType::Text, "张"), "*");
        assert_eq!(mask(FieldType::Text, "13812345678"), "138****5678");
        assert_eq!(mask(FieldType::Text, "1381234567"), "1*********");
        assert_eq!(mask(FieldType::Text, "li@example.com"), "l***@example.com");
        assert_eq!(mask(FieldType::Textarea, "青霉素过敏"), "******");
    }
}
