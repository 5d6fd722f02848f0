//! Constants and byte-level helpers of the file format (see FORMAT.md).

use std::ops::Range;

use crate::{BLOCK_WORDS, BufferKind, Fingerprint, MAX_BUFFER_WORDS};

/// The file's first 8 bytes.
pub(crate) const MAGIC: [u8; 8] = *b"MSREC\r\n\x1a";
/// The first 4 bytes of every frame.
pub(crate) const FRAME_MAGIC: [u8; 4] = *b"MSFR";
/// The file's last 8 bytes once finished.
pub(crate) const END_MAGIC: [u8; 8] = *b"MSRECEND";
/// magic (4) + type (4) + payload length (8) + crc32 (4).
pub(crate) const FRAME_HEADER_LEN: usize = 20;
/// footer offset (8) + end magic (8).
pub(crate) const TRAILER_LEN: usize = 16;
pub(crate) const FRAME_STEP: u32 = 1;
pub(crate) const FRAME_FOOTER: u32 = 2;
/// offset (8) + step (8) + flags (4) + reserved (4).
pub(crate) const FOOTER_ENTRY_LEN: usize = 24;
pub(crate) const FLAG_KEYFRAME: u32 = 1;
/// The largest header or step-info JSON accepted.
pub(crate) const MAX_JSON_LEN: usize = 16 << 20;
/// magic (8) + version (4) + JSON length (4) + crc32 (4), without the JSON.
pub(crate) const HEADER_FIXED_LEN: usize = 20;

/// Blocks of a buffer of `words` words.
pub(crate) fn block_count(words: usize) -> usize {
    words.div_ceil(BLOCK_WORDS)
}

/// The words of block `block` of a buffer of `words` words (the last block may be short).
pub(crate) fn block_range(block: usize, words: usize) -> Range<usize> {
    let start = block * BLOCK_WORDS;
    start..(start + BLOCK_WORDS).min(words)
}

/// Checks a fingerprint read from a file is one we can allocate for.
pub(crate) fn check_fingerprint(fp: &Fingerprint) -> Result<(), String> {
    for kind in BufferKind::ALL {
        let words = fp.words(kind);
        if words > MAX_BUFFER_WORDS {
            return Err(format!(
                "the fingerprint says buffer {kind} has {words} words, more than the {MAX_BUFFER_WORDS} a reader accepts"
            ));
        }
    }
    Ok(())
}

