//! Reading recordings: open and index (footer or scan), decode states.

use std::fs::File;
use std::ops::Range;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use crate::format::{
    ByteReader, END_MAGIC, FLAG_KEYFRAME, FOOTER_ENTRY_LEN, FRAME_FOOTER, FRAME_HEADER_LEN,
    FRAME_MAGIC, FRAME_STEP, HEADER_FIXED_LEN, MAGIC, MAX_JSON_LEN, TRAILER_LEN, block_count,
    block_range, check_fingerprint, copy_words, decode_runs, max_runs_bytes, parse_frame_header,
};
use crate::{
    BLOCK_WORDS, BufferKind, Changed, FORMAT_VERSION, Fingerprint, Meta, RecordError, State,
    StepInfo,
};

/// Where one buffer's section of a step frame lies in the file.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    blocks_at: usize,
    block_count: usize,
    data_at: usize,
    data_len: usize,
}

/// One indexed step.
#[derive(Debug)]
struct Entry {
    offset: u64,
    end: u64,
    keyframe: bool,
    info: StepInfo,
    sections: [Section; 4],
}

/// How the indexed part of the file ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tail {
    /// A valid footer follows the last step.
    Finished,
    /// The frames end cleanly at the end of the file, without footer.
    NoFooter,
    /// The last frame runs past the end of the file.
    Torn { step: usize, offset: u64 },
    /// Indexing stopped at damage (see `damage`).
    Damaged,
}

/// What reading one frame found.
enum Frame {
    Step(Box<Entry>),
    Footer,
    /// A frame of a type this reader does not know, with a valid checksum: skipped.
    Skip(u64),
    Torn(String),
    Damaged(String),
}

/// One step decoded on its own: a keyframe's whole state, or the words a delta changed as
/// `(index, XOR)` per buffer (in [`BufferKind::ALL`] order). Applying it to the state after the
/// step before gives the state after this step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StepChange {
    pub step: usize,
    pub keyframe: Option<State>,
    pub words: [Vec<(u32, u32)>; 4],
}

impl StepChange {
    /// Applies the change to buffer `kind` (`buf` as long as the fingerprint says; a delta's
    /// indices are within it, as the reader checked).
    pub fn apply(&self, kind: BufferKind, buf: &mut [u32]) {
        match &self.keyframe {
            Some(state) => buf.copy_from_slice(state.get(kind)),
            None => {
                for &(i, x) in &self.words[kind.index()] {
                    buf[i as usize] ^= x;
                }
            }
        }
    }
}

/// An opened recording (memory-mapped; `Send + Sync`).
///
/// The file must not be truncated or rewritten in place while it is open (appending, as a live
/// recorder does, is fine): like every memory-mapped reader, that may crash the process.
pub struct Recording {
    path: PathBuf,
    map: Option<Mmap>,
    meta: Meta,
    header_len: u64,
    entries: Vec<Entry>,
    /// Warnings that stay; tail warnings (torn frame, no footer) follow them and are recomputed
    /// by `refresh`.
    base_warnings: usize,
    warnings: Vec<String>,
    damage: Option<RecordError>,
    tail: Tail,
    /// Offset just past the last indexed frame (where `refresh` resumes scanning).
    scan_end: u64,
}

