//! The control buffer's word map (ABI.md §2): named indices, the encoder `reset` uses, and a
//! read-only view that decodes the named words for inspectors and reports.

use super::layout::{MAX_ENCODED_TENANT_MASKS, MAX_QUOTAS, default_priority_offsets};
use super::opcode::{Opcode, Priority};

pub const SHUTDOWN: usize = 0;
pub const DONE_COUNT: usize = 1;
/// A pointer: tenant `t`'s mask is `control[control[2] + t]`.
pub const TENANT_BASE: usize = 2;
pub const DEFAULT_TENANT_BASE: u32 = 3;
pub const TENANT_QUOTA: usize = 32;
pub const TENANT_FAIRNESS: usize = 64;
pub const METRICS: usize = 96;
pub const EPOCH: usize = 128;
/// Words 129..=134: partition starts for priorities 0..4, then the sentinel N.
pub const PRIORITY_OFFSETS: usize = 129;
pub const STARVATION: usize = 135;
/// Words 136..=140: claims per priority level.
pub const PRIORITY_FAIRNESS: usize = 136;
pub const OBSERVABLE: usize = 160;

pub const DEFAULT_QUOTA: u32 = 1_000_000;
pub const TENANT_ENABLED: u32 = 0xFFFF_FFFF;
/// `control[135] >= 16` makes the priority scan skip levels 0 and 1.
pub const STARVATION_THRESHOLD: u32 = 16;

/// Writes the control words of `reset(tenants, obs)` for a ring of `slot_count` slots: zeroes
/// every word, then the tenant pointer, masks, quotas and default partition offsets.
pub fn encode_reset(control: &mut [u32], slot_count: u32, tenant_count: u32) {
    control.fill(0);
    control[TENANT_BASE] = DEFAULT_TENANT_BASE;
    let base = DEFAULT_TENANT_BASE as usize;
    for t in 0..tenant_count.min(MAX_ENCODED_TENANT_MASKS) as usize {
        control[base + t] = TENANT_ENABLED;
    }
    for t in 0..tenant_count.min(MAX_QUOTAS) as usize {
        control[TENANT_QUOTA + t] = DEFAULT_QUOTA;
    }
    control[PRIORITY_OFFSETS..PRIORITY_OFFSETS + 6]
        .copy_from_slice(&default_priority_offsets(slot_count));
}

/// The name of control word `i` by the ABI's default placement (`TENANT_MASK[t]` names words
/// 3..=31 even though the kernel reaches masks through the `control[2]` pointer).
pub fn word_name(i: usize) -> String {
    match i {
        SHUTDOWN => "SHUTDOWN".into(),
        DONE_COUNT => "DONE_COUNT".into(),
        TENANT_BASE => "TENANT_BASE".into(),
        3..=31 => format!("TENANT_MASK[{}]", i - 3),
        32..=63 => format!("TENANT_QUOTA[{}]", i - TENANT_QUOTA),
        64..=95 => format!("TENANT_FAIRNESS[{}]", i - TENANT_FAIRNESS),
        96..=127 => {
            let op = Opcode((i - METRICS) as u32);
            format!("METRICS[{}]", op.label())
        }
        EPOCH => "EPOCH".into(),
        129..=133 => format!(
            "PRIORITY_OFFSET[{}]",
            Priority::from_level((i - PRIORITY_OFFSETS) as u32)
                .map(Priority::name)
                .unwrap_or("?")
        ),
        134 => "PRIORITY_SENTINEL".into(),
        STARVATION => "PRIORITY_STARVATION_COUNTER".into(),
        136..=140 => format!(
            "PRIORITY_FAIRNESS[{}]",
            Priority::from_level((i - PRIORITY_FAIRNESS) as u32)
                .map(Priority::name)
                .unwrap_or("?")
        ),
        141..=159 => format!("UNUSED[{i}]"),
        _ => format!("OBSERVABLE[{}]", i - OBSERVABLE),
    }
}