/// A bounds-checked little-endian reader over a byte slice.
pub(crate) struct ByteReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> ByteReader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        ByteReader { buf, pos: 0 }
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.remaining() {
            return Err(format!(
                "{what} needs {n} bytes but only {} remain",
                self.remaining()
            ));
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    pub(crate) fn u32(&mut self, what: &str) -> Result<u32, String> {
        let b = self.bytes(4, what)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    pub(crate) fn u64(&mut self, what: &str) -> Result<u64, String> {
        let b = self.bytes(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
}

/// A parsed frame header.
pub(crate) struct FrameHeader {
    pub(crate) kind: u32,
    pub(crate) payload_len: u64,
    pub(crate) crc: u32,
}

/// Parses the 20 bytes of a frame header; `None` when the magic is wrong.
pub(crate) fn parse_frame_header(b: &[u8]) -> Option<FrameHeader> {
    if b.len() < FRAME_HEADER_LEN || b[..4] != FRAME_MAGIC {
        return None;
    }
    let mut r = ByteReader::new(&b[4..FRAME_HEADER_LEN]);
    Some(FrameHeader {
        kind: r.u32("").ok()?,
        payload_len: r.u64("").ok()?,
        crc: r.u32("").ok()?,
    })
}

/// Fills in the frame header at the start of `frame` (whose first 20 bytes are a placeholder).
pub(crate) fn seal_frame(frame: &mut [u8], kind: u32) {
    let payload = &frame[FRAME_HEADER_LEN..];
    let len = payload.len() as u64;
    let crc = crc32fast::hash(payload);
    frame[..4].copy_from_slice(&FRAME_MAGIC);
    frame[4..8].copy_from_slice(&kind.to_le_bytes());
    frame[8..16].copy_from_slice(&len.to_le_bytes());
    frame[16..20].copy_from_slice(&crc.to_le_bytes());
}

/// The little-endian bytes of `words` (no copy on little-endian machines).
#[cfg(target_endian = "little")]
pub(crate) fn le_bytes(words: &[u32]) -> std::borrow::Cow<'_, [u8]> {
    // SAFETY: u8 has no alignment or validity requirements, the length covers exactly the
    // words' bytes, and on a little-endian machine those bytes are the little-endian encoding.
    std::borrow::Cow::Borrowed(unsafe {
        std::slice::from_raw_parts(words.as_ptr().cast::<u8>(), std::mem::size_of_val(words))
    })
}

/// The little-endian bytes of `words`.
#[cfg(not(target_endian = "little"))]
pub(crate) fn le_bytes(words: &[u32]) -> std::borrow::Cow<'_, [u8]> {
    std::borrow::Cow::Owned(words.iter().flat_map(|w| w.to_le_bytes()).collect())
}

/// Copies little-endian `bytes` into `dst` (`bytes.len() == 4 * dst.len()`).
pub(crate) fn copy_words(dst: &mut [u32], bytes: &[u8]) {
    for (w, c) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
        *w = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

fn push_varint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 u32 at `*at`; `None` when cut short or longer than five bytes.
#[inline]
fn read_varint(bytes: &[u8], at: &mut usize) -> Option<u32> {
    let mut v: u32 = 0;
    for shift in (0..35).step_by(7) {
        let b = *bytes.get(*at)?;
        *at += 1;
        v |= ((b & 0x7f) as u32).checked_shl(shift)?;
        if b & 0x80 == 0 {
            return (shift < 28 || b < 0x10).then_some(v);
        }
    }
    None
}

/// Run-encodes a delta section's XOR words (the changed blocks, concatenated): for each
/// maximal run of non-zero words, `skip` (zero words before it), `n` (its length) and its `n`
/// words, every number a LEB128 varint; zero words after the last run are implicit. A dispatch
/// changes a few words of each slot it runs, mostly by small amounts (a status, a counter), so
/// this is many times smaller than the dense XOR, and decoding writes only what changed.
pub(crate) fn encode_runs(xor: &[u32], out: &mut Vec<u8>) {
    out.clear();
    let mut i = 0;
    let mut last_end = 0;
    while i < xor.len() {
        if xor[i] == 0 {
            i += 1;
            continue;
        }
        let start = i;
        while i < xor.len() && xor[i] != 0 {
            i += 1;
        }
        push_varint(out, (start - last_end) as u32);
        push_varint(out, (i - start) as u32);
        for &w in &xor[start..i] {
            push_varint(out, w);
        }
        last_end = i;
    }
}

/// The largest run-encoded size of `words` XOR words, in bytes: at most one run per two words
/// (ten bytes of skip and length) and five bytes a word.
pub(crate) fn max_runs_bytes(words: usize) -> usize {
    (words / 2 + 1) * 10 + words * 5
}

/// Walks a run-encoded section covering `total` words, calling `f(position, word)` for each
/// non-zero XOR word (position in the concatenated blocks). Refuses a stream that runs past
/// `total`, has an empty run or stops inside one.
pub(crate) fn decode_runs(
    bytes: &[u8],
    total: usize,
    mut f: impl FnMut(usize, u32),
) -> Result<(), String> {
    let cut = || "a run is cut short or malformed".to_string();
    let (mut at, mut pos) = (0usize, 0usize);
    while at < bytes.len() {
        let skip = read_varint(bytes, &mut at).ok_or_else(cut)? as usize;
        let n = read_varint(bytes, &mut at).ok_or_else(cut)? as usize;
        pos = pos
            .checked_add(skip)
            .filter(|&p| n > 0 && p.checked_add(n).is_some_and(|e| e <= total))
            .ok_or_else(|| {
                format!("a run of {n} words after {skip} lies past the {total} words of its blocks")
            })?;
        for _ in 0..n {
            let w = read_varint(bytes, &mut at).ok_or_else(cut)?;
            f(pos, w);
            pos += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod runs_tests {
    use super::*;

    fn round_trip(xor: &[u32]) {
        let mut enc = Vec::new();
        encode_runs(xor, &mut enc);
        assert!(enc.len() <= max_runs_bytes(xor.len()), "{xor:?}");
        let mut back = vec![0u32; xor.len()];
        decode_runs(&enc, xor.len(), |pos, w| back[pos] = w).unwrap();
        assert_eq!(back, xor);
    }

    #[test]
    fn runs_round_trip() {
        round_trip(&[]);
        round_trip(&[0, 0, 0]);
        round_trip(&[1, 2, 3]);
        round_trip(&[0, 5, 0, 6, 0]);
        round_trip(&[7, 0, 0, 0, 8, 9]);
        round_trip(&[
            u32::MAX,
            0x80,
            0x7f,
            0x3fff,
            0x4000,
            0x0fff_ffff,
            0x1000_0000,
        ]);
        let alternating: Vec<u32> = (0..101).map(|i| (i % 2) * u32::MAX).collect();
        round_trip(&alternating);
    }

    #[test]
    fn a_status_change_per_slot_costs_three_bytes() {
        let mut xor = vec![0u32; 16 * 64];
        for s in 0..64 {
            xor[16 * s] = 2;
        }
        let mut enc = Vec::new();
        encode_runs(&xor, &mut enc);
        assert_eq!(enc.len(), 64 * 3);
    }

    #[test]
    fn runs_past_their_blocks_are_refused() {
        let bad = |enc: &[u8]| decode_runs(enc, 4, |_, _| {}).is_err();
        assert!(bad(&[3, 2, 1, 1]), "past the blocks");
        assert!(bad(&[0, 2, 1]), "cut inside a run");
        assert!(bad(&[0, 0]), "an empty run");
        assert!(
            bad(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]),
            "a varint longer than five bytes"
        );
        assert!(
            bad(&[0xff, 0xff, 0xff, 0xff, 0x7f, 1, 1]),
            "a varint past u32"
        );
        assert!(
            !bad(&[1, 2, 5, 6]),
            "{:?}",
            decode_runs(&[1, 2, 5, 6], 4, |_, _| {})
        );
    }
}