fn io_error(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> RecordError {
    let path = path.to_path_buf();
    move |source| RecordError::Io {
        path,
        action,
        source,
    }
}

fn map_file(path: &Path) -> Result<Option<Mmap>, RecordError> {
    let file = File::open(path).map_err(io_error(path, "open"))?;
    let len = file.metadata().map_err(io_error(path, "stat"))?.len();
    if len == 0 {
        return Ok(None);
    }
    // SAFETY: the map is only read, through bounds-checked slices. A recording is append-only;
    // truncating it while it is mapped is documented as unsupported.
    let map = unsafe { Mmap::map(&file) }.map_err(io_error(path, "memory-map"))?;
    Ok(Some(map))
}

fn parse_header(path: &Path, bytes: &[u8]) -> Result<(Meta, u64), RecordError> {
    let bad = |reason: String| RecordError::BadHeader {
        path: path.to_path_buf(),
        reason,
    };
    if bytes.len() < MAGIC.len() {
        if bytes.is_empty() {
            return Err(bad("the file is empty".into()));
        }
        if bytes == &MAGIC[..bytes.len()] {
            return Err(bad(format!(
                "the file is only {} bytes, cut off inside the header",
                bytes.len()
            )));
        }
        return Err(RecordError::NotARecording {
            path: path.to_path_buf(),
        });
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(RecordError::NotARecording {
            path: path.to_path_buf(),
        });
    }
    let mut r = ByteReader::new(&bytes[MAGIC.len()..]);
    let truncated = |e: String| bad(format!("the header is truncated ({e})"));
    let version = r.u32("the format version").map_err(truncated)?;
    if version == 0 {
        return Err(bad("format version 0 does not exist".into()));
    }
    if version > FORMAT_VERSION {
        return Err(RecordError::FutureVersion {
            path: path.to_path_buf(),
            version,
            supported: FORMAT_VERSION,
        });
    }
    let json_len = r.u32("the header length").map_err(truncated)? as usize;
    if json_len > MAX_JSON_LEN {
        return Err(bad(format!(
            "its JSON claims {json_len} bytes, more than the {MAX_JSON_LEN} allowed"
        )));
    }
    let json = r.bytes(json_len, "the header JSON").map_err(truncated)?;
    let crc = r.u32("the header checksum").map_err(truncated)?;
    if crc32fast::hash(json) != crc {
        return Err(bad("the header checksum does not match its JSON".into()));
    }
    let meta: Meta =
        serde_json::from_slice(json).map_err(|e| bad(format!("its JSON is invalid: {e}")))?;
    check_fingerprint(&meta.fingerprint).map_err(bad)?;
    Ok((meta, (HEADER_FIXED_LEN + json_len) as u64))
}

/// Parses a step payload (at absolute offset `abs`) structurally; decompresses nothing.
fn parse_step(
    payload: &[u8],
    abs: usize,
    step: usize,
    fp: &Fingerprint,
) -> Result<(bool, StepInfo, [Section; 4]), String> {
    let mut r = ByteReader::new(payload);
    let s = r.u64("the step index")?;
    if s != step as u64 {
        return Err(format!(
            "the frame says it is step {s}, expected step {step}"
        ));
    }
    let flags = r.u32("the flags")?;
    if flags & !FLAG_KEYFRAME != 0 {
        return Err(format!("unknown flags {flags:#x}"));
    }
    let keyframe = flags & FLAG_KEYFRAME != 0;
    if step == 0 && !keyframe {
        return Err("step 0 is not a keyframe".into());
    }
    let json_len = r.u32("the info length")? as usize;
    if json_len > MAX_JSON_LEN {
        return Err(format!("the step info claims {json_len} bytes"));
    }
    let json = r.bytes(json_len, "the step info")?;
    let info: StepInfo =
        serde_json::from_slice(json).map_err(|e| format!("the step info is invalid: {e}"))?;
    let mut sections = [Section::default(); 4];
    for kind in BufferKind::ALL {
        let words = r.u32("a buffer length")? as usize;
        let expected = fp.words(kind);
        if words != expected {
            return Err(format!(
                "buffer {kind} has {words} words, the header's fingerprint says {expected}"
            ));
        }
        let blocks = block_count(words);
        let count = r.u32("a block count")? as usize;
        if count > blocks || (keyframe && count != blocks) {
            return Err(format!(
                "buffer {kind} lists {count} blocks of its {blocks} (keyframe: {keyframe})"
            ));
        }
        let blocks_at = abs + r.pos();
        let list = r.bytes(count * 4, "a block list")?;
        let mut prev: Option<u32> = None;
        for c in list.chunks_exact(4) {
            let b = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
            if b as usize >= blocks || prev.is_some_and(|p| p >= b) {
                return Err(format!(
                    "buffer {kind} lists block {b}, out of order or past its {blocks} blocks"
                ));
            }
            prev = Some(b);
        }
        let data_len = r.u64("a data length")?;
        let data_len = usize::try_from(data_len)
            .ok()
            .filter(|&n| n <= r.remaining())
            .ok_or_else(|| format!("buffer {kind} claims {data_len} bytes of data"))?;
        if count == 0 && data_len != 0 {
            return Err(format!("buffer {kind} has data but no blocks"));
        }
        let data_at = abs + r.pos();
        r.bytes(data_len, "the data")?;
        sections[kind.index()] = Section {
            blocks_at,
            block_count: count,
            data_at,
            data_len,
        };
    }
    if r.remaining() != 0 {
        return Err(format!(
            "{} unexpected bytes after the buffers",
            r.remaining()
        ));
    }
    Ok((keyframe, info, sections))
}

/// Reads the frame at `pos`, expected to be step `step` if it is a step.
fn read_frame(bytes: &[u8], fp: &Fingerprint, pos: u64, step: usize) -> Frame {
    let Some(rest) = usize::try_from(pos).ok().and_then(|p| bytes.get(p..)) else {
        return Frame::Damaged(format!("offset {pos} is past the end of the file"));
    };
    if rest.len() < FRAME_HEADER_LEN {
        let n = rest.len().min(FRAME_MAGIC.len());
        if rest[..n] == FRAME_MAGIC[..n] {
            return Frame::Torn(format!("only {} bytes of its header", rest.len()));
        }
        return Frame::Damaged("no frame magic where a frame should start".into());
    }
    let Some(h) = parse_frame_header(rest) else {
        return Frame::Damaged("no frame magic where a frame should start".into());
    };
    let avail = (rest.len() - FRAME_HEADER_LEN) as u64;
    if h.payload_len > avail {
        return Frame::Torn(format!(
            "it claims {} bytes, only {avail} were written",
            h.payload_len
        ));
    }
    let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + h.payload_len as usize];
    let frame_len = FRAME_HEADER_LEN as u64 + h.payload_len;
    if h.kind == FRAME_FOOTER && rest.len() as u64 == frame_len + TRAILER_LEN as u64 {
        // A footer right before the trailer ends the steps, even when its own index is damaged
        // (scanning has rebuilt that index anyway).
        return Frame::Footer;
    }
    if crc32fast::hash(payload) != h.crc {
        return Frame::Damaged("the frame checksum does not match".into());
    }
    let end = pos + frame_len;
    match h.kind {
        FRAME_STEP => match parse_step(payload, pos as usize + FRAME_HEADER_LEN, step, fp) {
            Ok((keyframe, info, sections)) => Frame::Step(Box::new(Entry {
                offset: pos,
                end,
                keyframe,
                info,
                sections,
            })),
            Err(reason) => Frame::Damaged(reason),
        },
        FRAME_FOOTER => Frame::Footer,
        _ => Frame::Skip(end),
    }
}