/// Parses a control word reference: a number, or a name such as `SHUTDOWN`, `EPOCH`,
/// `OBSERVABLE[3]`, `TENANT_MASK[1]`, `PRIORITY_OFFSET[2]`.
pub fn parse_word(text: &str) -> Option<usize> {
    let t = text.trim();
    if let Some(n) = super::opcode::parse_u32(t) {
        return Some(n as usize);
    }
    let upper = t.to_ascii_uppercase();
    let (name, index) = match upper.split_once('[') {
        Some((n, rest)) => (
            n.to_string(),
            Some(rest.strip_suffix(']')?.trim().to_string()),
        ),
        None => (upper.clone(), None),
    };
    let raw = index.as_deref();
    let idx = |max: usize| -> Option<usize> {
        let i = super::opcode::parse_u32(raw?)? as usize;
        (i < max).then_some(i)
    };
    let level = || -> Option<usize> {
        let r = raw?;
        Priority::ALL
            .iter()
            .find(|p| p.name().eq_ignore_ascii_case(r.trim()))
            .map(|p| *p as usize)
            .or_else(|| idx(5))
    };
    Some(match name.as_str() {
        "SHUTDOWN" => SHUTDOWN,
        "DONE_COUNT" => DONE_COUNT,
        "TENANT_BASE" => TENANT_BASE,
        "EPOCH" => EPOCH,
        "STARVATION" | "PRIORITY_STARVATION_COUNTER" => STARVATION,
        "PRIORITY_SENTINEL" => 134,
        "TENANT_MASK" => 3 + idx(29)?,
        "TENANT_QUOTA" => TENANT_QUOTA + idx(32)?,
        "TENANT_FAIRNESS" => TENANT_FAIRNESS + idx(32)?,
        "METRICS" => {
            let op = Opcode::parse(raw?).ok()?.0 as usize;
            METRICS + (op < 32).then_some(op)?
        }
        "PRIORITY_OFFSET" | "PRIORITY_OFFSETS" => PRIORITY_OFFSETS + level().or_else(|| idx(6))?,
        "PRIORITY_FAIRNESS" => PRIORITY_FAIRNESS + level()?,
        "UNUSED" => {
            Some(super::opcode::parse_u32(raw?)? as usize).filter(|i| (141..160).contains(i))?
        }
        "OBSERVABLE" => OBSERVABLE.checked_add(super::opcode::parse_u32(raw?)? as usize)?,
        _ => return None,
    })
}

/// A read-only decoder over a control buffer. Every accessor tolerates a short buffer (a
/// dump can be anything): missing words read as 0, like the kernel's out-of-range loads.
#[derive(Clone, Copy, Debug)]
pub struct ControlView<'a>(pub &'a [u32]);

