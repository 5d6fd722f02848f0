//! Selecting slots by condition: `PUBLISHED && tenant == 1`, `opcode == PRINTF || status ==
//! FAULT`, `!DONE && partition == CRITICAL`, `a1 >= 160`. A term is a status name alone, or a
//! field compared with a number or a name; terms combine with `&&`, `||`, `!` and
//! parentheses (`&&` binds tighter). Fields: `status`, `opcode`, `tenant`, `priority` (ring
//! word 3), `partition` (the priority level whose partition holds the slot), `slot`, and
//! `a0`..`a11` (argument words).

use crate::abi::control::ControlView;
use crate::abi::opcode::{Opcode, Priority, parse_u32};
use crate::abi::status::SlotStatus;
use crate::debugger::breakpoint::CompareOp;
use crate::resident::ResidentBuffers;

/// The longest query accepted (the parser recurses on parentheses).
pub const MAX_QUERY_LEN: usize = 512;
const MAX_DEPTH: usize = 32;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Status,
    Opcode,
    Tenant,
    Priority,
    Partition,
    Slot,
    Arg(usize),
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Query {
    Cmp(Field, CompareOp, u32),
    Not(Box<Query>),
    And(Box<Query>, Box<Query>),
    Or(Box<Query>, Box<Query>),
}

/// A parsed slot query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SlotQuery {
    root: Query,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Tok {
    Word(String),
    Cmp(CompareOp),
    And,
    Or,
    Not,
    Open,
    Close,
}

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let c: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < c.len() {
        let two: String = c[i..(i + 2).min(c.len())].iter().collect();
        let (tok, n) = match (c[i], two.as_str()) {
            (ch, _) if ch.is_whitespace() => {
                i += 1;
                continue;
            }
            (_, "&&") => (Tok::And, 2),
            (_, "||") => (Tok::Or, 2),
            (_, "==") => (Tok::Cmp(CompareOp::Eq), 2),
            (_, "!=") => (Tok::Cmp(CompareOp::Ne), 2),
            (_, "<=") => (Tok::Cmp(CompareOp::Le), 2),
            (_, ">=") => (Tok::Cmp(CompareOp::Ge), 2),
            ('<', _) => (Tok::Cmp(CompareOp::Lt), 1),
            ('>', _) => (Tok::Cmp(CompareOp::Gt), 1),
            ('!', _) => (Tok::Not, 1),
            ('(', _) => (Tok::Open, 1),
            (')', _) => (Tok::Close, 1),
            (ch, _) if ch.is_alphanumeric() || ch == '_' => {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                out.push(Tok::Word(c[start..i].iter().collect()));
                continue;
            }
            (ch, _) => {
                return Err(format!(
                    "`{ch}` is not part of a query: use &&, ||, !, ( ), == != < <= > >="
                ));
            }
        };
        out.push(tok);
        i += n;
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn or(&mut self) -> Result<Query, String> {
        let mut q = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.at += 1;
            q = Query::Or(Box::new(q), Box::new(self.and()?));
        }
        Ok(q)
    }

    fn and(&mut self) -> Result<Query, String> {
        let mut q = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.at += 1;
            q = Query::And(Box::new(q), Box::new(self.unary()?));
        }
        Ok(q)
    }

    fn unary(&mut self) -> Result<Query, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("a query nests at most {MAX_DEPTH} levels"));
        }
        let q = match self.next() {
            Some(Tok::Not) => Ok(Query::Not(Box::new(self.unary()?))),
            Some(Tok::Open) => {
                let q = self.or()?;
                match self.next() {
                    Some(Tok::Close) => Ok(q),
                    _ => Err("a `(` is not closed".into()),
                }
            }
            Some(Tok::Word(w)) => self.term(&w),
            Some(t) => Err(format!("expected a condition, found {}", describe(&t))),
            None => Err("the query ends where a condition should be".into()),
        };
        self.depth -= 1;
        q
    }

    fn term(&mut self, word: &str) -> Result<Query, String> {
        // a status name alone: `PUBLISHED`
        if !matches!(self.peek(), Some(Tok::Cmp(_))) {
            return SlotStatus::parse(word)
                .map(|s| Query::Cmp(Field::Status, CompareOp::Eq, s.word()))
                .ok_or_else(|| {
                    format!(
                        "`{word}` is neither a status (PUBLISHED, DONE, …) nor followed by a comparison such as `tenant == 1`"
                    )
                });
        }
        let field = field(word)?;
        let Some(Tok::Cmp(op)) = self.next() else {
            unreachable!("peeked a comparison")
        };
        let value = match self.next() {
            Some(Tok::Word(v)) => value(field, &v)?,
            _ => return Err(format!("`{word}` is compared with nothing")),
        };
        Ok(Query::Cmp(field, op, value))
    }
}

fn describe(t: &Tok) -> String {
    match t {
        Tok::Word(w) => format!("`{w}`"),
        Tok::Cmp(op) => format!("`{}`", op.symbol()),
        Tok::And => "`&&`".into(),
        Tok::Or => "`||`".into(),
        Tok::Not => "`!`".into(),
        Tok::Open => "`(`".into(),
        Tok::Close => "`)`".into(),
    }
}

