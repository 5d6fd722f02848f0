//! The recorder: the caller's thread validates and copies, a writer thread diffs, compresses and
//! appends frames.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::Serialize;

use crate::format::{
    END_MAGIC, FLAG_KEYFRAME, FRAME_FOOTER, FRAME_HEADER_LEN, FRAME_STEP, MAGIC, MAX_JSON_LEN,
    block_count, block_range, check_fingerprint, encode_runs, le_bytes, seal_frame,
};
use crate::{
    BLOCK_WORDS, BufferKind, Buffers, Changed, FORMAT_VERSION, Fingerprint, Meta, QUEUE_DEPTH,
    RecordError, State, StepInfo, ZSTD_LEVEL,
};

/// Totals of a finished recording.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RecordSummary {
    /// Steps written.
    pub steps: u64,
    /// Bytes of the file.
    pub bytes: u64,
    /// Steps stored as keyframes (full states).
    pub keyframes: u64,
}

/// One changed range handed to the writer by `record_changed`.
struct Patch {
    kind: BufferKind,
    start: usize,
    len: usize,
}

enum Msg {
    Full {
        info: StepInfo,
        state: State,
        /// Hand the replaced shadow back for `record` to reuse.
        recycle: bool,
    },
    Patch {
        info: StepInfo,
        patches: Vec<Patch>,
        data: Vec<u32>,
    },
    Finish,
}

/// Writes a recording. The caller's thread only validates and copies (or moves); one background
/// thread, fed through a queue of [`QUEUE_DEPTH`] steps, diffs, compresses and appends each step as
/// one frame, flushed to the file as soon as it is written (so a live reader sees it).
///
/// Dropping a recorder without [`Recorder::finish`] waits for the queued steps to be written and
/// leaves a file without footer, which [`crate::Recording::open`] reads by scanning.
pub struct Recorder {
    path: PathBuf,
    fingerprint: Fingerprint,
    tx: Option<SyncSender<Msg>>,
    handle: Option<JoinHandle<Result<RecordSummary, RecordError>>>,
    recycle: Receiver<State>,
    steps: u64,
    have_full: bool,
    failed: Option<String>,
}

impl Recorder {
    /// Creates (truncates) `path`, writes the header, starts the writer thread.
    pub fn create(path: impl AsRef<Path>, meta: Meta) -> Result<Recorder, RecordError> {
        let path = path.as_ref().to_path_buf();
        if meta.keyframe_interval == 0 {
            return Err(RecordError::BadMeta(
                "keyframe_interval is 0; use at least 1 (DEFAULT_KEYFRAME_INTERVAL is 64)".into(),
            ));
        }
        check_fingerprint(&meta.fingerprint).map_err(RecordError::BadMeta)?;
        let json = serde_json::to_vec(&meta)
            .map_err(|e| RecordError::BadMeta(format!("cannot encode it as JSON: {e}")))?;
        if json.len() > MAX_JSON_LEN {
            return Err(RecordError::BadMeta(format!(
                "its JSON is {} bytes, more than the {MAX_JSON_LEN} a reader accepts; keep `extra` small",
                json.len()
            )));
        }
        let mut header = Vec::with_capacity(json.len() + 20);
        header.extend_from_slice(&MAGIC);
        header.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        header.extend_from_slice(&(json.len() as u32).to_le_bytes());
        header.extend_from_slice(&json);
        header.extend_from_slice(&crc32fast::hash(&json).to_le_bytes());

        let io = |action: &'static str| {
            let path = path.clone();
            move |source| RecordError::Io {
                path,
                action,
                source,
            }
        };
        let mut file = File::create(&path).map_err(io("create"))?;
        file.write_all(&header).map_err(io("write the header of"))?;

