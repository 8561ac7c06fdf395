//! Message and task texts: handlebars in strict mode, rendered as plain text (no HTML
//! escaping), with the `{{date x}}`, `{{datetime x}}` and `{{money x}}` helpers.

use crate::expr::{self, Root};
use crate::forms::checks::{format_date, parse_date, parse_datetime};
use handlebars::{handlebars_helper, Handlebars};
use serde_json::Value;
use time::UtcOffset;

/// The names a template reads (`{{record.name}}` → `record.name`), by the expression rules.
pub fn reads(source: &str) -> Vec<expr::Read> {
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        for read in expr::reads(&after[..end]) {
            if !out.contains(&read) {
                out.push(read);
            }
        }
        rest = &after[end + 2..];
    }
    out
}

/// Whether a template reads `root` at all.
pub fn reads_root(source: &str, root: Root) -> bool {
    reads(source).iter().any(|r| r.root == root)
}

fn money_text(x: f64) -> String {
    let fen = (x * 100.0).round() as i64;
    let (sign, fen) = if fen < 0 { ("-", -fen) } else { ("", fen) };
    let yuan = (fen / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in yuan.chars().enumerate() {
        if i > 0 && (yuan.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", fen % 100)
}

handlebars_helper!(money: |x: Value| match x.as_f64() { Some(x) => money_text(x), None => String::new() });
handlebars_helper!(date: |x: Value| {
    let s = x.as_str().unwrap_or_default();
    match parse_date(s) {
        Some(d) => format_date(d),
        None => parse_datetime(s).map(|t| format_date(t.to_offset(local_offset()).date())).unwrap_or_default(),
    }
});
handlebars_helper!(datetime: |x: Value| {
    let s = x.as_str().unwrap_or_default();
    match parse_datetime(s) {
        Some(t) => {
            let t = t.to_offset(local_offset());
            format!("{} {:02}:{:02}", format_date(t.date()), t.hour(), t.minute())
        }
        None => s.to_string(),
    }
});

thread_local! {
    static LOCAL_OFFSET: std::cell::Cell<UtcOffset> = const { std::cell::Cell::new(UtcOffset::UTC) };
}

fn local_offset() -> UtcOffset {
    LOCAL_OFFSET.with(std::cell::Cell::get)
}

/// A flow version's templates, parsed once.
pub struct Templates {
    registry: Handlebars<'static>,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Templates")
    }
}

impl Default for Templates {
    fn default() -> Self {
        let mut registry = Handlebars::new();
        registry.set_strict_mode(true);
        registry.register_escape_fn(handlebars::no_escape);
        registry.register_helper("money", Box::new(money));
        registry.register_helper("date", Box::new(date));
        registry.register_helper("datetime", Box::new(datetime));
        Templates { registry }
    }
}

impl Templates {
    /// Parses `source` (kept under its own text as its name); the error names the position.
    pub fn add(&mut self, source: &str) -> Result<(), String> {
        if self.registry.has_template(source) {
            return Ok(());
        }
        self.registry
            .register_template_string(source, source)
            .map_err(|e| match e.pos() {
                Some((l, c)) => {
                    format!("模板第 {l} 行第 {c} 列有误 / template error at line {l}, column {c}")
                }
                _ => "模板有误 / template error".to_string(),
            })
    }

    /// Renders a parsed template over `data`, with local times at `offset`. A failure names
    /// no value.
    pub fn render(&self, source: &str, data: &Value, offset: UtcOffset) -> Result<String, String> {
        LOCAL_OFFSET.with(|o| o.set(offset));
        self.registry
            .render(source, data)
            .map_err(|_| "模板渲染失败 / the template could not be rendered".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_plain_text_with_helpers() {
        let mut t = Templates::default();
        let src = "尊敬的{{record.name}}，您的消费 {{money record.total}} 元，日期 {{date record.at}} <b>";
        t.add(src).unwrap();
        let out = t
            .render(src, &json!({"record": {"name": "张<三>", "total": 5200, "at": "2026-11-24T20:00:00.000000Z"}}), UtcOffset::from_hms(8, 0, 0).unwrap())
            .unwrap();
        assert_eq!(
            out,
            "尊敬的张<三>，您的消费 5,200.00 元，日期 2026-11-25 <b>"
        );
    }

    #[test]
    fn bad_templates_and_unknown_names_fail() {
        let mut t = Templates::default();
        assert!(t.add("{{#if record.x}}never closed").is_err());
        t.add("{{record.nothing}}").unwrap();
        assert!(t
            .render("{{record.nothing}}", &json!({"record": {}}), UtcOffset::UTC)
            .is_err());
        assert_eq!(
            reads("{{record.patient.name}} {{money record.total}}").len(),
            2
        );
    }
}
