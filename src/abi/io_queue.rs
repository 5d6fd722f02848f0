//! The IO queue (ABI.md §7): 8-word IO slots. No direct-variant kernel touches it; the
//! priority variant's IO loop would, with buffers outside the ABI.

use super::layout::IO_SLOT_WORDS;

pub const IO_OP_READ: u32 = 1;
pub const IO_OP_WRITE: u32 = 2;
pub const IO_OP_FENCE: u32 = 3;

pub const IO_EMPTY: u32 = 0;
pub const IO_PUBLISHED: u32 = 1;
pub const IO_CLAIMED: u32 = 2;
pub const IO_DONE: u32 = 3;
pub const IO_OK: u32 = 0x10;
pub const IO_ERROR: u32 = 0x11;

/// Word offsets inside an IO slot (the `io/mod.rs` constants).
pub const IO_W_OP_TYPE: usize = 0;
pub const IO_W_SRC: usize = 1;
pub const IO_W_DST: usize = 2;
pub const IO_W_OFFSET_LO: usize = 3;
pub const IO_W_OFFSET_HI: usize = 4;
pub const IO_W_BYTES: usize = 5;
pub const IO_W_STATUS: usize = 6;
pub const IO_W_TAG: usize = 7;

/// One decoded IO slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, serde::Serialize)]
pub struct IoSlot {
    pub op_type: u32,
    pub src_handle: u32,
    pub dst_handle: u32,
    pub offset: u64,
    pub byte_count: u32,
    pub status: u32,
    pub tag: u32,
}

impl IoSlot {
    pub fn decode(w: &[u32]) -> IoSlot {
        let g = |i: usize| w.get(i).copied().unwrap_or(0);
        IoSlot {
            op_type: g(IO_W_OP_TYPE),
            src_handle: g(IO_W_SRC),
            dst_handle: g(IO_W_DST),
            offset: ((g(IO_W_OFFSET_HI) as u64) << 32) | g(IO_W_OFFSET_LO) as u64,
            byte_count: g(IO_W_BYTES),
            status: g(IO_W_STATUS),
            tag: g(IO_W_TAG),
        }
    }

    pub fn is_empty_slot(&self) -> bool {
        *self == IoSlot::default()
    }

    pub fn op_name(&self) -> String {
        match self.op_type {
            IO_OP_READ => "READ".into(),
            IO_OP_WRITE => "WRITE".into(),
            IO_OP_FENCE => "FENCE".into(),
            0 => "-".into(),
            v => format!("{v:#x}"),
        }
    }

    pub fn status_name(&self) -> String {
        io_status_name(self.status)
    }
}

pub fn io_status_name(status: u32) -> String {
    match status {
        IO_EMPTY => "EMPTY".into(),
        IO_PUBLISHED => "PUBLISHED".into(),
        IO_CLAIMED => "CLAIMED".into(),
        IO_DONE => "DONE".into(),
        IO_OK => "OK".into(),
        IO_ERROR => "ERROR".into(),
        v => format!("INVALID({v:#x})"),
    }
}

/// Decodes every IO slot of a queue (a trailing partial slot is ignored).
pub fn decode_io_queue(words: &[u32]) -> Vec<IoSlot> {
    words
        .chunks_exact(IO_SLOT_WORDS)
        .map(IoSlot::decode)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_fields_in_io_mod_order() {
        let w = [IO_OP_READ, 5, 6, 0xDEAD, 0x1, 4096, IO_PUBLISHED, 77];
        let s = IoSlot::decode(&w);
        assert_eq!(s.src_handle, 5);
        assert_eq!(s.dst_handle, 6);
        assert_eq!(s.offset, 0x1_0000_DEAD);
        assert_eq!(s.byte_count, 4096);
        assert_eq!(s.status_name(), "PUBLISHED");
        assert_eq!(s.tag, 77);
        assert_eq!(s.op_name(), "READ");
        assert_eq!(io_status_name(0x11), "ERROR");
        assert_eq!(decode_io_queue(&[0u32; 20]).len(), 2);
    }
}