        let (tx, rx) = sync_channel(QUEUE_DEPTH);
        let (recycle_tx, recycle) = sync_channel(2);
        let writer = Writer {
            path: path.clone(),
            file,
            fingerprint: meta.fingerprint.clone(),
            interval: u64::from(meta.keyframe_interval),
            shadow: State::default(),
            step: 0,
            pos: header.len() as u64,
            keyframes: 0,
            index: Vec::new(),
            compressor: zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(io("start zstd for"))?,
            xor: Vec::new(),
            runs: Vec::new(),
            old: Vec::new(),
            blocks: Vec::new(),
            comp: Vec::new(),
            frame: Vec::new(),
            recycle: recycle_tx,
        };
        let handle = std::thread::Builder::new()
            .name("msrec-writer".into())
            .spawn(move || writer.run(rx))
            .map_err(io("start the writer thread for"))?;
        Ok(Recorder {
            path,
            fingerprint: meta.fingerprint,
            tx: Some(tx),
            handle: Some(handle),
            recycle,
            steps: 0,
            have_full: false,
            failed: None,
        })
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The fingerprint every recorded state must match.
    pub fn fingerprint(&self) -> &Fingerprint {
        &self.fingerprint
    }

    /// Records a step by copying the whole buffers (the simple way; costs one copy on this thread).
    pub fn record(&mut self, info: StepInfo, buffers: Buffers<'_>) -> Result<(), RecordError> {
        self.check_lengths(buffers)?;
        self.check_failed()?;
        let mut state = self.recycle.try_recv().unwrap_or_default();
        for kind in BufferKind::ALL {
            let v = state.get_mut(kind);
            v.clear();
            v.extend_from_slice(buffers.get(kind));
        }
        self.send(Msg::Full {
            info,
            state,
            recycle: true,
        })?;
        self.have_full = true;
        Ok(())
    }

    /// Records a step handing over owned buffers (no copy on this thread; the writer diffs them).
    pub fn record_owned(&mut self, info: StepInfo, state: State) -> Result<(), RecordError> {
        self.check_lengths(state.as_buffers())?;
        self.send(Msg::Full {
            info,
            state,
            recycle: false,
        })?;
        self.have_full = true;
        Ok(())
    }

    /// Records a step from four little-endian byte buffers (e.g. the fields of vyre 0.7.2's
    /// `ResidentQueueReadback`: `control_bytes`, `ring_bytes`, `debug_log_bytes`,
    /// `io_queue_bytes`). Converts on this thread, then hands the words over like
    /// [`Recorder::record_owned`].
    pub fn record_le_bytes(
        &mut self,
        info: StepInfo,
        control: &[u8],
        ring: &[u8],
        debug_log: &[u8],
        io_queue: &[u8],
    ) -> Result<(), RecordError> {
        let state = State::from_le_bytes(control, ring, debug_log, io_queue)?;
        self.record_owned(info, state)
    }

    /// Records a step where only `changed` ranges differ from the previous step: copies just those
    /// words on this thread (never scans or copies the whole buffers). The first step must be full
    /// ([`Recorder::record`] or [`Recorder::record_owned`]); error otherwise. Words outside the
    /// ranges are recorded as unchanged, whatever `buffers` holds there.
    pub fn record_changed(
        &mut self,
        info: StepInfo,
        buffers: Buffers<'_>,
        changed: &Changed,
    ) -> Result<(), RecordError> {
        if !self.have_full {
            return Err(RecordError::NoFullStep);
        }
        self.check_lengths(buffers)?;
        let mut patches = Vec::new();
        let mut total = 0usize;
        for kind in BufferKind::ALL {
            let len = buffers.get(kind).len();
            for r in changed.get(kind) {
                if r.start > r.end || r.end > len {
                    return Err(RecordError::RangeOutOfBounds {
                        buffer: kind.name(),
                        range: r.clone(),
                        len,
                    });
                }
                total += r.len();
            }
        }
        let mut data = Vec::with_capacity(total);
        for kind in BufferKind::ALL {
            let buf = buffers.get(kind);
            for r in changed.get(kind) {
                if r.is_empty() {
                    continue;
                }
                patches.push(Patch {
                    kind,
                    start: r.start,
                    len: r.len(),
                });
                data.extend_from_slice(&buf[r.clone()]);
            }
        }
        self.send(Msg::Patch {
            info,
            patches,
            data,
        })
    }

