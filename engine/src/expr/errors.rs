//! Expression errors as codes and positions. rhai's own error text can quote the value that
//! failed (a patient's ID number in a type error, say), so it is never passed on.

use rhai::{EvalAltResult, ParseError, Position};
use std::fmt;

/// Why an expression failed, where, and at most a function's or type's name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// `syntax`, `too_long`, `too_many_operations`, `type_mismatch`, `function_not_found`,
    /// `not_a_date`, `empty_value`, `arithmetic`, `wrong_result_type`, `stopped`, `limit`.
    pub code: &'static str,
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// A function signature or type names; never a value.
    pub detail: Option<String>,
}

/// Runtime errors the helpers raise carry one of these codes as their whole text.
pub(crate) const HELPER_CODES: &[&str] = &["not_a_date", "empty_value", "arithmetic", "not_a_time"];

impl ExprError {
    pub fn new(code: &'static str) -> ExprError {
        ExprError {
            code,
            line: None,
            column: None,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ExprError {
        self.detail = Some(detail.into());
        self
    }

    fn at(mut self, pos: Position) -> ExprError {
        self.line = pos.line();
        self.column = pos.position();
        self
    }

    pub(crate) fn from_parse(e: &ParseError) -> ExprError {
        // A parse error describes the source, which the designer wrote; its kind names a token
        // or a symbol, not a record's value.
        ExprError::new("syntax")
            .with_detail(e.0.to_string())
            .at(e.1)
    }

    pub(crate) fn from_eval(e: &EvalAltResult) -> ExprError {
        use EvalAltResult as E;
        let err = match e {
            E::ErrorTooManyOperations(_) => ExprError::new("too_many_operations"),
            E::ErrorTerminated(..) => ExprError::new("stopped"),
            E::ErrorFunctionNotFound(signature, _) => {
                ExprError::new("function_not_found").with_detail(signature.clone())
            }
            E::ErrorArithmetic(..) => ExprError::new("arithmetic"),
            E::ErrorDataTooLarge(what, _) => ExprError::new("limit").with_detail(what.clone()),
            E::ErrorStackOverflow(_) | E::ErrorTooManyModules(_) => ExprError::new("limit"),
            E::ErrorMismatchDataType(expected, actual, _)
            | E::ErrorMismatchOutputType(expected, actual, _) => {
                ExprError::new("type_mismatch").with_detail(format!("{expected} / {actual}"))
            }
            E::ErrorRuntime(value, _) => {
                let text = value.clone().into_string().unwrap_or_default();
                match HELPER_CODES.iter().find(|c| **c == text) {
                    Some(code) => ExprError::new(code),
                    None => ExprError::new("runtime"),
                }
            }
            E::ErrorInFunctionCall(_, _, inner, _) => return ExprError::from_eval(inner),
            _ => ExprError::new("type_mismatch"),
        };
        err.at(e.position())
    }

    /// The message in Chinese, then English, naming the position and the code.
    pub fn message(&self) -> String {
        let (zh, en) = match self.code {
            "syntax" => ("表达式语法错误", "syntax error"),
            "too_long" => ("表达式过长", "expression too long"),
            "too_many_operations" => (
                "表达式运算次数超出上限（是否有死循环？）",
                "too many operations (an endless loop?)",
            ),
            "type_mismatch" => ("表达式中的值类型不匹配", "a value has the wrong type"),
            "function_not_found" => ("表达式调用了不存在的函数", "unknown function"),
            "not_a_date" => (
                "需要日期（YYYY-MM-DD）或日期时间",
                "a date or datetime is needed",
            ),
            "not_a_time" => ("需要时刻（HH:MM）", "a time of day (HH:MM) is needed"),
            "empty_value" => ("表达式用到了空值", "an empty value was used"),
            "arithmetic" => (
                "算术错误（如除以零或溢出）",
                "arithmetic error (division by zero or overflow)",
            ),
            "wrong_result_type" => ("表达式结果类型不符", "the result has the wrong type"),
            "stopped" => ("表达式被中止", "the expression was stopped"),
            "limit" => ("表达式超出大小限制", "a size limit was exceeded"),
            _ => ("表达式执行失败", "the expression failed"),
        };
        let mut out = String::new();
        if let (Some(line), Some(col)) = (self.line, self.column) {
            out.push_str(&format!(
                "第 {line} 行第 {col} 列：{zh} / line {line}, column {col}: {en}"
            ));
        } else {
            out.push_str(&format!("{zh} / {en}"));
        }
        if let Some(d) = &self.detail {
            out.push_str(&format!(" ({d})"));
        }
        out
    }
}

impl fmt::Display for ExprError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ExprError {}
