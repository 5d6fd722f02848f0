//! Opcodes (ABI.md §4.1) and slot priorities. An opcode is any u32 — dumps hold whatever a
//! program wrote — so it is a newtype with names for the values vyre knows, not a closed enum.

use std::fmt;

/// A slot's opcode word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Opcode(pub u32);

impl Opcode {
    pub const NOP: Opcode = Opcode(0);
    pub const STORE_U32: Opcode = Opcode(1);
    pub const ATOMIC_ADD: Opcode = Opcode(2);
    pub const LOAD_U32: Opcode = Opcode(3);
    pub const COMPARE_SWAP: Opcode = Opcode(4);
    pub const MEMCPY: Opcode = Opcode(5);
    pub const DFA_STEP: Opcode = Opcode(6);
    pub const BATCH_FENCE: Opcode = Opcode(7);
    pub const LOAD_MISS: Opcode = Opcode(0xFFFD);
    pub const PRINTF: Opcode = Opcode(0xFFFE);
    pub const PACKED_SLOT: Opcode = Opcode(0x8000_0001);
    pub const SHUTDOWN: Opcode = Opcode(0xFFFF_FFFF);

    /// Every opcode with a name, in value order of the table in ABI.md §4.1.
    pub const NAMED: [Opcode; 12] = [
        Opcode::NOP,
        Opcode::STORE_U32,
        Opcode::ATOMIC_ADD,
        Opcode::LOAD_U32,
        Opcode::COMPARE_SWAP,
        Opcode::MEMCPY,
        Opcode::DFA_STEP,
        Opcode::BATCH_FENCE,
        Opcode::LOAD_MISS,
        Opcode::PRINTF,
        Opcode::PACKED_SLOT,
        Opcode::SHUTDOWN,
    ];

    /// The opcodes a user can publish through the API and that have a built-in meaning.
    pub const PUBLISHABLE_BUILTINS: [Opcode; 11] = [
        Opcode::NOP,
        Opcode::STORE_U32,
        Opcode::ATOMIC_ADD,
        Opcode::LOAD_U32,
        Opcode::COMPARE_SWAP,
        Opcode::MEMCPY,
        Opcode::DFA_STEP,
        Opcode::BATCH_FENCE,
        Opcode::PRINTF,
        Opcode::PACKED_SLOT,
        Opcode::SHUTDOWN,
    ];