/// Reusable decoding context.
#[derive(Default)]
struct Decoder {
    dctx: Option<zstd::bulk::Decompressor<'static>>,
    scratch: Vec<u8>,
    blocks: Vec<usize>,
    /// Words the listed blocks hold.
    words: usize,
}

impl Recording {
    /// Opens and indexes a recording. A torn last frame (crash while writing) is dropped with a
    /// warning; a missing footer is rebuilt by scanning (with a warning); a footer that disagrees
    /// with the frames is ignored and the index rebuilt by scanning (warning). Damage before the
    /// end (bad checksum, bad frame) does NOT fail open: every intact step before it opens, and
    /// [`Recording::damage`] says where. Fails only when the header itself is unreadable, not a
    /// recording, or a future [`FORMAT_VERSION`].
    pub fn open(path: impl AsRef<Path>) -> Result<Recording, RecordError> {
        let path = path.as_ref().to_path_buf();
        let map = map_file(&path)?;
        let (meta, header_len) = parse_header(&path, map.as_deref().unwrap_or(&[]))?;
        let mut rec = Recording {
            path,
            map,
            meta,
            header_len,
            entries: Vec::new(),
            base_warnings: 0,
            warnings: Vec::new(),
            damage: None,
            tail: Tail::NoFooter,
            scan_end: header_len,
        };
        match rec.read_footer() {
            Ok(Some((offsets, footer_offset))) => rec.index_listed(&offsets, footer_offset),
            Ok(None) => rec.scan_from(header_len),
            Err(reason) => {
                rec.warnings.push(format!(
                    "{}: the footer disagrees with the frames ({reason}): ignored, the index was rebuilt by scanning",
                    rec.path.display()
                ));
                rec.base_warnings = rec.warnings.len();
                rec.scan_from(header_len);
            }
        }
        rec.tail_warnings();
        Ok(rec)
    }

