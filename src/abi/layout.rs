//! Buffer geometry of vyre's resident megakernel (ABI.md §1–§3, §6, §7).
//!
//! Every length here is computed with checked arithmetic: a dump or a session can carry any
//! number, and a wrapped length would silently truncate the state we claim to show.

use super::error::AbiError;

/// Words of one ring slot (64 bytes).
pub const SLOT_WORDS: usize = 16;
/// Bytes of one ring slot.
pub const SLOT_BYTES: usize = SLOT_WORDS * 4;
/// Argument words of a slot (words 4..16).
pub const ARG_WORDS: usize = 12;

/// Slot word offsets (ABI.md §3.1).
pub const W_STATUS: usize = 0;
pub const W_OPCODE: usize = 1;
pub const W_TENANT: usize = 2;
pub const W_PRIORITY: usize = 3;
pub const W_ARGS: usize = 4;

/// The smallest control buffer: 160 words; observable words follow.
pub const CONTROL_MIN_WORDS: usize = 160;

/// Records the kernel's PRINTF bound is compiled for (ABI.md §6).
pub const DEBUG_RECORD_CAPACITY: usize = 64;
/// Words of one debug record: `[fmt_id, a1, a2, slot_base]`.
pub const DEBUG_RECORD_WORDS: usize = 4;
/// Words of the debug log: the cursor plus 64 records (257 words, 1028 bytes).
pub const DEBUG_LOG_WORDS: usize = 1 + DEBUG_RECORD_CAPACITY * DEBUG_RECORD_WORDS;

/// IO slots of the mirror (the compiled poll window).
pub const IO_SLOTS: usize = 64;
/// Words of one IO slot.
pub const IO_SLOT_WORDS: usize = 8;
/// Words of the mirror's IO queue (512 words, 2048 bytes).
pub const IO_QUEUE_WORDS: usize = IO_SLOTS * IO_SLOT_WORDS;

/// The encoder's allocation cap for ring slots and observable words.
pub const MAX_SLOTS: u32 = 1 << 20;
/// The encoder's allocation cap for observable words.
pub const MAX_OBSERVABLE: u32 = 1 << 20;
/// Tenant masks the encoder writes (words 3..31).
pub const MAX_ENCODED_TENANT_MASKS: u32 = 29;
/// Tenant quotas the encoder writes (words 32..63).
pub const MAX_QUOTAS: u32 = 32;
/// The largest workgroup the kernels are built with.
pub const MAX_WORKGROUP: u32 = 256;

/// Words of the control buffer for `observable` observable words.
pub fn control_words(observable: u32) -> Result<usize, AbiError> {
    CONTROL_MIN_WORDS
        .checked_add(observable as usize)
        .filter(|w| w.checked_mul(4).is_some() && *w <= u32::MAX as usize)
        .ok_or(AbiError::LengthOverflow {
            what: "control buffer",
            count: observable as u64,
        })
}

/// Words of the ring for `slot_count` slots.
pub fn ring_words(slot_count: u32) -> Result<usize, AbiError> {
    (slot_count as usize)
        .checked_mul(SLOT_WORDS)
        .filter(|w| w.checked_mul(4).is_some() && *w <= u32::MAX as usize)
        .ok_or(AbiError::LengthOverflow {
            what: "ring",
            count: slot_count as u64,
        })
}

/// Bytes of the ring for `slot_count` slots.
pub fn ring_bytes(slot_count: u32) -> Result<usize, AbiError> {
    Ok(ring_words(slot_count)? * 4)
}

/// The default workgroup size: the largest power of two ≤ 256 that divides `slot_count`.
/// `slot_count == 0` gives 256 (no workgroups run).
pub fn default_workgroup_size(slot_count: u32) -> u32 {
    if slot_count == 0 {
        return MAX_WORKGROUP;
    }
    let mut wg = MAX_WORKGROUP;
    while wg > 1 && !slot_count.is_multiple_of(wg) {
        wg /= 2;
    }
    wg
}

/// Checks a workgroup size a user asked for. vyre only needs it to divide the slot count and
/// fit the 256-lane limit; a power of two is not required.
pub fn check_workgroup_size(slot_count: u32, wg: u32) -> Result<(), AbiError> {
    if wg == 0 || wg > MAX_WORKGROUP || (slot_count != 0 && !slot_count.is_multiple_of(wg)) {
        return Err(AbiError::BadWorkgroupSize {
            workgroup_size: wg,
            slot_count,
        });
    }
    Ok(())
}

/// The partition starts written by `reset` (ABI.md §5.4): `[0, b, 2b, 3b+r, 4b+r, N]` with
/// `b = N/5`, `r = N%5`; the NORMAL partition takes the remainder.
pub fn default_priority_offsets(slot_count: u32) -> [u32; 6] {
    let b = slot_count / 5;
    let r = slot_count % 5;
    [0, b, 2 * b, 3 * b + r, 4 * b + r, slot_count]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_offsets_match_the_abi_table() {
        let table: [(u32, [u32; 6]); 7] = [
            (4, [0, 0, 0, 4, 4, 4]),
            (10, [0, 2, 4, 6, 8, 10]),
            (16, [0, 3, 6, 10, 13, 16]),
            (256, [0, 51, 102, 154, 205, 256]),
            (1024, [0, 204, 408, 616, 820, 1024]),
            (65_536, [0, 13107, 26214, 39322, 52429, 65536]),
            (1_048_576, [0, 209715, 419430, 629146, 838861, 1048576]),
        ];
        for (n, want) in table {
            assert_eq!(default_priority_offsets(n), want, "N = {n}");
        }
    }

    #[test]
    fn workgroup_is_largest_power_of_two_dividing_n() {
        assert_eq!(default_workgroup_size(256), 256);
        assert_eq!(default_workgroup_size(1 << 20), 256);
        assert_eq!(default_workgroup_size(384), 128);
        assert_eq!(default_workgroup_size(100), 4);
        assert_eq!(default_workgroup_size(7), 1);
        assert_eq!(default_workgroup_size(64), 64);
    }

    #[test]
    fn workgroup_check_rejects_non_divisors_and_oversize() {
        assert!(check_workgroup_size(256, 64).is_ok());
        assert!(check_workgroup_size(256, 96).is_err());
        assert!(check_workgroup_size(512, 512).is_err());
        assert!(check_workgroup_size(256, 0).is_err());
    }

    #[test]
    fn lengths_are_checked() {
        assert_eq!(control_words(0).unwrap(), 160);
        assert_eq!(control_words(8).unwrap(), 168);
        assert_eq!(ring_words(4).unwrap(), 64);
        assert_eq!(ring_bytes(1 << 20).unwrap(), 64 << 20);
        assert!(ring_words(u32::MAX).is_err());
        assert!(control_words(u32::MAX).is_err());
        assert_eq!(DEBUG_LOG_WORDS, 257);
        assert_eq!(IO_QUEUE_WORDS, 512);
    }
}