    /// The ABI name, if the value has one.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Opcode::NOP => "NOP",
            Opcode::STORE_U32 => "STORE_U32",
            Opcode::ATOMIC_ADD => "ATOMIC_ADD",
            Opcode::LOAD_U32 => "LOAD_U32",
            Opcode::COMPARE_SWAP => "COMPARE_SWAP",
            Opcode::MEMCPY => "MEMCPY",
            Opcode::DFA_STEP => "DFA_STEP",
            Opcode::BATCH_FENCE => "BATCH_FENCE",
            Opcode::LOAD_MISS => "LOAD_MISS",
            Opcode::PRINTF => "PRINTF",
            Opcode::PACKED_SLOT => "PACKED_SLOT",
            Opcode::SHUTDOWN => "SHUTDOWN",
            _ => return None,
        })
    }

    /// The name, or `USER(0x…)` / `SYSTEM(0x…)` for unnamed values.
    pub fn label(self) -> String {
        match self.name() {
            Some(n) => n.to_string(),
            None if self.is_system() => format!("SYSTEM({:#x})", self.0),
            None => format!("USER({:#x})", self.0),
        }
    }

    /// The system range: the high bit set, 0xFFF0..=0xFFFF, or 0..=7.
    pub fn is_system(self) -> bool {
        self.0 & 0x8000_0000 != 0 || (0xFFF0..=0xFFFF).contains(&self.0) || self.0 <= 7
    }

    /// Built-in opcodes the kernel has a handler (or a defined no-op) for.
    pub fn is_builtin(self) -> bool {
        self.name().is_some()
    }

    /// vyre's publishers accept built-ins other than LOAD_MISS, and anything outside the
    /// system range (the user range 8..=0xFFEF).
    pub fn is_publishable(self) -> bool {
        Opcode::PUBLISHABLE_BUILTINS.contains(&self) || !self.is_system()
    }

    /// Why [`Opcode::is_publishable`] says no.
    pub fn unpublishable_reason(self) -> Option<&'static str> {
        if self.is_publishable() {
            None
        } else if self == Opcode::LOAD_MISS {
            Some("LOAD_MISS is reserved; only vyre's raw encoder writes it")
        } else {
            Some(
                "it lies in the system range (high bit, 0xFFF0..=0xFFFF) and is not a built-in; use a user opcode 8..=0xFFEF",
            )
        }
    }

    /// Whether the kernel increments `METRICS[op]` for it (op < 32).
    pub fn has_metric(self) -> bool {
        self.0 < 32
    }

    /// Whether the kernel does anything beyond the metric for this opcode. Everything else
    /// (user opcodes, DFA_STEP, LOAD_MISS outside the self-loading build) ends DONE with no
    /// effect, which is what the `unknown_opcode` diagnostic points at.
    pub fn has_handler(self) -> bool {
        matches!(
            self,
            Opcode::NOP
                | Opcode::STORE_U32
                | Opcode::ATOMIC_ADD
                | Opcode::LOAD_U32
                | Opcode::COMPARE_SWAP
                | Opcode::MEMCPY
                | Opcode::BATCH_FENCE
                | Opcode::PRINTF
                | Opcode::PACKED_SLOT
                | Opcode::SHUTDOWN
        )
    }

    /// Parses a name (any case, `CAS` accepted), a decimal number or a `0x` hex number.
    pub fn parse(text: &str) -> Result<Opcode, String> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("CAS") {
            return Ok(Opcode::COMPARE_SWAP);
        }
        if let Some(op) = Opcode::NAMED
            .iter()
            .find(|op| op.name().is_some_and(|n| n.eq_ignore_ascii_case(t)))
        {
            return Ok(*op);
        }
        let unlabelled = ["USER(", "SYSTEM("].iter().find_map(|prefix| {
            let upper = t.to_ascii_uppercase();
            upper
                .strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(')'))
                .map(str::to_string)
        });
        parse_u32(unlabelled.as_deref().unwrap_or(t)).map(Opcode).ok_or_else(|| {
            format!(
                "`{t}` is not an opcode: give a name (NOP, STORE_U32, ATOMIC_ADD, LOAD_U32, COMPARE_SWAP, MEMCPY, DFA_STEP, BATCH_FENCE, PRINTF, PACKED_SLOT, SHUTDOWN) or a number such as 8 or 0x1234"
            )
        })
    }

    /// How many argument words the handler reads (a0..a2), for forms and hints.
    pub fn arg_names(self) -> &'static [&'static str] {
        match self {
            Opcode::STORE_U32 => &["value", "word"],
            Opcode::ATOMIC_ADD => &["amount", "word"],
            Opcode::LOAD_U32 => &["src word", "observable index"],
            Opcode::COMPARE_SWAP => &["word", "expected", "new"],
            Opcode::MEMCPY => &["src word", "dst word", "count"],
            Opcode::BATCH_FENCE => &["item count (ignored)", "tag"],
            Opcode::PRINTF => &["fmt id", "arg 1", "arg 2"],
            _ => &[],
        }
    }
}

impl fmt::Display for Opcode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.label())
    }
}

/// Parses a u32 written in decimal, `0x` hex or `0b` binary, with `_` separators allowed.
pub fn parse_u32(text: &str) -> Option<u32> {
    let t: String = text.trim().chars().filter(|c| *c != '_').collect();
    let (digits, radix) = if let Some(h) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(b) = t.strip_prefix("0b").or_else(|| t.strip_prefix("0B")) {
        (b, 2)
    } else {
        (t.as_str(), 10)
    };
    if digits.is_empty() {
        return None;
    }
    u32::from_str_radix(digits, radix).ok()
}

/// The five priority levels (ABI.md §3.1). The kernel takes priority from the partition a slot
/// lies in, never from word 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Priority {
    Critical = 0,
    High = 1,
    Normal = 2,
    Low = 3,
    Idle = 4,
}

impl Priority {
    pub const ALL: [Priority; 5] = [
        Priority::Critical,
        Priority::High,
        Priority::Normal,
        Priority::Low,
        Priority::Idle,
    ];