    fn bytes(&self) -> &[u8] {
        self.map.as_deref().unwrap_or(&[])
    }

    /// Reads the trailer and footer: `Ok(None)` without trailer, `Err` when they disagree with the
    /// file or its frames, else every step's frame offset and the footer's offset.
    fn read_footer(&self) -> Result<Option<(Vec<u64>, u64)>, String> {
        let bytes = self.bytes();
        let len = bytes.len();
        if len < self.header_len as usize + TRAILER_LEN || bytes[len - 8..] != END_MAGIC {
            return Ok(None);
        }
        let mut r = ByteReader::new(&bytes[len - TRAILER_LEN..]);
        let footer_offset = r.u64("the footer offset")?;
        let trailer_at = (len - TRAILER_LEN) as u64;
        if footer_offset < self.header_len || footer_offset >= trailer_at {
            return Err(format!("the trailer points at byte {footer_offset}"));
        }
        let at = footer_offset as usize;
        let h =
            parse_frame_header(&bytes[at..]).ok_or("no footer frame where the trailer points")?;
        if h.kind != FRAME_FOOTER
            || h.payload_len != trailer_at - footer_offset - FRAME_HEADER_LEN as u64
        {
            return Err("the footer frame does not end at the trailer".into());
        }
        let payload = &bytes[at + FRAME_HEADER_LEN..len - TRAILER_LEN];
        if crc32fast::hash(payload) != h.crc {
            return Err("the footer checksum does not match".into());
        }
        let mut r = ByteReader::new(payload);
        let count = r.u64("the step count")?;
        if Some(r.remaining() as u64) != count.checked_mul(FOOTER_ENTRY_LEN as u64) {
            return Err(format!(
                "it claims {count} steps but has room for another number"
            ));
        }
        let mut offsets = Vec::with_capacity(count as usize);
        let mut expected = self.header_len;
        for i in 0..count {
            let offset = r.u64("an offset")?;
            let step = r.u64("a step")?;
            let flags = r.u32("flags")?;
            r.u32("reserved")?;
            let bad = |what: &str| Err(format!("step {i}: {what}"));
            if step != i {
                return bad(&format!("the entry says step {step}"));
            }
            if offset != expected {
                return bad(&format!(
                    "it points at byte {offset}, the previous frame ends at {expected}"
                ));
            }
            let Some(fh) = parse_frame_header(&bytes[offset as usize..]) else {
                return bad(&format!("no frame at byte {offset}"));
            };
            let end = offset
                .checked_add(FRAME_HEADER_LEN as u64)
                .and_then(|e| e.checked_add(fh.payload_len))
                .filter(|&e| e <= footer_offset);
            let Some(end) = end else {
                return bad("its frame runs past the footer");
            };
            if fh.kind != FRAME_STEP || fh.payload_len < 12 {
                return bad("the frame there is not a step");
            }
            let p = offset as usize + FRAME_HEADER_LEN;
            let mut pr = ByteReader::new(&bytes[p..p + 12]);
            let frame_step = pr.u64("")?;
            let frame_flags = pr.u32("")?;
            if frame_step != i {
                return bad(&format!("the frame there is step {frame_step}"));
            }
            if (frame_flags & FLAG_KEYFRAME) != (flags & FLAG_KEYFRAME) {
                return bad("the keyframe flag differs from the frame's");
            }
            offsets.push(offset);
            expected = end;
        }
        if expected != footer_offset {
            return Err(format!(
                "the frames end at byte {expected}, the footer starts at {footer_offset}"
            ));
        }
        Ok(Some((offsets, footer_offset)))
    }