fn field(word: &str) -> Result<Field, String> {
    Ok(match word.to_ascii_lowercase().as_str() {
        "status" => Field::Status,
        "opcode" | "op" => Field::Opcode,
        "tenant" => Field::Tenant,
        "priority" => Field::Priority,
        "partition" | "level" => Field::Partition,
        "slot" => Field::Slot,
        a if a.starts_with('a') && a[1..].parse::<usize>().is_ok_and(|i| i < 12) => {
            Field::Arg(a[1..].parse().unwrap_or(0))
        }
        _ => {
            return Err(format!(
                "`{word}` is not a field: use status, opcode, tenant, priority, partition, slot or a0..a11"
            ));
        }
    })
}

fn value(f: Field, v: &str) -> Result<u32, String> {
    if let Some(n) = parse_u32(v) {
        return Ok(n);
    }
    match f {
        Field::Status => SlotStatus::parse(v)
            .map(|s| s.word())
            .ok_or_else(|| format!("`{v}` is not a status")),
        Field::Opcode => Opcode::parse(v).map(|o| o.0),
        Field::Partition => Priority::ALL
            .iter()
            .find(|p| p.name().eq_ignore_ascii_case(v))
            .map(|p| *p as u32)
            .ok_or_else(|| {
                format!("`{v}` is not a priority level (CRITICAL, HIGH, NORMAL, LOW, IDLE)")
            }),
        _ => Err(format!("`{v}` is not a number")),
    }
}

impl SlotQuery {
    pub fn parse(text: &str) -> Result<SlotQuery, String> {
        if text.len() > MAX_QUERY_LEN {
            return Err(format!(
                "a query is at most {MAX_QUERY_LEN} bytes; this one has {}",
                text.len()
            ));
        }
        if text.trim().is_empty() {
            return Err("type a condition, such as PUBLISHED && tenant == 1".into());
        }
        let mut p = Parser {
            toks: lex(text)?,
            at: 0,
            depth: 0,
        };
        let root = p.or()?;
        match p.next() {
            None => Ok(SlotQuery { root }),
            Some(t) => Err(format!(
                "{} after a whole condition: join conditions with && or ||",
                describe(&t)
            )),
        }
    }

    /// The slots of `state` that match, in order.
    pub fn matches(&self, state: &ResidentBuffers) -> Vec<u32> {
        let view = ControlView(state.control());
        (0..state.slot_count())
            .filter(|&s| {
                let w = state.slot_words(s);
                eval(&self.root, s, w, &view)
            })
            .collect()
    }
}

fn eval(q: &Query, s: u32, w: &[u32], view: &ControlView) -> bool {
    match q {
        Query::Cmp(f, op, v) => {
            let x = match f {
                Field::Status => w[0],
                Field::Opcode => w[1],
                Field::Tenant => w[2],
                Field::Priority => w[3],
                Field::Partition => view.partition_of(s).unwrap_or(u32::MAX),
                Field::Slot => s,
                Field::Arg(i) => w[4 + i],
            };
            op.holds(x, *v)
        }
        Query::Not(q) => !eval(q, s, w, view),
        Query::And(a, b) => eval(a, s, w, view) && eval(b, s, w, view),
        Query::Or(a, b) => eval(a, s, w, view) || eval(b, s, w, view),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> ResidentBuffers {
        let mut m = ResidentBuffers::new(64, 2, 0).unwrap();
        for s in 0..8u32 {
            let t = s % 2;
            crate::debugger::action::Action::Publish {
                slot: s,
                tenant: t,
                opcode: if s < 4 { Opcode::NOP } else { Opcode::PRINTF },
                args: vec![s * 10],
                priority: None,
            }
            .apply_host(&mut m)
            .unwrap();
        }
        m
    }

    #[test]
    fn conditions_select_the_slots_they_say() {
        let m = state();
        let q = |t: &str| SlotQuery::parse(t).unwrap().matches(&m);
        assert_eq!(q("PUBLISHED && tenant == 1"), [1, 3, 5, 7]);
        assert_eq!(q("opcode == PRINTF && a0 >= 60"), [6, 7]);
        assert_eq!(q("!EMPTY && (slot < 2 || slot == 7)"), [0, 1, 7]);
        assert_eq!(q("status == published").len(), 8);
        assert_eq!(q("EMPTY").len(), 56);
        assert_eq!(
            q("PUBLISHED || EMPTY && slot == 0"),
            q("PUBLISHED"),
            "&& binds tighter"
        );
        // the default partitions put every slot somewhere
        assert_eq!(
            q("partition == CRITICAL || partition == HIGH || partition == NORMAL || partition == LOW || partition == IDLE")
                .len(),
            64
        );
    }

    #[test]
    fn bad_queries_say_what_is_wrong() {
        let e = |t: &str| SlotQuery::parse(t).unwrap_err();
        assert!(e("").contains("type a condition"));
        assert!(
            e("tenat == 1").contains("not a field"),
            "{}",
            e("tenat == 1")
        );
        assert!(e("PUBLSHED").contains("neither a status"));
        assert!(e("colour == 1").contains("not a field"));
        assert!(e("opcode == FROB").contains("FROB"));
        assert!(e("(DONE").contains("not closed"));
        assert!(e("DONE DONE").contains("join conditions"));
        assert!(e("DONE && ").contains("ends where"));
        assert!(e("slot = 3").contains("`=`"));
        assert!(e(&"(".repeat(40)).contains("nests at most"));
        assert!(e(&"x".repeat(600)).contains("at most 512 bytes"));
    }
}