    pub fn from_level(level: u32) -> Option<Priority> {
        Priority::ALL.get(level as usize).copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            Priority::Critical => "CRITICAL",
            Priority::High => "HIGH",
            Priority::Normal => "NORMAL",
            Priority::Low => "LOW",
            Priority::Idle => "IDLE",
        }
    }
}

/// Opcodes are stored by name (`"ATOMIC_ADD"`) or as hex (`"0x1234"`) so session files read
/// like the ABI tables; numbers are accepted on input too.
impl serde::Serialize for Opcode {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.name() {
            Some(n) => s.serialize_str(n),
            None => s.serialize_str(&format!("{:#x}", self.0)),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Opcode {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Opcode, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Opcode;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an opcode name such as \"ATOMIC_ADD\", a hex string such as \"0x1234\", or a number")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Opcode, E> {
                Opcode::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Opcode, E> {
                u32::try_from(v)
                    .map(Opcode)
                    .map_err(|_| E::custom(format!("opcode {v} does not fit in 32 bits")))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Opcode, E> {
                u32::try_from(v)
                    .map(Opcode)
                    .map_err(|_| E::custom(format!("opcode {v} is not a 32-bit unsigned value")))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_parse() {
        for op in Opcode::NAMED {
            assert_eq!(Opcode::parse(op.name().unwrap()).unwrap(), op);
            assert_eq!(
                Opcode::parse(&op.name().unwrap().to_lowercase()).unwrap(),
                op
            );
        }
        assert_eq!(Opcode::parse("cas").unwrap(), Opcode::COMPARE_SWAP);
        assert_eq!(Opcode::parse("0x1234").unwrap(), Opcode(0x1234));
        assert_eq!(Opcode::parse("42").unwrap(), Opcode(42));
        assert!(Opcode::parse("FROB").unwrap_err().contains("not an opcode"));
        assert!(Opcode::parse("0x1_0000_0000").is_err());
    }

    #[test]
    fn publishability_follows_the_system_range() {
        for op in Opcode::PUBLISHABLE_BUILTINS {
            assert!(op.is_publishable(), "{op}");
        }
        assert!(!Opcode::LOAD_MISS.is_publishable());
        assert!(Opcode(8).is_publishable());
        assert!(Opcode(0xFFEF).is_publishable());
        assert!(!Opcode(0xFFF0).is_publishable());
        assert!(!Opcode(0xFFFC).is_publishable());
        assert!(!Opcode(0x8000_0000).is_publishable());
        assert!(Opcode(0x1_0000).is_publishable());
        assert!(
            Opcode(0xFFF0)
                .unpublishable_reason()
                .unwrap()
                .contains("system range")
        );
        assert!(
            Opcode::LOAD_MISS
                .unpublishable_reason()
                .unwrap()
                .contains("reserved")
        );
    }

    #[test]
    fn labels_name_unknown_values() {
        assert_eq!(Opcode(0x20).label(), "USER(0x20)");
        assert_eq!(Opcode::parse("USER(0x20)").unwrap(), Opcode(0x20));
        assert_eq!(
            Opcode::parse(&Opcode(0xFFF1).label()).unwrap(),
            Opcode(0xFFF1)
        );
        assert_eq!(Opcode(0xFFF1).label(), "SYSTEM(0xfff1)");
        assert_eq!(Opcode::PACKED_SLOT.label(), "PACKED_SLOT");
    }

    #[test]
    fn handlers_and_metrics() {
        assert!(!Opcode::DFA_STEP.has_handler());
        assert!(Opcode::DFA_STEP.has_metric());
        assert!(!Opcode::PRINTF.has_metric());
        assert!(!Opcode(31).has_handler());
        assert!(Opcode(31).has_metric());
        assert!(!Opcode(32).has_metric());
    }

    #[test]
    fn parse_u32_forms() {
        assert_eq!(parse_u32("0xFFFF_FFFF"), Some(u32::MAX));
        assert_eq!(parse_u32("0b101"), Some(5));
        assert_eq!(parse_u32("1_000"), Some(1000));
        assert_eq!(parse_u32("-1"), None);
        assert_eq!(parse_u32("0x"), None);
        assert_eq!(parse_u32("4294967296"), None);
    }
}