    /// Indexes the frames a (structurally checked) footer lists.
    fn index_listed(&mut self, offsets: &[u64], footer_offset: u64) {
        for (step, &offset) in offsets.iter().enumerate() {
            match read_frame(self.bytes(), &self.meta.fingerprint, offset, step) {
                Frame::Step(entry) => {
                    self.scan_end = entry.end;
                    self.entries.push(*entry);
                }
                Frame::Damaged(reason) | Frame::Torn(reason) => {
                    self.set_damage(step, offset, reason);
                    return;
                }
                Frame::Footer | Frame::Skip(_) => {
                    self.set_damage(step, offset, "the frame is not a step".into());
                    return;
                }
            }
        }
        self.scan_end = footer_offset;
        self.tail = Tail::Finished;
    }

    /// Indexes frames from `pos` to the end of the file (or the footer, or damage).
    fn scan_from(&mut self, mut pos: u64) {
        let len = self.bytes().len() as u64;
        loop {
            let step = self.entries.len();
            if pos >= len {
                self.tail = Tail::NoFooter;
                break;
            }
            match read_frame(self.bytes(), &self.meta.fingerprint, pos, step) {
                Frame::Step(entry) => {
                    pos = entry.end;
                    self.entries.push(*entry);
                }
                Frame::Skip(end) => pos = end,
                Frame::Footer => {
                    self.tail = Tail::Finished;
                    break;
                }
                Frame::Torn(_) => {
                    self.tail = Tail::Torn { step, offset: pos };
                    break;
                }
                Frame::Damaged(reason) => {
                    self.set_damage(step, pos, reason);
                    break;
                }
            }
        }
        self.scan_end = pos;
    }

    fn set_damage(&mut self, step: usize, offset: u64, reason: String) {
        self.damage = Some(RecordError::Damaged {
            path: self.path.clone(),
            step,
            offset,
            reason,
        });
        self.tail = Tail::Damaged;
    }

    /// Recomputes the warnings about how the file ends.
    fn tail_warnings(&mut self) {
        self.warnings.truncate(self.base_warnings);
        let path = self.path.display();
        match self.tail {
            Tail::Finished | Tail::Damaged => {}
            Tail::NoFooter => self.warnings.push(format!(
                "{path}: no footer (the recorder did not finish: it crashed or is still recording); the index of {} steps was rebuilt by scanning",
                self.entries.len()
            )),
            Tail::Torn { step, offset } => self.warnings.push(format!(
                "{path}: the last frame (step {step}, at byte {offset}) is torn: dropped; the recording was probably cut short by a crash"
            )),
        }
    }

    /// The file this recording was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The header: fingerprint, program, keyframe interval, extra fields.
    pub fn meta(&self) -> &Meta {
        &self.meta
    }

    /// Intact steps.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when no step is intact.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What step `step` was.
    pub fn info(&self, step: usize) -> Option<&StepInfo> {
        self.entries.get(step).map(|e| &e.info)
    }

