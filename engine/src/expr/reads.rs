//! What an expression reads by name: `record.x`, `record.<reference>.y`, `old.x`, `body.x`
//! and `steps.<node>.x`, found in the source. Save checks use this to check that the fields
//! exist and that a sensitive value is not copied into a plain field. A read through a
//! computed key cannot be seen here; the checks that rely on this say what they do about it.

use once_cell::sync::Lazy;
use regex::Regex;

/// The variable a read starts from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    Record,
    Old,
    Body,
    Steps,
}

/// One read: `record.patient.phone` is `{root: Record, name: "patient", then: Some("phone")}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Read {
    pub root: Root,
    pub name: String,
    /// The name read from what `name` holds (a reference's field, a step's output).
    pub then: Option<String>,
    /// A further hop after `then` (`record.a.b.c`), which flows refuse.
    pub deeper: bool,
}

static DOTTED: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(
        r#"\b(record|old|body|steps)\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*)(?:\s*\??\.\s*([A-Za-z_][A-Za-z0-9_]*)(\s*\()?(\s*\??\.\s*[A-Za-z_])?)?"#,
    )
    .ok()
});

static INDEXED: Lazy<Option<Regex>> =
    Lazy::new(|| Regex::new(r#"\b(record|old)\s*\??\[\s*(?:"([^"]*)"|`([^`]*)`)\s*\]"#).ok());

fn root(s: &str) -> Root {
    match s {
        "old" => Root::Old,
        "body" => Root::Body,
        "steps" => Root::Steps,
        _ => Root::Record,
    }
}

/// Every read in `source`, in order of first mention, without repeats.
pub fn reads(source: &str) -> Vec<Read> {
    let mut out: Vec<(usize, Read)> = Vec::new();
    if let Some(re) = DOTTED.as_ref() {
        for caps in re.captures_iter(source) {
            let (Some(r), Some(name), Some(whole)) = (caps.get(1), caps.get(2), caps.get(0)) else {
                continue;
            };
            // `record.name.len()` is a method on the field, not a hop.
            let is_call = caps.get(4).is_some();
            let then = caps
                .get(3)
                .filter(|_| !is_call)
                .map(|m| m.as_str().to_string());
            let deeper = then.is_some() && caps.get(5).is_some();
            out.push((
                whole.start(),
                Read {
                    root: root(r.as_str()),
                    name: name.as_str().to_string(),
                    then,
                    deeper,
                },
            ));
        }
    }
    if let Some(re) = INDEXED.as_ref() {
        for caps in re.captures_iter(source) {
            let name = caps.get(2).or_else(|| caps.get(3));
            let (Some(r), Some(name), Some(whole)) = (caps.get(1), name, caps.get(0)) else {
                continue;
            };
            out.push((
                whole.start(),
                Read {
                    root: root(r.as_str()),
                    name: name.as_str().to_string(),
                    then: None,
                    deeper: false,
                },
            ));
        }
    }
    out.sort_by_key(|(at, _)| *at);
    let mut unique: Vec<Read> = Vec::new();
    for (_, read) in out {
        if !unique.contains(&read) {
            unique.push(read);
        }
    }
    unique
}

/// A root named in `source` with what follows it: a method called on it (`.values(`), `.`,
/// `[` or nothing.
static NAMED_ROOT: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(r"\b(record|old|body|steps)\b\s*(\??\.\s*[A-Za-z_][A-Za-z0-9_]*\s*\(|\??[.\[])?")
        .ok()
});

/// The roots `source` reads whole, which [`reads`] cannot itemise: named on their own
/// (`to_json(record)`, `body`), indexed by a computed key (`record[k]`) or with a method called
/// on them (`record.values()`). Any field of such a
/// root, a sensitive or hidden one included, may be in the value. A root named inside a string
/// literal counts too: this errs on the side of refusing.
pub fn whole_roots(source: &str) -> Vec<Root> {
    let (Some(named), Some(indexed)) = (NAMED_ROOT.as_ref(), INDEXED.as_ref()) else {
        // No regex, no itemising: everything is read whole.
        return vec![Root::Record, Root::Old, Root::Body, Root::Steps];
    };
    let literal_at: Vec<usize> = indexed.find_iter(source).map(|m| m.start()).collect();
    let mut out = Vec::new();
    for caps in named.captures_iter(source) {
        let (Some(r), Some(at)) = (caps.get(1), caps.get(0)) else {
            continue;
        };
        let whole = match caps.get(2).map(|m| m.as_str()) {
            None => true,
            Some(next) if next.ends_with('(') => true,
            Some(next) if next.ends_with('[') => !literal_at.contains(&at.start()),
            Some(_) => false,
        };
        let root = root(r.as_str());
        if whole && !out.contains(&root) {
            out.push(root);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(root: Root, name: &str, then: Option<&str>) -> Read {
        Read {
            root,
            name: name.into(),
            then: then.map(Into::into),
            deeper: false,
        }
    }

    #[test]
    fn plain_hop_method_and_indexed_reads() {
        assert_eq!(
            reads("record.total_spent > 5000 && record.tier != \"VIP\" && old.tier == ()"),
            vec![
                r(Root::Record, "total_spent", None),
                r(Root::Record, "tier", None),
                r(Root::Old, "tier", None)
            ]
        );
        assert_eq!(
            reads("record.patient.phone + record.name.len() + record[\"x\"]"),
            vec![
                r(Root::Record, "patient", Some("phone")),
                r(Root::Record, "name", None),
                r(Root::Record, "x", None)
            ]
        );
        let deep = reads("record.patient.referred_by.name");
        assert!(deep[0].deeper);
        assert!(reads("my_record.id_number + records.x").is_empty());
        assert_eq!(
            reads("steps.ask.outcome"),
            vec![r(Root::Steps, "ask", Some("outcome"))]
        );
    }

    #[test]
    fn whole_roots_are_bare_names_and_computed_keys() {
        assert!(
            whole_roots("record.total_spent > 5000 && record[\"tier\"] != old?.tier").is_empty()
        );
        assert_eq!(whole_roots("to_json(record)"), vec![Root::Record]);
        assert_eq!(
            whole_roots("record[k] + body"),
            vec![Root::Record, Root::Body]
        );
        assert_eq!(whole_roots("old"), vec![Root::Old]);
        assert_eq!(
            whole_roots("record.values().contains(9000)"),
            vec![Root::Record]
        );
        assert!(whole_roots("record.name.len() > 2").is_empty());
        assert!(whole_roots("my_record + records.x").is_empty());
    }
}
