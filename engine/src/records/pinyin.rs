//! The pinyin projections of a text field: a sort key, so Chinese names order as staff expect
//! (张三 among the z's, beside "Zhang"), and the initials `q` also searches (`zs` finds 张三).
//!
//! The rules, fixed because stored keys depend on them (changing them means a backfill):
//! - **Sort key.** Each Han character becomes its toneless pinyin syllable, lowercase ASCII
//!   (`ü` written `v`, so 吕 `lv` sorts after 路 `lu`), standing as a word of its own; every
//!   other character is kept, lowercased; runs of whitespace become one space and the ends are
//!   trimmed. So `张三` is `zhang san`, `张小明` `zhang xiao ming`, `Bob` `bob`, `A床3号`
//!   `a chuang 3 hao`: ASCII names and Chinese names sort together, syllable by syllable. A
//!   polyphonic character takes the first reading of the `pinyin` crate's data (its most common
//!   one: 单 is `dan`, 曾 `ceng`, 区 `qu`). Then a `U+0001` and the text itself follow, so texts
//!   with the same pinyin (张三 and 章三) do not interleave: each keeps its own run, in code
//!   point order. Both parts are cut at [`MAX_PART_BYTES`] (at a character boundary), which
//!   keeps index entries small; texts alike that far tie and fall back to the list's tie-break.
//! - **Initials.** The first letter of each Han character's syllable, with letters and digits
//!   kept (lowercased) and everything else left out: `zs` for 张三, `zxm` for 张小明 (zhang xiao ming), `zs3` for
//!   `张三 3`. A text without Han characters has none (its column is NULL): `q` already finds
//!   it by its own text.

use pinyin::ToPinyin;

/// The longest either part of a sort key (and the initials) may be, in bytes.
pub const MAX_PART_BYTES: usize = 256;

/// Separates a sort key's pinyin from the text; below every character a text may hold (NUL
/// is refused), so `zhang san` sorts before `zhang san feng`.
const KEY_SEPARATOR: char = '\u{1}';

fn syllable(c: char) -> Option<&'static str> {
    c.to_pinyin().map(|p| p.plain())
}

/// The sort key of a text (see the module's rules).
pub fn sort_key(text: &str) -> String {
    let mut spelled = String::with_capacity(text.len() * 2);
    for c in text.chars() {
        match syllable(c) {
            Some(s) => {
                spelled.push(' ');
                spelled.extend(s.chars().map(|c| if c == 'ü' { 'v' } else { c }));
                spelled.push(' ');
            }
            None => spelled.extend(c.to_lowercase()),
        }
    }
    let mut key = String::with_capacity(spelled.len() + text.len() + 1);
    for word in spelled.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(word);
    }
    truncate(&mut key, MAX_PART_BYTES);
    key.push(KEY_SEPARATOR);
    let mut original = text.to_string();
    truncate(&mut original, MAX_PART_BYTES);
    key.push_str(&original);
    key
}

/// The initials of a text, or `None` when it holds no Han character.
pub fn initials(text: &str) -> Option<String> {
    let mut out = String::new();
    let mut any_han = false;
    for c in text.chars() {
        match syllable(c) {
            Some(s) => {
                any_han = true;
                out.extend(s.chars().take(1));
            }
            None if c.is_alphanumeric() => out.extend(c.to_lowercase()),
            None => {}
        }
    }
    truncate(&mut out, MAX_PART_BYTES);
    any_han.then_some(out)
}

/// Cuts `text` to at most `max` bytes, at a character boundary.
fn truncate(text: &mut String, max: usize) {
    if text.len() <= max {
        return;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pinyin_part(text: &str) -> String {
        sort_key(text)
            .split(KEY_SEPARATOR)
            .next()
            .unwrap()
            .to_string()
    }

    #[test]
    fn han_characters_become_syllables_and_other_text_is_kept_lowercase() {
        assert_eq!(pinyin_part("张三"), "zhang san");
        assert_eq!(pinyin_part("张小明"), "zhang xiao ming");
        assert_eq!(pinyin_part("Bob"), "bob");
        assert_eq!(pinyin_part("  A床3号 "), "a chuang 3 hao");
        assert_eq!(pinyin_part("Alice  Wang"), "alice wang");
        assert_eq!(pinyin_part(""), "");
        assert_eq!(sort_key("张三"), "zhang san\u{1}张三");
    }

    #[test]
    fn polyphones_take_the_first_reading_and_u_umlaut_is_v() {
        assert_eq!(pinyin_part("单"), "dan");
        assert_eq!(pinyin_part("曾"), "ceng");
        assert_eq!(pinyin_part("吕"), "lv");
        assert!(sort_key("路") < sort_key("吕"));
    }

    #[test]
    fn names_sort_in_pinyin_order_beside_latin_names() {
        let mut names = vec![
            "张小明",
            "王五",
            "Bob",
            "张三",
            "李四",
            "alice",
            "张三丰",
            "章三",
        ];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(
            names,
            vec![
                "alice",
                "Bob",
                "李四",
                "王五",
                "张三",
                "章三",
                "张三丰",
                "张小明"
            ]
        );
    }

    #[test]
    fn same_pinyin_keeps_each_text_together() {
        let mut names = vec!["张三", "章三", "张三", "章三"];
        names.sort_by_key(|n| sort_key(n));
        assert_eq!(names, vec!["张三", "张三", "章三", "章三"]);
    }

    #[test]
    fn initials_take_first_letters_and_keep_letters_and_digits() {
        assert_eq!(initials("张三").as_deref(), Some("zs"));
        assert_eq!(initials("张小明").as_deref(), Some("zxm"));
        assert_eq!(initials("张三 3床").as_deref(), Some("zs3c"));
        assert_eq!(initials("Alice"), None);
        assert_eq!(initials(""), None);
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let long = "张".repeat(400);
        let key = sort_key(&long);
        let (spelled, original) = key.split_once(KEY_SEPARATOR).unwrap();
        assert!(spelled.len() <= MAX_PART_BYTES && spelled.starts_with("zhang zhang"));
        assert!(original.len() <= MAX_PART_BYTES && original.starts_with("张张"));
        assert!(initials(&long).unwrap().len() <= MAX_PART_BYTES);
    }
}