    /// Things that were wrong but did not stop indexing (torn last frame, missing or lying footer).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// Damage that stopped indexing before the end of the file: a [`RecordError::Damaged`] naming
    /// the first unreadable step (steps before it are intact).
    pub fn damage(&self) -> Option<&RecordError> {
        self.damage.as_ref()
    }

    /// True when the file ends with a valid footer (the recorder finished).
    pub fn is_finished(&self) -> bool {
        self.tail == Tail::Finished
    }

    /// The size of the file as mapped (grows with [`Recording::refresh`]).
    pub fn file_bytes(&self) -> u64 {
        self.bytes().len() as u64
    }

    /// The bytes step `step`'s frame takes in the file.
    pub fn step_bytes(&self, step: usize) -> Option<u64> {
        self.entries.get(step).map(|e| e.end - e.offset)
    }

    /// True when step `step` is stored as a full state.
    pub fn is_keyframe(&self, step: usize) -> bool {
        self.entries.get(step).is_some_and(|e| e.keyframe)
    }

    /// The nearest keyframe at or before `step` (`None` when `step` is out of range).
    pub fn keyframe_before(&self, step: usize) -> Option<usize> {
        if step >= self.entries.len() {
            return None;
        }
        (0..=step).rev().find(|&i| self.entries[i].keyframe)
    }

    fn entry(&self, step: usize) -> Result<&Entry, RecordError> {
        self.entries
            .get(step)
            .ok_or_else(|| RecordError::StepOutOfRange {
                path: self.path.clone(),
                step,
                len: self.entries.len(),
            })
    }

    /// The full state after `step`: decodes the nearest keyframe at or before it, applies deltas.
    pub fn state(&self, step: usize) -> Result<State, RecordError> {
        self.entry(step)?;
        let first = self.keyframe_before(step).unwrap_or(0);
        let mut state = State::default();
        let mut dec = Decoder::default();
        for i in first..=step {
            self.apply_with(i, &mut state, &mut dec)?;
        }
        Ok(state)
    }

    /// Decodes step `step` without a state to apply it to (see [`StepChange`]): a reader can
    /// decode ahead on another thread and apply the changes in order.
    pub fn step_change(&self, step: usize) -> Result<StepChange, RecordError> {
        let keyframe = self.entry(step)?.keyframe;
        let mut change = StepChange {
            step,
            ..Default::default()
        };
        if keyframe {
            let mut state = State::default();
            self.apply_step(step, &mut state)?;
            change.keyframe = Some(state);
            return Ok(change);
        }
        let mut dec = Decoder::default();
        for kind in BufferKind::ALL {
            self.load_section(step, kind, &mut dec)?;
            let words = &mut change.words[kind.index()];
            self.for_each_run(step, kind, &dec, |i, x| words.push((i as u32, x)))?;
        }
        Ok(change)
    }

    /// Applies step `step`'s frame on top of `state` (which must be the state after `step - 1`, or
    /// anything if `step` is a keyframe). Used for fast sequential walks. On error `state` may be
    /// partly updated.
    pub fn apply_step(&self, step: usize, state: &mut State) -> Result<(), RecordError> {
        self.apply_with(step, state, &mut Decoder::default())
    }

