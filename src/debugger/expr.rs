//! Argument expressions of the batch generator: `slot`, `i` (index in the batch), integer
//! literals (decimal, `0x`, `0b`) and `+ - * / % & | ^ << >>` with parentheses, evaluated in
//! wrapping u32 arithmetic like the kernel. `160 + slot % 16` addresses one of 16 observable
//! words per slot.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest expression accepted, in bytes. An argument word needs a few operators; the cap
/// keeps parsing, evaluation and dropping the tree (all recursive) far from the stack's end.
pub const MAX_EXPR_LEN: usize = 1024;

/// The deepest nesting of parentheses accepted.
pub const MAX_EXPR_DEPTH: usize = 32;

/// A parsed expression; serialized as its source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArgExpr {
    source: String,
    root: Node,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Node {
    Lit(u32),
    Slot,
    Index,
    Bin(Box<Node>, Op, Box<Node>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Rem,
    And,
    Or,
    Xor,
    Shl,
    Shr,
}

impl Op {
    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Rem => "%",
            Op::And => "&",
            Op::Or => "|",
            Op::Xor => "^",
            Op::Shl => "<<",
            Op::Shr => ">>",
        }
    }

    /// Binding strength, C-like: * / % > + - > << >> > & > ^ > |.
    fn precedence(self) -> u8 {
        match self {
            Op::Mul | Op::Div | Op::Rem => 5,
            Op::Add | Op::Sub => 4,
            Op::Shl | Op::Shr => 3,
            Op::And => 2,
            Op::Xor => 1,
            Op::Or => 0,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Num(u32),
    Ident(String),
    Op(Op),
    Open,
    Close,
}

/// How a token reads in a message: as the user wrote it.
impl fmt::Display for Tok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Num(n) => write!(f, "the number `{n}`"),
            Tok::Ident(id) => write!(f, "`{id}`"),
            Tok::Op(op) => write!(f, "`{}`", op.symbol()),
            Tok::Open => f.write_str("`(`"),
            Tok::Close => f.write_str("`)`"),
        }
    }
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c.is_ascii_digit() {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            let text = &s[start..i];
            let n = crate::abi::opcode::parse_u32(text)
                .ok_or_else(|| format!("`{text}` is not a 32-bit number"))?;
            out.push(Tok::Num(n));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < b.len() && ((b[i] as char).is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            out.push(Tok::Ident(s[start..i].to_string()));
        } else {
            let two = s.get(i..i + 2).unwrap_or("");
            let (tok, len) = match (c, two) {
                (_, "<<") => (Tok::Op(Op::Shl), 2),
                (_, ">>") => (Tok::Op(Op::Shr), 2),
                ('+', _) => (Tok::Op(Op::Add), 1),
                ('-', _) => (Tok::Op(Op::Sub), 1),
                ('*', _) => (Tok::Op(Op::Mul), 1),
                ('/', _) => (Tok::Op(Op::Div), 1),
                ('%', _) => (Tok::Op(Op::Rem), 1),
                ('&', _) => (Tok::Op(Op::And), 1),
                ('|', _) => (Tok::Op(Op::Or), 1),
                ('^', _) => (Tok::Op(Op::Xor), 1),
                ('(', _) => (Tok::Open, 1),
                (')', _) => (Tok::Close, 1),
                _ => return Err(format!("unexpected `{c}` at column {}", i + 1)),
            };
            out.push(tok);
            i += len;
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    /// Parentheses open at this point.
    depth: usize,
}

impl Parser {
    fn primary(&mut self) -> Result<Node, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(Node::Lit(n))
            }
            Some(Tok::Ident(id)) => {
                self.pos += 1;
                match id.as_str() {
                    "slot" | "s" => Ok(Node::Slot),
                    "i" | "index" => Ok(Node::Index),
                    other => Err(format!(
                        "unknown name `{other}`; use `slot` (the slot index) or `i` (the index within the batch)"
                    )),
                }
            }
            Some(Tok::Open) => {
                self.pos += 1;
                self.depth += 1;
                if self.depth > MAX_EXPR_DEPTH {
                    return Err(format!(
                        "parentheses nest deeper than {MAX_EXPR_DEPTH} levels; simplify the expression"
                    ));
                }
                let e = self.expr(0)?;
                self.depth -= 1;
                if self.toks.get(self.pos) != Some(&Tok::Close) {
                    return Err("missing `)`".into());
                }
                self.pos += 1;
                Ok(e)
            }
            Some(t) => Err(format!("expected a number, `slot`, `i` or `(`, found {t}")),
            None => Err("the expression ends too early".into()),
        }
    }

    fn expr(&mut self, min_prec: u8) -> Result<Node, String> {
        let mut lhs = self.primary()?;
        while let Some(Tok::Op(op)) = self.toks.get(self.pos).cloned() {
            if op.precedence() < min_prec {
                break;
            }
            self.pos += 1;
            let rhs = self.expr(op.precedence() + 1)?;
            lhs = Node::Bin(Box::new(lhs), op, Box::new(rhs));
        }
        Ok(lhs)
    }
}

