//! Round trips, damage handling and live follow of megascope recordings.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use megascope_record::{
    BLOCK_WORDS, BufferKind, Changed, FORMAT_VERSION, Fingerprint, Meta, RecordError, Recorder,
    Recording, State, StepCursor, StepInfo,
};
use proptest::prelude::*;

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// 200 slots: the ring is 3200 words, 3 full blocks and a short one.
fn fingerprint() -> Fingerprint {
    Fingerprint::from_lengths(192, 200 * 16, 257, 512, 2)
}

fn meta(interval: u32) -> Meta {
    let mut m = Meta::new(fingerprint(), "test program");
    m.keyframe_interval = interval;
    m.extra.insert("seed".into(), serde_json::json!(42));
    m
}

fn random_state(rng: &mut Rng, fp: &Fingerprint) -> State {
    let mut s = State::default();
    for kind in BufferKind::ALL {
        *s.get_mut(kind) = (0..fp.words(kind)).map(|_| rng.next() as u32).collect();
    }
    s
}

/// Changes a few random runs of words of `state`; returns the ranges (some overlapping, some
/// empty, some covering unchanged words).
fn mutate(rng: &mut Rng, state: &mut State) -> Changed {
    let mut changed = Changed::default();
    let runs = rng.below(6);
    for _ in 0..runs {
        let kind = BufferKind::ALL[rng.below(4)];
        let buf = state.get_mut(kind);
        let start = rng.below(buf.len());
        let len = (1 + rng.below(40)).min(buf.len() - start);
        for w in &mut buf[start..start + len] {
            if rng.below(3) != 0 {
                *w = rng.next() as u32;
            }
        }
        changed.get_mut(kind).push(start..start + len);
    }
    if rng.below(4) == 0 {
        // An empty range and a range over words that did not change.
        changed.ring.push(7..7);
        changed.control.push(0..2);
    }
    changed
}

fn info(rng: &mut Rng, step: usize) -> StepInfo {
    let mut info = if rng.below(2) == 0 {
        StepInfo::host(format!("host step {step}"))
    } else {
        StepInfo::dispatch("persistent", 64 + step as u32, format!("dispatch {step}"))
    };
    info.wall_ms = Some(step as f64 * 0.25);
    if step.is_multiple_of(3) {
        info.device_ms = Some(1.5);
        info.extra
            .insert("tenant".into(), serde_json::json!(step % 2));
        info.extra
            .insert("note".into(), serde_json::json!({"nested": [1, 2, 3]}));
    }
    info
}

#[derive(Clone, Copy, PartialEq)]
enum How {
    Record,
    Owned,
    Changed,
    Mixed,
}

/// Records `steps` steps into `path`; returns what was recorded.
fn write_recording(
    path: &Path,
    steps: usize,
    interval: u32,
    how: How,
    seed: u64,
    finish: bool,
) -> (Vec<State>, Vec<StepInfo>) {
    let fp = fingerprint();
    let mut rng = Rng(seed);
    let mut rec = Recorder::create(path, meta(interval)).unwrap();
    let mut states = Vec::new();
    let mut infos = Vec::new();
    let mut state = random_state(&mut rng, &fp);
    for step in 0..steps {
        let i = info(&mut rng, step);
        let changed = if step > 0 {
            mutate(&mut rng, &mut state)
        } else {
            Changed::default()
        };
        let method = match how {
            How::Mixed => [How::Record, How::Owned, How::Changed][rng.below(3)],
            h => h,
        };
        match method {
            _ if step == 0 => rec.record(i.clone(), state.as_buffers()).unwrap(),
            How::Record => rec.record(i.clone(), state.as_buffers()).unwrap(),
            How::Owned => rec.record_owned(i.clone(), state.clone()).unwrap(),
            _ => rec
                .record_changed(i.clone(), state.as_buffers(), &changed)
                .unwrap(),
        }
        states.push(state.clone());
        infos.push(i);
    }
    assert_eq!(rec.steps(), steps as u64);
    if finish {
        let summary = rec.finish().unwrap();
        assert_eq!(summary.steps, steps as u64);
        assert_eq!(summary.keyframes, steps.div_ceil(interval as usize) as u64);
        assert_eq!(summary.bytes, std::fs::metadata(path).unwrap().len());
    } else {
        drop(rec);
    }
    (states, infos)
}