impl<'a> ControlView<'a> {
    pub fn word(&self, i: usize) -> u32 {
        self.0.get(i).copied().unwrap_or(0)
    }
    pub fn shutdown(&self) -> u32 {
        self.word(SHUTDOWN)
    }
    pub fn done_count(&self) -> u32 {
        self.word(DONE_COUNT)
    }
    pub fn tenant_base(&self) -> u32 {
        self.word(TENANT_BASE)
    }
    /// The word index the kernel reads tenant `t`'s mask from (wrapping, as the kernel's u32
    /// arithmetic does).
    pub fn tenant_mask_index(&self, tenant: u32) -> u32 {
        self.tenant_base().wrapping_add(tenant)
    }
    /// Tenant `t`'s mask as the kernel sees it (0 when the pointer leaves the buffer).
    pub fn tenant_mask(&self, tenant: u32) -> u32 {
        self.word(self.tenant_mask_index(tenant) as usize)
    }
    /// Whether tenant `t`'s mask lookup lands outside the 29-word mask table, so it reads a
    /// quota, a counter, or an unrelated word (ABI.md §2, tenant aliasing).
    pub fn tenant_is_aliased(&self, tenant: u32) -> bool {
        tenant >= MAX_ENCODED_TENANT_MASKS
    }
    pub fn quota(&self, tenant: usize) -> u32 {
        self.word(TENANT_QUOTA + tenant)
    }
    pub fn tenant_fairness(&self, tenant: usize) -> u32 {
        self.word(TENANT_FAIRNESS + tenant)
    }
    pub fn metric(&self, op: u32) -> u32 {
        if op < 32 {
            self.word(METRICS + op as usize)
        } else {
            0
        }
    }
    /// Non-zero `(opcode, count)` pairs of the metrics words, as vyre's decoder returns them.
    pub fn metrics(&self) -> Vec<(Opcode, u32)> {
        (0..32u32)
            .filter_map(|op| {
                let n = self.metric(op);
                (n != 0).then_some((Opcode(op), n))
            })
            .collect()
    }
    pub fn epoch(&self) -> u32 {
        self.word(EPOCH)
    }
    pub fn priority_offsets(&self) -> [u32; 6] {
        std::array::from_fn(|i| self.word(PRIORITY_OFFSETS + i))
    }
    pub fn starvation(&self) -> u32 {
        self.word(STARVATION)
    }
    pub fn priority_fairness(&self) -> [u32; 5] {
        std::array::from_fn(|i| self.word(PRIORITY_FAIRNESS + i))
    }
    pub fn observable_count(&self) -> usize {
        self.0.len().saturating_sub(OBSERVABLE)
    }
    pub fn observable(&self, i: usize) -> u32 {
        self.word(OBSERVABLE + i)
    }
    /// The priority partition (0..=4) slot `s` lies in, by the first matching range; `None`
    /// when no partition covers it (the priority scan never probes it).
    pub fn partition_of(&self, slot: u32) -> Option<u32> {
        let o = self.priority_offsets();
        (0..5)
            .find(|&p| o[p] <= slot && slot < o[p + 1])
            .map(|p| p as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_encoding_matches_the_word_map() {
        let mut c = vec![7u32; 168];
        encode_reset(&mut c, 256, 3);
        assert_eq!(c[SHUTDOWN], 0);
        assert_eq!(c[TENANT_BASE], 3);
        assert_eq!(&c[3..6], &[u32::MAX; 3]);
        assert_eq!(c[6], 0);
        assert_eq!(&c[32..35], &[DEFAULT_QUOTA; 3]);
        assert_eq!(c[35], 0);
        assert_eq!(&c[129..135], &[0, 51, 102, 154, 205, 256]);
        assert!(c[160..].iter().all(|&w| w == 0));
    }

    #[test]
    fn reset_caps_masks_at_29_and_quotas_at_32() {
        let mut c = vec![0u32; 160];
        encode_reset(&mut c, 16, 40);
        assert!(c[3..32].iter().all(|&w| w == u32::MAX));
        assert!(c[32..64].iter().all(|&w| w == DEFAULT_QUOTA));
        assert_eq!(c[64], 0);
    }

    #[test]
    fn tenant_aliasing_reads_the_quota_table() {
        let mut c = vec![0u32; 160];
        encode_reset(&mut c, 16, 1);
        let v = ControlView(&c);
        assert_eq!(v.tenant_mask(0), u32::MAX);
        assert_eq!(v.tenant_mask(1), 0);
        // tenant 29 reads word 32, quota of tenant 0: authorized (ABI.md §2).
        assert_eq!(v.tenant_mask_index(29), 32);
        assert_eq!(v.tenant_mask(29), DEFAULT_QUOTA);
        assert!(v.tenant_is_aliased(29));
        assert!(!v.tenant_is_aliased(28));
        // a pointer past the buffer reads 0; the index wraps like the kernel's u32 add
        assert_eq!(v.tenant_mask(1000), 0);
        assert_eq!(v.tenant_mask_index(u32::MAX), 2);
    }

    #[test]
    fn names_cover_every_region() {
        assert_eq!(word_name(0), "SHUTDOWN");
        assert_eq!(word_name(4), "TENANT_MASK[1]");
        assert_eq!(word_name(33), "TENANT_QUOTA[1]");
        assert_eq!(word_name(96 + 2), "METRICS[ATOMIC_ADD]");
        assert_eq!(word_name(96 + 20), "METRICS[USER(0x14)]");
        assert_eq!(word_name(131), "PRIORITY_OFFSET[NORMAL]");
        assert_eq!(word_name(134), "PRIORITY_SENTINEL");
        assert_eq!(word_name(140), "PRIORITY_FAIRNESS[IDLE]");
        assert_eq!(word_name(150), "UNUSED[150]");
        assert_eq!(word_name(163), "OBSERVABLE[3]");
    }

    #[test]
    fn parse_word_accepts_names_and_numbers() {
        assert_eq!(parse_word("0"), Some(0));
        assert_eq!(parse_word("shutdown"), Some(0));
        assert_eq!(parse_word("OBSERVABLE[3]"), Some(163));
        assert_eq!(parse_word("tenant_mask[1]"), Some(4));
        assert_eq!(parse_word("PRIORITY_OFFSET[5]"), Some(134));
        assert_eq!(parse_word("PRIORITY_OFFSET[6]"), None);
        assert_eq!(parse_word("METRICS[0x2]"), Some(98));
        assert_eq!(parse_word("bogus"), None);
        for i in 0..200 {
            assert_eq!(parse_word(&word_name(i)), Some(i), "{}", word_name(i));
        }
    }

    #[test]
    fn metrics_lists_non_zero_pairs() {
        let mut c = vec![0u32; 160];
        c[METRICS + 2] = 5;
        c[METRICS + 31] = 1;
        assert_eq!(
            ControlView(&c).metrics(),
            vec![(Opcode::ATOMIC_ADD, 5), (Opcode(31), 1)]
        );
    }

    #[test]
    fn partition_lookup() {
        let mut c = vec![0u32; 160];
        encode_reset(&mut c, 10, 1);
        let v = ControlView(&c);
        assert_eq!(v.partition_of(0), Some(0));
        assert_eq!(v.partition_of(5), Some(2));
        assert_eq!(v.partition_of(9), Some(4));
        assert_eq!(v.partition_of(10), None);
    }
}