impl ArgExpr {
    pub fn parse(source: &str) -> Result<ArgExpr, String> {
        if source.len() > MAX_EXPR_LEN {
            return Err(format!(
                "the expression is {} bytes long, more than the {MAX_EXPR_LEN} an argument expression may have; simplify it",
                source.len()
            ));
        }
        let toks = tokenize(source)?;
        if toks.is_empty() {
            return Err("empty expression; write a number such as 0 or an expression such as `160 + slot % 16`".into());
        }
        let mut p = Parser {
            toks,
            pos: 0,
            depth: 0,
        };
        let root = p.expr(0)?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected {} after the expression", p.toks[p.pos]));
        }
        Ok(ArgExpr {
            source: source.trim().to_string(),
            root,
        })
    }

    pub fn literal(v: u32) -> ArgExpr {
        ArgExpr {
            source: v.to_string(),
            root: Node::Lit(v),
        }
    }

    /// Evaluates for a slot and its index in the batch. Division by zero gives 0 (like WGSL).
    pub fn eval(&self, slot: u32, index: u32) -> u32 {
        fn go(n: &Node, slot: u32, index: u32) -> u32 {
            match n {
                Node::Lit(v) => *v,
                Node::Slot => slot,
                Node::Index => index,
                Node::Bin(a, op, b) => {
                    let (a, b) = (go(a, slot, index), go(b, slot, index));
                    match op {
                        Op::Add => a.wrapping_add(b),
                        Op::Sub => a.wrapping_sub(b),
                        Op::Mul => a.wrapping_mul(b),
                        Op::Div => a.checked_div(b).unwrap_or(0),
                        Op::Rem => a.checked_rem(b).unwrap_or(0),
                        Op::And => a & b,
                        Op::Or => a | b,
                        Op::Xor => a ^ b,
                        Op::Shl => a.wrapping_shl(b),
                        Op::Shr => a.wrapping_shr(b),
                    }
                }
            }
        }
        go(&self.root, slot, index)
    }

    pub fn source(&self) -> &str {
        &self.source
    }
}

impl fmt::Display for ArgExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl Serialize for ArgExpr {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.source)
    }
}

impl<'de> Deserialize<'de> for ArgExpr {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ArgExpr, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u32),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(ArgExpr::literal(n)),
            Raw::S(s) => ArgExpr::parse(&s).map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(s: &str, slot: u32, i: u32) -> u32 {
        ArgExpr::parse(s).unwrap().eval(slot, i)
    }

    #[test]
    fn arithmetic_and_precedence() {
        assert_eq!(ev("160 + slot % 16", 35, 0), 163);
        assert_eq!(ev("2 + 3 * 4", 0, 0), 14);
        assert_eq!(ev("(2 + 3) * 4", 0, 0), 20);
        assert_eq!(ev("1 << 4 | 1", 0, 0), 17);
        assert_eq!(ev("0xFF & slot ^ 1", 0x1234, 0), 0x35);
        assert_eq!(ev("i * 2", 9, 5), 10);
        assert_eq!(ev("10 - 20", 0, 0), (-10i32) as u32);
        assert_eq!(ev("7 / 0", 0, 0), 0);
        assert_eq!(ev("0xFFFF_FFFF + 1", 0, 0), 0);
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert!(ArgExpr::parse("").unwrap_err().contains("empty"));
        assert!(
            ArgExpr::parse("slot +")
                .unwrap_err()
                .contains("ends too early")
        );
        assert!(ArgExpr::parse("foo").unwrap_err().contains("unknown name"));
        assert!(
            ArgExpr::parse("(1 + 2")
                .unwrap_err()
                .contains("missing `)`")
        );
        assert!(
            ArgExpr::parse("1 $ 2")
                .unwrap_err()
                .contains("unexpected `$`")
        );
        assert!(
            ArgExpr::parse("99999999999")
                .unwrap_err()
                .contains("32-bit")
        );
        assert!(
            ArgExpr::parse("1 2")
                .unwrap_err()
                .contains("after the expression")
        );
    }

    #[test]
    fn deep_nesting_is_refused_with_the_limit() {
        let ok = format!(
            "{}1{}",
            "(".repeat(MAX_EXPR_DEPTH),
            ")".repeat(MAX_EXPR_DEPTH)
        );
        assert_eq!(ev(&ok, 0, 0), 1);
        let deep = format!(
            "{}1{}",
            "(".repeat(MAX_EXPR_DEPTH + 1),
            ")".repeat(MAX_EXPR_DEPTH + 1)
        );
        let e = ArgExpr::parse(&deep).unwrap_err();
        assert!(e.contains("deeper than 32"), "{e}");
        // tens of thousands of parentheses: refused by length before any recursion
        let huge = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
        let e = ArgExpr::parse(&huge).unwrap_err();
        assert!(e.contains("more than the 1024"), "{e}");
    }

    #[test]
    fn the_longest_chain_parses_evaluates_and_drops() {
        // a flat chain builds a tree as deep as it is long: the length cap bounds it
        let mut chain = "1".to_string();
        while chain.len() + 2 <= MAX_EXPR_LEN {
            chain.push_str("+1");
        }
        assert_eq!(ev(&chain, 0, 0), chain.len().div_ceil(2) as u32);
        chain.push_str("+1");
        assert!(ArgExpr::parse(&chain).unwrap_err().contains("bytes long"));
    }

    #[test]
    fn messages_show_tokens_as_written() {
        let e = ArgExpr::parse("1 + - 2").unwrap_err();
        assert!(e.contains("found `-`") && !e.contains("Op("), "{e}");
        let e = ArgExpr::parse("1 )").unwrap_err();
        assert!(e.contains("unexpected `)`"), "{e}");
    }

    #[test]
    fn serializes_as_source_and_accepts_numbers() {
        let e: ArgExpr = ron::from_str("\"slot * 4\"").unwrap();
        assert_eq!(ron::to_string(&e).unwrap(), "\"slot * 4\"");
        let n: ArgExpr = ron::from_str("42").unwrap();
        assert_eq!(n.eval(0, 0), 42);
        assert!(ron::from_str::<ArgExpr>("\"slot +\"").is_err());
    }
}