    /// Steps accepted so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Waits for the writer, writes the footer index, fsyncs. Returns totals.
    pub fn finish(mut self) -> Result<RecordSummary, RecordError> {
        self.check_failed()?;
        self.send(Msg::Finish)?;
        self.tx = None;
        let handle = self.handle.take();
        match handle.map(|h| h.join()) {
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(self.writer_failed("the writer thread panicked".into())),
            None => Err(self.writer_failed("the writer thread is gone".into())),
        }
    }

    fn writer_failed(&self, reason: String) -> RecordError {
        RecordError::WriterFailed {
            path: self.path.clone(),
            reason,
        }
    }

    fn check_failed(&self) -> Result<(), RecordError> {
        match &self.failed {
            Some(reason) => Err(self.writer_failed(reason.clone())),
            None => Ok(()),
        }
    }

    fn check_lengths(&self, buffers: Buffers<'_>) -> Result<(), RecordError> {
        for kind in BufferKind::ALL {
            let expected = self.fingerprint.words(kind);
            let actual = buffers.get(kind).len();
            if expected != actual {
                return Err(RecordError::BufferLength {
                    buffer: kind.name(),
                    expected,
                    actual,
                });
            }
        }
        Ok(())
    }

    fn send(&mut self, msg: Msg) -> Result<(), RecordError> {
        self.check_failed()?;
        let counts = !matches!(msg, Msg::Finish);
        let sent = match &self.tx {
            Some(tx) => tx.send(msg).is_ok(),
            None => false,
        };
        if sent {
            if counts {
                self.steps += 1;
            }
            return Ok(());
        }
        // The writer thread stopped: it returns why.
        self.tx = None;
        let reason = match self.handle.take().map(|h| h.join()) {
            Some(Ok(Err(RecordError::WriterFailed { reason, .. }))) => reason,
            Some(Ok(Err(e))) => e.to_string(),
            Some(Ok(Ok(_))) => "the writer thread stopped early".into(),
            Some(Err(_)) => "the writer thread panicked".into(),
            None => "the writer thread is gone".into(),
        };
        self.failed = Some(reason.clone());
        Err(self.writer_failed(reason))
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        // Closing the queue lets the writer write what is queued and stop (no footer).
        self.tx = None;
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

struct Writer {
    path: PathBuf,
    file: File,
    fingerprint: Fingerprint,
    interval: u64,
    /// The previous step's state.
    shadow: State,
    step: u64,
    /// Bytes written so far (the offset of the next frame).
    pos: u64,
    keyframes: u64,
    /// (frame offset, keyframe) of every step written.
    index: Vec<(u64, bool)>,
    compressor: zstd::bulk::Compressor<'static>,
    xor: Vec<u32>,
    /// The run encoding of `xor` (a delta section's data).
    runs: Vec<u8>,
    old: Vec<u32>,
    blocks: Vec<u32>,
    comp: Vec<u8>,
    frame: Vec<u8>,
    recycle: SyncSender<State>,
}

impl Writer {
    fn run(mut self, rx: Receiver<Msg>) -> Result<RecordSummary, RecordError> {
        while let Ok(msg) = rx.recv() {
            match msg {
                Msg::Full {
                    info,
                    state,
                    recycle,
                } => self.full(&info, state, recycle)?,
                Msg::Patch {
                    info,
                    patches,
                    data,
                } => self.patch(&info, &patches, &data)?,
                Msg::Finish => return self.finish(),
            }
        }
        // Dropped without finish: what is written stays, without footer.
        Ok(self.summary())
    }

    fn summary(&self) -> RecordSummary {
        RecordSummary {
            steps: self.step,
            bytes: self.pos,
            keyframes: self.keyframes,
        }
    }

    fn failed(&self, what: &str, e: impl std::fmt::Display) -> RecordError {
        RecordError::WriterFailed {
            path: self.path.clone(),
            reason: format!("{what}: {e}"),
        }
    }

    fn is_keyframe(&self) -> bool {
        self.step.is_multiple_of(self.interval)
    }

    /// Starts the frame of the current step: placeholder header, step, flags, info JSON.
    fn begin_frame(&mut self, info: &StepInfo, keyframe: bool) -> Result<(), RecordError> {
        let json = serde_json::to_vec(info)
            .map_err(|e| self.failed(&format!("encoding step {}'s info", self.step), e))?;
        if json.len() > MAX_JSON_LEN {
            let e = format!("{} bytes of JSON, more than {MAX_JSON_LEN}", json.len());
            return Err(self.failed(&format!("step {}'s info is too big", self.step), e));
        }
        let f = &mut self.frame;
        f.clear();
        f.resize(FRAME_HEADER_LEN, 0);
        f.extend_from_slice(&self.step.to_le_bytes());
        let flags = if keyframe { FLAG_KEYFRAME } else { 0 };
        f.extend_from_slice(&flags.to_le_bytes());
        f.extend_from_slice(&(json.len() as u32).to_le_bytes());
        f.extend_from_slice(&json);
        Ok(())
    }

    /// Seals and writes the current step's frame.
    fn write_step(&mut self, keyframe: bool) -> Result<(), RecordError> {
        seal_frame(&mut self.frame, FRAME_STEP);
        if let Err(e) = self.file.write_all(&self.frame) {
            return Err(self.failed(&format!("writing step {}", self.step), e));
        }
        self.index.push((self.pos, keyframe));
        self.pos += self.frame.len() as u64;
        self.step += 1;
        if keyframe {
            self.keyframes += 1;
        }
        Ok(())
    }

    fn full(
        &mut self,
        info: &StepInfo,
        mut state: State,
        recycle: bool,
    ) -> Result<(), RecordError> {
        let keyframe = self.is_keyframe();
        self.begin_frame(info, keyframe)?;
        for kind in BufferKind::ALL {
            let new = state.get(kind);
            let words = new.len();
            self.blocks.clear();
            let raw;
            let data: &[u8] = if keyframe {
                self.blocks.extend(0..block_count(words) as u32);
                raw = le_bytes(new);
                &raw
            } else {
                let old = self.shadow.get(kind);
                self.xor.clear();
                for b in 0..block_count(words) {
                    let r = block_range(b, words);
                    let (n, o) = (&new[r.clone()], &old[r]);
                    if n != o {
                        self.blocks.push(b as u32);
                        self.xor.extend(n.iter().zip(o).map(|(a, b)| a ^ b));
                    }
                }
                encode_runs(&self.xor, &mut self.runs);
                &self.runs
            };
            push_section(
                &mut self.frame,
                &mut self.compressor,
                &mut self.comp,
                words,
                &self.blocks,
                data,
            )
            .map_err(|e| self.failed(&format!("compressing step {}", self.step), e))?;
        }
        std::mem::swap(&mut self.shadow, &mut state);
        if recycle && !state.ring.is_empty() {
            // Hand the previous state's allocations back to `record` (if it wants them).
            let _ = self.recycle.try_send(state);
        }
        self.write_step(keyframe)
    }

    fn patch(
        &mut self,
        info: &StepInfo,
        patches: &[Patch],
        data: &[u32],
    ) -> Result<(), RecordError> {
        let keyframe = self.is_keyframe();
        self.begin_frame(info, keyframe)?;
        for kind in BufferKind::ALL {
            let words = self.fingerprint.words(kind);
            let apply = |shadow: &mut Vec<u32>| {
                let mut at = 0;
                for p in patches {
                    if p.kind == kind {
                        shadow[p.start..p.start + p.len].copy_from_slice(&data[at..at + p.len]);
                    }
                    at += p.len;
                }
            };
            self.blocks.clear();
            if keyframe {
                apply(self.shadow.get_mut(kind));
                self.blocks.extend(0..block_count(words) as u32);
            } else {
                let mut touched: Vec<u32> = Vec::new();
                for p in patches.iter().filter(|p| p.kind == kind) {
                    let first = p.start / BLOCK_WORDS;
                    let last = (p.start + p.len - 1) / BLOCK_WORDS;
                    touched.extend(first as u32..=last as u32);
                }
                touched.sort_unstable();
                touched.dedup();
                self.old.clear();
                let shadow = self.shadow.get_mut(kind);
                for &b in &touched {
                    self.old
                        .extend_from_slice(&shadow[block_range(b as usize, words)]);
                }
                apply(shadow);
                self.xor.clear();
                let mut at = 0;
                for &b in &touched {
                    let r = block_range(b as usize, words);
                    let old = &self.old[at..at + r.len()];
                    at += r.len();
                    let mark = self.xor.len();
                    self.xor
                        .extend(shadow[r].iter().zip(old).map(|(a, b)| a ^ b));
                    if self.xor[mark..].iter().all(|&w| w == 0) {
                        self.xor.truncate(mark);
                    } else {
                        self.blocks.push(b);
                    }
                }
            }
            let raw;
            let data: &[u8] = if keyframe {
                raw = le_bytes(self.shadow.get(kind));
                &raw
            } else {
                encode_runs(&self.xor, &mut self.runs);
                &self.runs
            };
            push_section(
                &mut self.frame,
                &mut self.compressor,
                &mut self.comp,
                words,
                &self.blocks,
                data,
            )
            .map_err(|e| self.failed(&format!("compressing step {}", self.step), e))?;
        }
        self.write_step(keyframe)
    }

    fn finish(mut self) -> Result<RecordSummary, RecordError> {
        let footer_offset = self.pos;
        let f = &mut self.frame;
        f.clear();
        f.resize(FRAME_HEADER_LEN, 0);
        f.extend_from_slice(&(self.index.len() as u64).to_le_bytes());
        for (step, &(offset, keyframe)) in self.index.iter().enumerate() {
            f.extend_from_slice(&offset.to_le_bytes());
            f.extend_from_slice(&(step as u64).to_le_bytes());
            let flags = if keyframe { FLAG_KEYFRAME } else { 0 };
            f.extend_from_slice(&flags.to_le_bytes());
            f.extend_from_slice(&0u32.to_le_bytes());
        }
        seal_frame(f, FRAME_FOOTER);
        f.extend_from_slice(&footer_offset.to_le_bytes());
        f.extend_from_slice(&END_MAGIC);
        if let Err(e) = self.file.write_all(&self.frame) {
            return Err(self.failed("writing the footer", e));
        }
        self.pos += self.frame.len() as u64;
        if let Err(e) = self.file.sync_all() {
            return Err(self.failed("syncing the file to disk", e));
        }
        Ok(self.summary())
    }
}

/// Appends one buffer's section: word count, block indices, zstd stream of `data` (a
/// keyframe's raw little-endian words, or a delta's runs).
fn push_section(
    frame: &mut Vec<u8>,
    compressor: &mut zstd::bulk::Compressor<'static>,
    comp: &mut Vec<u8>,
    words: usize,
    blocks: &[u32],
    data: &[u8],
) -> std::io::Result<()> {
    frame.extend_from_slice(&(words as u32).to_le_bytes());
    frame.extend_from_slice(&(blocks.len() as u32).to_le_bytes());
    for b in blocks {
        frame.extend_from_slice(&b.to_le_bytes());
    }
    if blocks.is_empty() {
        frame.extend_from_slice(&0u64.to_le_bytes());
        return Ok(());
    }
    comp.clear();
    comp.reserve(zstd::zstd_safe::compress_bound(data.len()));
    let n = compressor.compress_to_buffer(data, comp)?;
    frame.extend_from_slice(&(n as u64).to_le_bytes());
    frame.extend_from_slice(&comp[..n]);
    Ok(())
}
