//! Derived measures: arithmetic over the chart's other measures (`sum_revenue / sum_cost`),
//! parsed here into a tree and compiled to SQL over the grouped columns, so they sort and
//! limit like any column. Division by zero or by null gives null.

use crate::error::{EngineError, Result};

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Number(f64),
    Name(String),
    Neg(Box<Node>),
    Binary(Box<Node>, char, Box<Node>),
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Number(f64),
    Name(String),
    Symbol(char),
}

fn refuse(expr: &str, why: &str) -> EngineError {
    crate::records::field_access::refuse(
        expr,
        "bad_expr",
        format!("派生度量表达式有误：{why}"),
        format!("the derived measure's expression is wrong: {why}"),
    )
}

fn tokens(text: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if "+-*/()".contains(c) {
            out.push(Token::Symbol(c));
            i += 1;
        } else if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            let literal: String = chars[start..i].iter().collect();
            let number = literal
                .parse::<f64>()
                .ok()
                .filter(|n| n.is_finite())
                .ok_or_else(|| refuse(text, "a number is malformed"))?;
            out.push(Token::Number(number));
        } else if c.is_ascii_lowercase() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_lowercase() || chars[i].is_ascii_digit() || chars[i] == '_')
            {
                i += 1;
            }
            out.push(Token::Name(chars[start..i].iter().collect()));
        } else {
            return Err(refuse(
                text,
                "only numbers, measure names, + - * / and ( ) may appear",
            ));
        }
    }
    Ok(out)
}

struct Parser<'a> {
    text: &'a str,
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn expr(&mut self) -> Result<Node> {
        let mut left = self.term()?;
        while let Some(Token::Symbol(op @ ('+' | '-'))) = self.peek().cloned() {
            self.at += 1;
            left = Node::Binary(Box::new(left), op, Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Node> {
        let mut left = self.factor()?;
        while let Some(Token::Symbol(op @ ('*' | '/'))) = self.peek().cloned() {
            self.at += 1;
            left = Node::Binary(Box::new(left), op, Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Node> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(refuse(self.text, "nested too deeply"));
        }
        let token = self.peek().cloned();
        self.at += 1;
        let node = match token {
            Some(Token::Number(n)) => Node::Number(n),
            Some(Token::Name(name)) => Node::Name(name),
            Some(Token::Symbol('-')) => Node::Neg(Box::new(self.factor()?)),
            Some(Token::Symbol('(')) => {
                let inner = self.expr()?;
                if self.peek() != Some(&Token::Symbol(')')) {
                    return Err(refuse(self.text, "a ( is not closed"));
                }
                self.at += 1;
                inner
            }
            _ => return Err(refuse(self.text, "a number, a name or ( is expected")),
        };
        self.depth -= 1;
        Ok(node)
    }
}

/// Parses a derived measure's expression.
pub(crate) fn parse(text: &str) -> Result<Node> {
    if text.chars().count() > super::MAX_EXPR_CHARS {
        return Err(refuse(text, "longer than 200 characters"));
    }
    let mut parser = Parser {
        text,
        tokens: tokens(text)?,
        at: 0,
        depth: 0,
    };
    let node = parser.expr()?;
    if parser.at != parser.tokens.len() {
        return Err(refuse(text, "something follows the end of the expression"));
    }
    Ok(node)
}

impl Node {
    /// Every measure name the expression reads.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Node::Number(_) => {}
            Node::Name(n) => out.push(n.clone()),
            Node::Neg(inner) => inner.names(out),
            Node::Binary(a, _, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_and_parentheses() {
        let node = parse("sum_revenue / (sum_cost + 1) * -2").unwrap();
        let mut names = Vec::new();
        node.names(&mut names);
        assert_eq!(names, ["sum_revenue", "sum_cost"]);
        assert!(matches!(node, Node::Binary(_, '*', _)));
        assert!(parse("a +").is_err());
        assert!(parse("a; DROP TABLE x").is_err());
        assert!(parse("(a").is_err());
        assert!(parse(&"a+".repeat(101)).is_err());
    }
}
