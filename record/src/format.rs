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

/// XORs little-endian `bytes` into `dst` (`bytes.len() == 4 * dst.len()`).
pub(crate) fn xor_words(dst: &mut [u32], bytes: &[u8]) {
    for (w, c) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
        *w ^= u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

/// Run-encodes a delta section's XOR words (the changed blocks, concatenated): for each
/// maximal run of non-zero words, `[zero words before it, its length, its words…]`; zero
/// words after the last run are implicit. A dispatch changes a few words of each slot it
/// runs, so this is several times smaller than the dense XOR before compression, and
/// decoding writes only the words that changed.
pub(crate) fn encode_runs(xor: &[u32], out: &mut Vec<u32>) {
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
        out.push((start - last_end) as u32);
        out.push((i - start) as u32);
        out.extend_from_slice(&xor[start..i]);
        last_end = i;
    }
}

/// The largest run-encoded size of `words` XOR words, in bytes: alternating zero and
/// non-zero words take three words per non-zero one.
pub(crate) fn max_runs_bytes(words: usize) -> usize {
    (words / 2 + 1) * 3 * 4
}

/// Walks a run-encoded section covering `total` words, calling `f(position, bytes)` for each
/// run (position in the concatenated blocks, the run's little-endian words). Refuses a stream
/// that runs past `total` or stops inside a run.
pub(crate) fn decode_runs(
    bytes: &[u8],
    total: usize,
    mut f: impl FnMut(usize, &[u8]),
) -> Result<(), String> {
    if bytes.len() % 4 != 0 {
        return Err(format!(
            "its runs are {} bytes, not whole words",
            bytes.len()
        ));
    }
    let word = |at: usize| {
        u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize
    };
    let (mut at, mut pos) = (0usize, 0usize);
    while at < bytes.len() {
        if at + 8 > bytes.len() {
            return Err("a run is cut short".into());
        }
        let (skip, n) = (word(at), word(at + 4));
        at += 8;
        pos = pos
            .checked_add(skip)
            .filter(|&p| n > 0 && p.checked_add(n).is_some_and(|e| e <= total))
            .ok_or_else(|| {
                format!("a run of {n} words after {skip} lies past the {total} words of its blocks")
            })?;
        let end = at + 4 * n;
        let run = bytes.get(at..end).ok_or("a run is cut short")?;
        f(pos, run);
        pos += n;
        at = end;
    }
    Ok(())
}

#[cfg(test)]
mod runs_tests {
    use super::*;

    fn round_trip(xor: &[u32]) {
        let mut enc = Vec::new();
        encode_runs(xor, &mut enc);
        assert!(enc.len() * 4 <= max_runs_bytes(xor.len()), "{xor:?}");
        let bytes: Vec<u8> = enc.iter().flat_map(|w| w.to_le_bytes()).collect();
        let mut back = vec![0u32; xor.len()];
        decode_runs(&bytes, xor.len(), |pos, run| {
            for (k, c) in run.chunks_exact(4).enumerate() {
                back[pos + k] = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            }
        })
        .unwrap();
        assert_eq!(back, xor);
    }

    #[test]
    fn runs_round_trip() {
        round_trip(&[]);
        round_trip(&[0, 0, 0]);
        round_trip(&[1, 2, 3]);
        round_trip(&[0, 5, 0, 6, 0]);
        round_trip(&[7, 0, 0, 0, 8, 9]);
        let alternating: Vec<u32> = (0..101).map(|i| i % 2).collect();
        round_trip(&alternating);
    }

    #[test]
    fn runs_past_their_blocks_are_refused() {
        let enc: Vec<u8> = [3u32, 2, 1, 1]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert!(decode_runs(&enc, 4, |_, _| {}).is_err());
        let cut: Vec<u8> = [0u32, 2, 1].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert!(decode_runs(&cut, 4, |_, _| {}).is_err());
        let empty_run: Vec<u8> = [0u32, 0].iter().flat_map(|w| w.to_le_bytes()).collect();
        assert!(decode_runs(&empty_run, 4, |_, _| {}).is_err());
        let huge: Vec<u8> = [u32::MAX, 1, 1]
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .collect();
        assert!(decode_runs(&huge, 4, |_, _| {}).is_err());
    }
}