    /// Decompresses buffer `kind`'s section of step `step` into `dec.scratch`, its block indices
    /// into `dec.blocks`.
    fn load_section(
        &self,
        step: usize,
        kind: BufferKind,
        dec: &mut Decoder,
    ) -> Result<(), RecordError> {
        let e = self.entry(step)?;
        let s = e.sections[kind.index()];
        let words = self.meta.fingerprint.words(kind);
        let damaged = |reason: String| RecordError::Damaged {
            path: self.path.clone(),
            step,
            offset: e.offset,
            reason: format!("buffer {kind}: {reason}"),
        };
        let bytes = self.bytes();
        let list = bytes
            .get(s.blocks_at..s.blocks_at + 4 * s.block_count)
            .ok_or_else(|| damaged("the block list lies outside the file".into()))?;
        let blocks = block_count(words);
        dec.blocks.clear();
        let mut expected = 0usize;
        for c in list.chunks_exact(4) {
            let b = u32::from_le_bytes([c[0], c[1], c[2], c[3]]) as usize;
            if b >= blocks || dec.blocks.last().is_some_and(|&p| p >= b) {
                return Err(damaged(format!("bad block index {b}")));
            }
            dec.blocks.push(b);
            expected += block_range(b, words).len() * 4;
        }
        dec.scratch.clear();
        if dec.blocks.is_empty() {
            return Ok(());
        }
        let data = bytes
            .get(s.data_at..s.data_at + s.data_len)
            .ok_or_else(|| damaged("the data lies outside the file".into()))?;
        if dec.dctx.is_none() {
            let d =
                zstd::bulk::Decompressor::new().map_err(io_error(&self.path, "start zstd for"))?;
            dec.dctx = Some(d);
        }
        let Some(dctx) = dec.dctx.as_mut() else {
            unreachable!("set above")
        };
        // A keyframe holds its blocks' raw words; a delta, their XOR run-encoded.
        let capacity = if e.keyframe {
            expected
        } else {
            max_runs_bytes(expected / 4)
        };
        dec.scratch.reserve(capacity);
        let n = dctx
            .decompress_to_buffer(data, &mut dec.scratch)
            .map_err(|e| damaged(format!("zstd cannot decompress it: {e}")))?;
        if e.keyframe && n != expected {
            return Err(damaged(format!(
                "it decompresses to {n} bytes, its blocks need {expected}"
            )));
        }
        dec.words = expected / 4;
        Ok(())
    }

    /// Calls `f(word index in the buffer, XOR value)` for every changed word of the delta section
    /// `load_section` left in `dec`, mapped from the concatenated blocks to the buffer.
    fn for_each_run(
        &self,
        step: usize,
        kind: BufferKind,
        dec: &Decoder,
        mut f: impl FnMut(usize, u32),
    ) -> Result<(), RecordError> {
        // every listed block is BLOCK_WORDS long except the buffer's last, listed last
        decode_runs(&dec.scratch, dec.words, |pos, w| {
            let at = dec.blocks[pos / BLOCK_WORDS] * BLOCK_WORDS + pos % BLOCK_WORDS;
            f(at, w)
        })
        .map_err(|reason| RecordError::Damaged {
            path: self.path.clone(),
            step,
            offset: self.entries[step].offset,
            reason: format!("buffer {kind}: {reason}"),
        })
    }

    fn apply_with(
        &self,
        step: usize,
        state: &mut State,
        dec: &mut Decoder,
    ) -> Result<(), RecordError> {
        let keyframe = self.entry(step)?.keyframe;
        let fp = &self.meta.fingerprint;
        if !keyframe {
            for kind in BufferKind::ALL {
                let (expected, actual) = (fp.words(kind), state.get(kind).len());
                if expected != actual {
                    return Err(RecordError::BufferLength {
                        buffer: kind.name(),
                        expected,
                        actual,
                    });
                }
            }
        }
        for kind in BufferKind::ALL {
            self.load_section(step, kind, dec)?;
            let words = fp.words(kind);
            let buf = state.get_mut(kind);
            if keyframe {
                buf.resize(words, 0);
            }
            if keyframe {
                let mut at = 0;
                for &b in &dec.blocks {
                    let r = block_range(b, words);
                    let n = r.len() * 4;
                    copy_words(&mut buf[r], &dec.scratch[at..at + n]);
                    at += n;
                }
            } else {
                self.for_each_run(step, kind, dec, |i, w| buf[i] ^= w)?;
            }
        }
        Ok(())
    }