fn check_all(rec: &Recording, states: &[State], infos: &[StepInfo]) {
    assert_eq!(rec.len(), states.len());
    for (i, s) in states.iter().enumerate() {
        assert_eq!(&rec.state(i).unwrap(), s, "state({i})");
        assert_eq!(rec.info(i).unwrap(), &infos[i], "info({i})");
    }
    let mut cursor = StepCursor::new(rec);
    let mut n = 0;
    while let Some(r) = cursor.next_step() {
        let (i, s) = r.unwrap();
        assert_eq!(i, n);
        assert_eq!(s, &states[i], "cursor at {i}");
        n += 1;
    }
    assert_eq!(n, states.len());
    assert!(cursor.next_step().is_none());
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

fn roundtrip(how: How, seed: u64) {
    let dir = tmp();
    let path = file(&dir, "a.msrec");
    let (states, infos) = write_recording(&path, 23, 5, how, seed, true);
    let rec = Recording::open(&path).unwrap();
    assert!(rec.warnings().is_empty(), "{:?}", rec.warnings());
    assert!(rec.damage().is_none());
    assert!(rec.is_finished());
    assert_eq!(rec.meta(), &meta(5));
    for i in 0..states.len() {
        assert_eq!(rec.is_keyframe(i), i % 5 == 0, "step {i}");
    }
    check_all(&rec, &states, &infos);
    let walked: Vec<State> = rec.steps().map(|r| r.unwrap().1).collect();
    assert_eq!(walked, states);
}

#[test]
fn roundtrip_record() {
    roundtrip(How::Record, 1);
}

#[test]
fn roundtrip_record_owned() {
    roundtrip(How::Owned, 2);
}

#[test]
fn roundtrip_record_changed() {
    roundtrip(How::Changed, 3);
}

#[test]
fn roundtrip_mixed() {
    roundtrip(How::Mixed, 4);
}

#[test]
fn changed_is_exact() {
    let dir = tmp();
    let path = file(&dir, "c.msrec");
    let (states, _) = write_recording(&path, 17, 4, How::Mixed, 5, true);
    let rec = Recording::open(&path).unwrap();
    let c0 = rec.changed(0).unwrap();
    for kind in BufferKind::ALL {
        assert_eq!(c0.get(kind).to_vec(), vec![0..fingerprint().words(kind)]);
    }
    let mut nonempty = 0;
    for i in 1..states.len() {
        let c = rec.changed(i).unwrap();
        for kind in BufferKind::ALL {
            let (a, b) = (states[i - 1].get(kind), states[i].get(kind));
            let expected: Vec<usize> = (0..a.len()).filter(|&w| a[w] != b[w]).collect();
            let got: Vec<usize> = c.get(kind).iter().flat_map(|r| r.clone()).collect();
            assert_eq!(got, expected, "step {i} buffer {kind}");
            // Ranges are maximal runs.
            for w in c.get(kind).windows(2) {
                assert!(w[0].end < w[1].start);
            }
        }
        nonempty += usize::from(!c.is_empty());
    }
    assert!(nonempty > 5);
    assert!(rec.changed(states.len()).is_err());
}

/// The offsets of every step frame and of the footer, from a finished file.
fn frame_offsets(path: &Path) -> (Vec<u64>, u64) {
    let bytes = std::fs::read(path).unwrap();
    let n = bytes.len();
    let footer = u64::from_le_bytes(bytes[n - 16..n - 8].try_into().unwrap());
    let rec = Recording::open(path).unwrap();
    let mut offsets = vec![0u64; rec.len()];
    let mut end = footer;
    for i in (0..rec.len()).rev() {
        end -= rec.step_bytes(i).unwrap();
        offsets[i] = end;
    }
    (offsets, footer)
}

#[test]
fn torn_last_frame_is_dropped_with_a_warning() {
    let dir = tmp();
    let path = file(&dir, "t.msrec");
    let (states, infos) = write_recording(&path, 9, 4, How::Mixed, 6, true);
    let (offsets, footer) = frame_offsets(&path);
    let last = offsets[8];
    let bytes = std::fs::read(&path).unwrap();
    for cut in [
        last + 1,
        last + 4,
        last + 19,
        last + 20,
        last + 33,
        footer - 1,
    ] {
        let p = file(&dir, "cut.msrec");
        std::fs::write(&p, &bytes[..cut as usize]).unwrap();
        let rec = Recording::open(&p).unwrap();
        assert_eq!(rec.len(), 8, "cut at {cut}");
        assert!(rec.damage().is_none(), "cut at {cut}: {:?}", rec.damage());
        assert_eq!(rec.warnings().len(), 1, "{:?}", rec.warnings());
        assert!(rec.warnings()[0].contains("step 8"), "{:?}", rec.warnings());
        assert!(rec.warnings()[0].contains("torn"), "{:?}", rec.warnings());
        check_all(&rec, &states[..8], &infos[..8]);
    }
}

#[test]
fn flipped_byte_in_a_middle_frame_is_damage() {
    let dir = tmp();
    let path = file(&dir, "f.msrec");
    let (states, infos) = write_recording(&path, 12, 4, How::Mixed, 7, true);
    let (offsets, footer) = frame_offsets(&path);
    let bytes = std::fs::read(&path).unwrap();
    let k = 6;
    let size = offsets[k + 1] - offsets[k];
    for finished in [true, false] {
        for at in [0, 8, 16, 20, 25, size / 2, size - 1] {
            let mut b = bytes.clone();
            if !finished {
                b.truncate(footer as usize);
            }
            b[(offsets[k] + at) as usize] ^= 0xff;
            let p = file(&dir, "flip.msrec");
            std::fs::write(&p, &b).unwrap();
            let rec = Recording::open(&p).unwrap();
            let damage = rec.damage().expect("damage");
            assert_eq!(damage.damaged_step(), Some(k), "at {at}: {damage}");
            assert!(damage.to_string().contains("step 6"), "{damage}");
            assert!(!damage.to_string().contains('\n'));
            assert_eq!(rec.len(), k);
            check_all(&rec, &states[..k], &infos[..k]);
        }
    }
}

#[test]
fn no_footer_opens_like_a_finished_file() {
    let dir = tmp();
    let finished = file(&dir, "done.msrec");
    let dropped = file(&dir, "dropped.msrec");
    let (states, infos) = write_recording(&finished, 14, 4, How::Mixed, 8, true);
    let (states2, infos2) = write_recording(&dropped, 14, 4, How::Mixed, 8, false);
    assert_eq!(states, states2);
    assert_eq!(infos, infos2);

    let rec = Recording::open(&dropped).unwrap();
    assert!(!rec.is_finished());
    assert!(rec.damage().is_none());
    assert_eq!(rec.warnings().len(), 1);
    assert!(rec.warnings()[0].contains("no footer"));
    check_all(&rec, &states, &infos);

    // The footer cut off a finished file.
    let (_, footer) = frame_offsets(&finished);
    let bytes = std::fs::read(&finished).unwrap();
    for cut in [footer, footer + 7, bytes.len() as u64 - 1] {
        let p = file(&dir, "cut.msrec");
        std::fs::write(&p, &bytes[..cut as usize]).unwrap();
        let rec = Recording::open(&p).unwrap();
        assert!(rec.damage().is_none());
        check_all(&rec, &states, &infos);
        for i in 0..states.len() {
            assert_eq!(rec.is_keyframe(i), i % 4 == 0);
        }
    }
}

fn set_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn lying_footer_is_detected_and_rebuilt() {
    let dir = tmp();
    let path = file(&dir, "l.msrec");
    let (states, infos) = write_recording(&path, 10, 3, How::Record, 9, true);
    let (offsets, footer) = frame_offsets(&path);
    let bytes = std::fs::read(&path).unwrap();
    let payload = footer as usize + 20;
    let entry = |i: usize| payload + 8 + 24 * i;
    let reseal = |b: &mut Vec<u8>| {
        let end = b.len() - 16;
        let crc = crc32fast::hash(&b[payload..end]);
        b[footer as usize + 16..footer as usize + 20].copy_from_slice(&crc.to_le_bytes());
    };
    type Edit<'a> = Box<dyn Fn(&mut Vec<u8>) + 'a>;
    let edits: Vec<Edit> = vec![
        // An offset that points inside a frame, checksum fixed up.
        Box::new(|b| {
            set_u64(b, entry(3), offsets[3] + 4);
            reseal(b);
        }),
        // Two entries swapped.
        Box::new(|b| {
            set_u64(b, entry(3), offsets[4]);
            set_u64(b, entry(4), offsets[3]);
            reseal(b);
        }),
        // A keyframe flag that lies.
        Box::new(|b| {
            b[entry(4) + 16] ^= 1;
            reseal(b);
        }),
        // Fewer steps than the file holds.
        Box::new(|b| {
            set_u64(b, payload, 9);
            b.drain(entry(9)..entry(10));
            let n = b.len();
            set_u64(
                b,
                footer as usize + 8,
                (n - 16 - footer as usize - 20) as u64,
            );
            reseal(b);
        }),
        // An offset edited without fixing the checksum.
        Box::new(|b| set_u64(b, entry(2), offsets[5])),
        // The trailer points elsewhere.
        Box::new(|b| {
            let n = b.len();
            set_u64(b, n - 16, offsets[2]);
        }),
    ];
    for (n, edit) in edits.iter().enumerate() {
        let mut b = bytes.clone();
        edit(&mut b);
        let p = file(&dir, "lie.msrec");
        std::fs::write(&p, &b).unwrap();
        let rec = Recording::open(&p).unwrap();
        assert!(rec.damage().is_none(), "edit {n}: {:?}", rec.damage());
        assert_eq!(rec.warnings().len(), 1, "edit {n}: {:?}", rec.warnings());
        assert!(
            rec.warnings()[0].contains("footer disagrees"),
            "edit {n}: {:?}",
            rec.warnings()
        );
        assert!(rec.is_finished());
        check_all(&rec, &states, &infos);
    }
}

#[test]
fn bad_headers_are_clear_errors() {
    let dir = tmp();
    let path = file(&dir, "h.msrec");
    write_recording(&path, 2, 4, How::Record, 10, true);
    let bytes = std::fs::read(&path).unwrap();
    let open = |b: &[u8]| {
        let p = file(&dir, "bad.msrec");
        std::fs::write(&p, b).unwrap();
        let e = Recording::open(&p).err().expect("an error");
        let msg = e.to_string();
        assert!(!msg.contains('\n'), "{msg}");
        assert!(msg.contains("bad.msrec"), "{msg}");
        e
    };
    let mut b = bytes.clone();
    b[0] = b'X';
    assert!(matches!(open(&b), RecordError::NotARecording { .. }));
    assert!(matches!(
        open(b"hello, world, this is text"),
        RecordError::NotARecording { .. }
    ));
    let mut b = bytes.clone();
    b[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    let e = open(&b);
    assert!(
        matches!(e, RecordError::FutureVersion { version, .. } if version == FORMAT_VERSION + 1)
    );
    assert!(e.to_string().contains("update megascope"));
    for cut in [0, 5, 8, 11, 14, 30, 60] {
        assert!(
            matches!(open(&bytes[..cut]), RecordError::BadHeader { .. }),
            "cut {cut}"
        );
    }
    let mut b = bytes.clone();
    b[30] ^= 0x20; // inside the JSON: checksum mismatch
    assert!(open(&b).to_string().contains("checksum"));
    let e = Recording::open(dir.path().join("missing.msrec"))
        .err()
        .unwrap();
    assert!(matches!(e, RecordError::Io { .. }), "{e}");
}

#[test]
fn recorder_rejects_bad_input() {
    let dir = tmp();
    let fp = fingerprint();
    let mut rng = Rng(11);
    let state = random_state(&mut rng, &fp);
    let mut rec = Recorder::create(file(&dir, "r.msrec"), meta(4)).unwrap();
    let e = rec
        .record_changed(StepInfo::host("x"), state.as_buffers(), &Changed::default())
        .unwrap_err();
    assert!(matches!(e, RecordError::NoFullStep), "{e}");

    let mut short = state.clone();
    short.ring.pop();
    let e = rec
        .record(StepInfo::host("x"), short.as_buffers())
        .unwrap_err();
    assert!(matches!(
        e,
        RecordError::BufferLength {
            buffer: "ring",
            expected: 3200,
            actual: 3199
        }
    ));
    assert!(e.to_string().contains("ring"), "{e}");
    let e = rec.record_owned(StepInfo::host("x"), short).unwrap_err();
    assert!(e.to_string().contains("ring has 3199 words"), "{e}");
    assert_eq!(rec.steps(), 0);

    rec.record(StepInfo::host("ok"), state.as_buffers())
        .unwrap();
    let mut c = Changed::default();
    c.io_queue.push(500..513);
    let e = rec
        .record_changed(StepInfo::host("x"), state.as_buffers(), &c)
        .unwrap_err();
    assert!(e.to_string().contains("io_queue"), "{e}");
    assert_eq!(rec.steps(), 1);
    let s = rec.finish().unwrap();
    assert_eq!(s.steps, 1);

    let e = Recorder::create(file(&dir, "z.msrec"), meta(0))
        .err()
        .unwrap();
    assert!(matches!(e, RecordError::BadMeta(_)));

    // apply_step on a state of the wrong shape.
    let r = Recording::open(file(&dir, "r.msrec")).unwrap();
    let mut st = State::default();
    r.apply_step(0, &mut st).unwrap();
    assert_eq!(st, state);
    assert!(matches!(
        r.state(1),
        Err(RecordError::StepOutOfRange {
            step: 1,
            len: 1,
            ..
        })
    ));
}

#[test]
fn writer_failure_is_reported() {
    if !Path::new("/dev/full").exists() {
        return;
    }
    let e = Recorder::create("/dev/full", meta(4))
        .err()
        .expect("disk full");
    assert!(e.to_string().contains("/dev/full"), "{e}");
}

fn wait_for(rec: &mut Recording, n: usize) {
    let start = Instant::now();
    while rec.len() < n {
        rec.refresh().unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "only {} steps",
            rec.len()
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn refresh_follows_a_live_recording() {
    let dir = tmp();
    let path = file(&dir, "live.msrec");
    let fp = fingerprint();
    let mut rng = Rng(12);
    let mut state = random_state(&mut rng, &fp);
    let mut states = Vec::new();
    let mut recorder = Recorder::create(&path, meta(3)).unwrap();
    let mut rec = Recording::open(&path).unwrap();
    assert_eq!(rec.len(), 0);
    assert!(!rec.is_finished());
    for step in 0..20 {
        if step > 0 {
            let c = mutate(&mut rng, &mut state);
            recorder
                .record_changed(StepInfo::host("s"), state.as_buffers(), &c)
                .unwrap();
        } else {
            recorder
                .record(StepInfo::host("s"), state.as_buffers())
                .unwrap();
        }
        states.push(state.clone());
        if step == 4 || step == 12 {
            wait_for(&mut rec, step + 1);
            assert_eq!(rec.len(), step + 1);
            for (i, s) in states.iter().enumerate() {
                assert_eq!(&rec.state(i).unwrap(), s);
            }
        }
    }
    recorder.finish().unwrap();
    wait_for(&mut rec, 20);
    assert_eq!(rec.refresh().unwrap(), 0);
    assert!(rec.is_finished());
    assert!(rec.warnings().is_empty(), "{:?}", rec.warnings());
    let infos = vec![StepInfo::host("s"); 20];
    check_all(&rec, &states, &infos);
}

#[test]
fn recording_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Recording>();
    check::<RecordError>();
    fn send<T: Send>() {}
    send::<Recorder>();
}

#[test]
fn large_blocks_only_store_changes() {
    // 4096 slots: 64 blocks of ring; one word changed stores one block.
    let dir = tmp();
    let path = file(&dir, "big.msrec");
    let fp = Fingerprint::from_lengths(160, 4096 * 16, 257, 512, 1);
    let mut state = State {
        control: vec![0; 160],
        ring: vec![0; 4096 * 16],
        debug_log: vec![0; 257],
        io_queue: vec![0; 512],
    };
    let mut rec = Recorder::create(&path, Meta::new(fp, "big")).unwrap();
    rec.record(StepInfo::host("0"), state.as_buffers()).unwrap();
    state.ring[5 * BLOCK_WORDS + 3] = 9;
    rec.record(StepInfo::host("1"), state.as_buffers()).unwrap();
    rec.finish().unwrap();
    let r = Recording::open(&path).unwrap();
    assert!(
        r.step_bytes(1).unwrap() < 300,
        "{}",
        r.step_bytes(1).unwrap()
    );
    let c = r.changed(1).unwrap();
    assert_eq!(c.ring, vec![5 * BLOCK_WORDS + 3..5 * BLOCK_WORDS + 4]);
    assert!(c.control.is_empty() && c.debug_log.is_empty() && c.io_queue.is_empty());
    assert_eq!(r.state(1).unwrap(), state);
}

fn valid_file() -> &'static [u8] {
    static BYTES: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    BYTES.get_or_init(|| {
        let dir = tmp();
        let path = file(&dir, "p.msrec");
        write_recording(&path, 7, 3, How::Mixed, 13, true);
        std::fs::read(&path).unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn mutated_files_never_panic(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in proptest::option::of(any::<prop::sample::Index>()),
    ) {
        let mut b = valid_file().to_vec();
        for (at, byte) in flips {
            let i = at.index(b.len());
            b[i] ^= byte;
        }
        if let Some(cut) = cut {
            b.truncate(cut.index(b.len() + 1));
        }
        let dir = tmp();
        let path = file(&dir, "m.msrec");
        std::fs::write(&path, &b).unwrap();
        if let Ok(mut rec) = Recording::open(&path) {
            for i in 0..rec.len() + 1 {
                let _ = rec.state(i);
                let _ = rec.changed(i);
                let _ = rec.info(i);
            }
            let mut cursor = StepCursor::new(&rec);
            while let Some(r) = cursor.next_step() {
                let _ = r;
            }
            let _ = rec.refresh();
        }
    }
}

#[test]
fn record_le_bytes_matches_words() {
    let dir = tmp();
    let path = file(&dir, "bytes.msrec");
    let fp = fingerprint();
    let mut rng = Rng(14);
    let state = random_state(&mut rng, &fp);
    let le = |w: &[u32]| -> Vec<u8> { w.iter().flat_map(|x| x.to_le_bytes()).collect() };
    let mut rec = Recorder::create(&path, meta(4)).unwrap();
    rec.record_le_bytes(
        StepInfo::host("bytes"),
        &le(&state.control),
        &le(&state.ring),
        &le(&state.debug_log),
        &le(&state.io_queue),
    )
    .unwrap();
    let mut ring = le(&state.ring);
    ring.pop();
    let e = rec
        .record_le_bytes(
            StepInfo::host("x"),
            &le(&state.control),
            &ring,
            &le(&state.debug_log),
            &le(&state.io_queue),
        )
        .unwrap_err();
    assert!(
        matches!(e, RecordError::ByteLength { buffer: "ring", .. }),
        "{e}"
    );
    rec.finish().unwrap();
    assert_eq!(Recording::open(&path).unwrap().state(0).unwrap(), state);
}

#[test]
fn step_changes_applied_in_order_give_every_state() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.msrec");
    let fp = Fingerprint::from_lengths(170, 16 * 300, 257, 512, 1);
    let mut meta = Meta::new(fp.clone(), "changes");
    meta.keyframe_interval = 3;
    let mut rec = Recorder::create(&path, meta).unwrap();
    let mut s = State {
        control: vec![0; 170],
        ring: vec![0; 16 * 300],
        debug_log: vec![0; 257],
        io_queue: vec![0; 512],
    };
    let mut states = Vec::new();
    for k in 0..8u32 {
        for i in (k as usize..s.ring.len()).step_by(37) {
            s.ring[i] = s.ring[i].wrapping_add(k * 7 + 1);
        }
        s.control[(k * 11) as usize % 170] ^= 0xdead_0000 | k;
        rec.record(StepInfo::host(format!("{k}")), s.as_buffers())
            .unwrap();
        states.push(s.clone());
    }
    rec.finish().unwrap();
    let r = Recording::open(&path).unwrap();
    let mut at = State::default();
    for (i, want) in states.iter().enumerate() {
        let c = r.step_change(i).unwrap();
        assert_eq!(c.step, i);
        assert_eq!(c.keyframe.is_some(), r.is_keyframe(i));
        for kind in BufferKind::ALL {
            let buf = at.get_mut(kind);
            buf.resize(fp.words(kind), 0);
            c.apply(kind, buf);
        }
        assert_eq!(&at, want, "step {i}");
    }
}