    /// The word ranges step `step` changed relative to step `step - 1` (exact words), per buffer.
    /// Step 0 changed every word.
    pub fn changed(&self, step: usize) -> Result<Changed, RecordError> {
        let e = self.entry(step)?;
        let fp = &self.meta.fingerprint;
        let mut out = Changed::default();
        if step == 0 {
            for kind in BufferKind::ALL {
                let words = fp.words(kind);
                if words > 0 {
                    out.get_mut(kind).push(0..words);
                }
            }
            return Ok(out);
        }
        if e.keyframe {
            let prev = self.state(step - 1)?;
            let mut cur = State::default();
            self.apply_step(step, &mut cur)?;
            for kind in BufferKind::ALL {
                let ranges = out.get_mut(kind);
                for (i, (a, b)) in prev.get(kind).iter().zip(cur.get(kind)).enumerate() {
                    if a != b {
                        push_word(ranges, i);
                    }
                }
            }
            return Ok(out);
        }
        let mut dec = Decoder::default();
        for kind in BufferKind::ALL {
            self.load_section(step, kind, &mut dec)?;
            let ranges = out.get_mut(kind);
            self.for_each_run(step, kind, &dec, |i, _| push_word(ranges, i))?;
        }
        Ok(out)
    }

    /// Re-reads the file's tail for steps appended by a program still recording (live follow).
    /// Returns how many new steps were indexed.
    pub fn refresh(&mut self) -> Result<usize, RecordError> {
        if matches!(self.tail, Tail::Finished | Tail::Damaged) {
            return Ok(0);
        }
        let map = map_file(&self.path)?;
        let new_len = map.as_deref().map_or(0, <[u8]>::len) as u64;
        if new_len <= self.file_bytes() {
            return Ok(0);
        }
        self.map = map;
        let before = self.entries.len();
        self.scan_from(self.scan_end);
        self.tail_warnings();
        Ok(self.entries.len() - before)
    }

    /// Every state of the recording in order, computed incrementally (one decode per step; each
    /// state is cloned: prefer [`StepCursor`] for large rings).
    pub fn steps(&self) -> Steps<'_> {
        Steps {
            cursor: StepCursor::new(self),
        }
    }

    /// A cursor over every state of the recording in order (one decode per step, no clones).
    pub fn cursor(&self) -> StepCursor<'_> {
        StepCursor::new(self)
    }
}

fn push_word(ranges: &mut Vec<Range<usize>>, i: usize) {
    match ranges.last_mut() {
        Some(last) if last.end == i => last.end = i + 1,
        _ => ranges.push(i..i + 1),
    }
}

/// Walks every state of a recording in order, decoding one frame per step into one state it
/// lends out.
pub struct StepCursor<'a> {
    rec: &'a Recording,
    state: State,
    next: usize,
    done: bool,
    dec: Decoder,
}

impl<'a> StepCursor<'a> {
    /// A cursor before step 0.
    pub fn new(rec: &'a Recording) -> Self {
        StepCursor {
            rec,
            state: State::default(),
            next: 0,
            done: false,
            dec: Decoder::default(),
        }
    }

    /// The next step and the state after it; `None` after the last step or after an error.
    #[allow(clippy::should_implement_trait)]
    pub fn next_step(&mut self) -> Option<Result<(usize, &State), RecordError>> {
        if self.done || self.next >= self.rec.len() {
            return None;
        }
        let step = self.next;
        match self.rec.apply_with(step, &mut self.state, &mut self.dec) {
            Ok(()) => {
                self.next += 1;
                Some(Ok((step, &self.state)))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }

    /// The state after the last step returned (empty before the first).
    pub fn state(&self) -> &State {
        &self.state
    }

    /// The step `next_step` returns next.
    pub fn position(&self) -> usize {
        self.next
    }
}

/// Every state of a recording in order (clones each state; see [`StepCursor`]).
pub struct Steps<'a> {
    cursor: StepCursor<'a>,
}

impl Iterator for Steps<'_> {
    type Item = Result<(usize, State), RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        self.cursor
            .next_step()
            .map(|r| r.map(|(i, s)| (i, s.clone())))
    }
}
