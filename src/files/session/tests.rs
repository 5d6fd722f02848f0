//! Session round trips and every malformed-input path.

use super::*;
use crate::abi::opcode::Opcode;
use crate::abi::status::SlotStatus;
use crate::debugger::breakpoint::{Condition, SlotSelector};

fn sample_debugger() -> Debugger {
    let mut d = Debugger::new(
        Geometry {
            slot_count: 64,
            tenant_count: 2,
            observable_slots: 8,
        },
        RunConfig {
            variant: crate::engine::Variant::Persistent,
            ..Default::default()
        },
        Backend::Cpu,
    )
    .unwrap();
    d.apply(Action::Publish {
        slot: 1,
        tenant: 0,
        opcode: Opcode::ATOMIC_ADD,
        args: vec![3, 160],
        priority: Some(4),
    })
    .unwrap();
    d.apply(Action::WriteControl { word: 4, value: 0 }).unwrap();
    d.apply(Action::Publish {
        slot: 2,
        tenant: 1,
        opcode: Opcode::PRINTF,
        args: vec![7, 8, 9],
        priority: None,
    })
    .unwrap();
    d.apply(Action::Dispatch { count: 2 }).unwrap();
    d
}

fn view() -> ViewState {
    ViewState {
        colour_mode: ColourMode::Tenant,
        zoom: 12.0,
        pan: [3.0, 4.0],
        selection: Some(2),
        ..Default::default()
    }
}

fn bps() -> Vec<Breakpoint> {
    vec![Breakpoint::new(Condition::SlotEnters {
        slots: SlotSelector::One(1),
        status: SlotStatus::Done,
    })]
}

fn save_to(dir: &Path, d: &Debugger, mode: SaveMode) -> PathBuf {
    let p = dir.join("s.ron");
    save(
        &p,
        &SaveRequest {
            debugger: d,
            breakpoints: &bps(),
            view: &view(),
            mode,
            header: None,
        },
    )
    .unwrap();
    p
}

#[test]
fn script_save_load_reproduces_state_view_and_breakpoints() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    let p = save_to(t.path(), &d, SaveMode::Script);
    let text = fs::read_to_string(&p).unwrap();
    assert!(
        text.contains("version: 2") && text.contains("ATOMIC_ADD"),
        "{text}"
    );
    let l = load(&p).unwrap();
    assert_eq!(l.debugger.state(), d.state());
    assert_eq!(l.file.view, view());
    assert_eq!(l.file.breakpoints, bps());
    assert_eq!(l.debugger.config(), d.config());
    assert_eq!(l.debugger.timeline().len(), d.timeline().len());
    assert!(l.file.snapshot.is_none(), "a fresh base needs no snapshot");
}

#[test]
fn timeline_position_and_future_come_back() {
    let t = tempfile::tempdir().unwrap();
    let mut d = sample_debugger();
    d.seek(2);
    let at2 = d.state().clone();
    let p = save_to(t.path(), &d, SaveMode::Script);
    let mut l = load(&p).unwrap();
    assert_eq!(l.debugger.timeline().cursor(), 2);
    assert_eq!(l.debugger.state(), &at2);
    l.debugger.seek(usize::MAX);
    let mut end = d;
    end.seek(usize::MAX);
    assert_eq!(l.debugger.state(), end.state());
}

#[test]
fn snapshot_save_load_is_exact() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    let p = save_to(t.path(), &d, SaveMode::Snapshot);
    let l = load(&p).unwrap();
    assert_eq!(l.debugger.state(), d.state());
    assert!(l.file.script.is_empty());
    let snap = snapshot_path(&p, &l.file).unwrap();
    assert!(crate::files::dump::is_dump_dir(&snap));
}

#[test]
fn a_session_started_from_a_dump_saves_its_base() {
    let t = tempfile::tempdir().unwrap();
    let mut base = crate::resident::ResidentBuffers::new(16, 1, 0).unwrap();
    base.write_control(150, 42).unwrap();
    let mut d = Debugger::from_state(base.clone(), 1, RunConfig::default(), Backend::Cpu);
    d.apply(Action::Publish {
        slot: 0,
        tenant: 0,
        opcode: Opcode::NOP,
        args: vec![],
        priority: None,
    })
    .unwrap();
    d.apply(Action::Dispatch { count: 1 }).unwrap();
    let p = save_to(t.path(), &d, SaveMode::Script);
    let mut l = load(&p).unwrap();
    assert_eq!(l.debugger.state(), d.state());
    l.debugger.seek(0);
    assert_eq!(l.debugger.state(), &base);
}

#[test]
fn resaving_removes_stale_snapshots() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    save_to(t.path(), &d, SaveMode::Snapshot);
    save_to(t.path(), &d, SaveMode::Snapshot);
    let snaps = fs::read_dir(t.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".snapshot-")
        })
        .count();
    assert_eq!(snaps, 1);
}

#[test]
fn failed_save_leaves_the_previous_file_intact() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    let p = save_to(t.path(), &d, SaveMode::Snapshot);
    let before = fs::read(&p).unwrap();
    let mut e = sample_debugger();
    e.apply(Action::Dispatch { count: 1 }).unwrap();
    let mut calls = 0;
    let mut failing = |path: &Path, bytes: &[u8]| {
        calls += 1;
        if path.extension().is_some_and(|x| x == "ron") {
            Err("injected: disk full".to_string())
        } else {
            crate::files::dump::write_atomic(path, bytes).map_err(|e| e.to_string())
        }
    };
    let err = save_with(
        &p,
        &SaveRequest {
            debugger: &e,
            breakpoints: &[],
            view: &view(),
            mode: SaveMode::Snapshot,
            header: None,
        },
        &mut failing,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("disk full") && err.contains("untouched"),
        "{err}"
    );
    assert_eq!(fs::read(&p).unwrap(), before);
    assert_eq!(
        load(&p).unwrap().debugger.state(),
        d.state(),
        "old snapshot still there"
    );
    assert!(calls > 1);
}

#[test]
fn save_into_a_read_only_directory_fails_cleanly() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    // a path whose parent is a file can never be written, even by root
    let blocker = t.path().join("file");
    fs::write(&blocker, b"x").unwrap();
    let err = save(
        &blocker.join("s.ron"),
        &SaveRequest {
            debugger: &d,
            breakpoints: &[],
            view: &view(),
            mode: SaveMode::Script,
            header: None,
        },
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("cannot save"), "{err}");
}

fn write(t: &tempfile::TempDir, text: &str) -> PathBuf {
    let p = t.path().join("bad.ron");
    fs::write(&p, text).unwrap();
    p
}

fn load_err(text: &str) -> String {
    let t = tempfile::tempdir().unwrap();
    match load(&write(&t, text)) {
        Ok(_) => panic!("expected an error for {text}"),
        Err(e) => e.to_string(),
    }
}

const GOOD: &str = "(version: 1, geometry: (slot_count: 16), script: [Publish(slot: 1, opcode: \"NOP\"), Dispatch(count: 1)])";

#[test]
fn the_minimal_session_loads() {
    let t = tempfile::tempdir().unwrap();
    let l = load(&write(&t, GOOD)).unwrap();
    assert_eq!(l.debugger.dispatches(), 1);
}

#[test]
fn truncated_file() {
    let e = load_err(&GOOD[..GOOD.len() - 20]);
    assert!(e.contains("bad.ron:1:"), "{e}");
}

#[test]
fn future_version() {
    let e = load_err("(version: 7, geometry: (slot_count: 16), hologram: true)");
    assert!(e.contains("version 7") && e.contains("upgrade"), "{e}");
}

#[test]
fn missing_version() {
    let e = load_err("(geometry: (slot_count: 16))");
    assert!(e.contains("no `version`"), "{e}");
}

#[test]
fn unknown_field_names_line_and_column() {
    let e = load_err("(\n  version: 1,\n  geometry: (slot_count: 16),\n  colour: 3,\n)");
    assert!(e.contains("bad.ron:4:") && e.contains("colour"), "{e}");
}

#[test]
fn wrong_type() {
    let e = load_err("(version: 1, geometry: (slot_count: \"many\"))");
    assert!(e.contains("bad.ron:1:"), "{e}");
}

#[test]
fn geometry_past_the_caps() {
    let e = load_err("(version: 1, geometry: (slot_count: 2000000))");
    assert!(e.contains("geometry") && e.contains("1048576"), "{e}");
}

#[test]
fn bad_workgroup_size() {
    let e = load_err("(version: 1, geometry: (slot_count: 96), run: (workgroup_size: Some(64)))");
    assert!(e.contains("divide"), "{e}");
}

#[test]
fn non_utf8_bytes() {
    let t = tempfile::tempdir().unwrap();
    let p = t.path().join("bin.ron");
    fs::write(&p, b"(version: 1, \xff\xfe)").unwrap();
    let e = load(&p).unwrap_err().to_string();
    assert!(e.contains("not UTF-8") && e.contains("offset 13"), "{e}");
}

#[test]
fn a_directory_where_a_file_was_expected() {
    let t = tempfile::tempdir().unwrap();
    let e = load(t.path()).unwrap_err().to_string();
    assert!(e.contains("is a directory"), "{e}");
}

#[test]
fn missing_file() {
    let e = load(Path::new("/nonexistent/x.ron"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read"), "{e}");
}

#[test]
fn snapshot_lengths_that_disagree_with_the_geometry() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    let p = save_to(t.path(), &d, SaveMode::Snapshot);
    let text = fs::read_to_string(&p)
        .unwrap()
        .replace("slot_count: 64", "slot_count: 128");
    fs::write(&p, text).unwrap();
    let e = load(&p).unwrap_err().to_string();
    assert!(
        e.contains("snapshot holds 64 slots") && e.contains("geometry says 128"),
        "{e}"
    );
}

#[test]
fn missing_snapshot_directory() {
    let e = load_err("(version: 1, geometry: (slot_count: 16), snapshot: Some(Dump(\"nowhere\")))");
    assert!(
        e.contains("snapshot") && e.contains("does not exist"),
        "{e}"
    );
}

#[test]
fn failing_script_action_is_located() {
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), script: [Publish(slot: 1, opcode: \"NOP\"), Publish(slot: 1, opcode: \"NOP\")])",
    );
    assert!(
        e.contains("script action 1") && e.contains("in flight"),
        "{e}"
    );
}

#[test]
fn bad_opcode_name() {
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), script: [Publish(slot: 1, opcode: \"FROB\")])",
    );
    assert!(e.contains("not an opcode"), "{e}");
}

#[test]
fn timeline_position_past_the_end() {
    let e = load_err("(version: 1, geometry: (slot_count: 16), timeline_position: Some(5))");
    assert!(e.contains("timeline_position 5"), "{e}");
}

#[test]
fn selection_past_the_ring() {
    let e = load_err("(version: 1, geometry: (slot_count: 16), view: (selection: Some(16)))");
    assert!(e.contains("selection 16"), "{e}");
}

#[test]
fn unknown_fields_inside_actions_are_refused_with_line_and_column() {
    // a misspelt tenant must not publish on tenant 0
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16),\n script: [Publish(slot: 1, opcode: \"NOP\", tennant: 3)])",
    );
    assert!(e.contains("bad.ron:2:") && e.contains("tennant"), "{e}");
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), script: [PublishPacked(slot: 1, ops: [(opcode: \"NOP\", argz: [])])])",
    );
    assert!(e.contains("bad.ron:1:") && e.contains("argz"), "{e}");
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), script: [Dispatch(count: 1, times: 2)])",
    );
    assert!(e.contains("times"), "{e}");
}

#[test]
fn unknown_fields_inside_breakpoint_conditions_are_refused() {
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), breakpoints: [(condition: ControlCompare(word: 1, op: Eq, value: 3, msk: 1))])",
    );
    assert!(e.contains("bad.ron:1:") && e.contains("msk"), "{e}");
}

#[test]
fn script_dispatch_counts_are_bounded() {
    let t = std::time::Instant::now();
    let e =
        load_err("(version: 1, geometry: (slot_count: 16), script: [Dispatch(count: 4000000000)])");
    assert!(
        e.contains("script action 0") && e.contains("100000") && e.contains("--dispatches"),
        "{e}"
    );
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    let passes = vec!["Pass"; MAX_SCRIPT_DISPATCHES as usize + 1].join(", ");
    let e = load_err(&format!(
        "(version: 1, geometry: (slot_count: 16), script: [{passes}])"
    ));
    assert!(e.contains("100000"), "{e}");
}

#[test]
fn script_work_is_bounded_by_the_ring_it_runs_on() {
    // 2,000 dispatches are fine on 16 slots but an hour's work on 1,048,576
    let script = "script: [Dispatch(count: 2000)]";
    let t = tempfile::tempdir().unwrap();
    assert!(
        load(&write(
            &t,
            &format!("(version: 1, geometry: (slot_count: 16), {script})")
        ))
        .is_ok()
    );
    let e = load_err(&format!(
        "(version: 1, geometry: (slot_count: 1048576), {script})"
    ));
    assert!(
        e.contains("script action 0")
            && e.contains("slot operations")
            && e.contains("--dispatches"),
        "{e}"
    );
    // many patterns over a big ring add up too
    let patterns =
        vec!["PublishPattern((start: 0, end: 1048576, opcodes: [\"NOP\"])), Reset"; 600].join(", ");
    let e = load_err(&format!(
        "(version: 1, geometry: (slot_count: 1048576), script: [{patterns}])"
    ));
    assert!(e.contains("slot operations"), "{e}");
}

#[test]
fn deep_or_long_expressions_are_refused_not_a_crash() {
    let deep = format!("{}1{}", "(".repeat(50_000), ")".repeat(50_000));
    let e = load_err(&format!(
        "(version: 1, geometry: (slot_count: 16), script: [PublishPattern((start: 0, end: 4, opcodes: [\"NOP\"], args: [\"{deep}\"]))])"
    ));
    assert!(
        e.contains("bad.ron:1:") && e.contains("1024"),
        "{}",
        &e[..200]
    );
    // an argument may be a number or a string: a nested list is buffered before either is
    // tried, which is where RON's own depth limit would speak
    let nested = format!(
        "(version: 1, geometry: (slot_count: 16), script: [PublishPattern((start: 0, end: 4, opcodes: [\"NOP\"], args: [{}{}]))])",
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let e = load_err(&nested);
    assert!(
        e.contains("nests deeper than") && !e.contains("serde_stacker"),
        "{e}"
    );
}

#[test]
fn snapshots_must_live_in_the_sessions_directory() {
    for rel in ["../x", "/tmp", "a/../../b", ""] {
        let e = load_err(&format!(
            "(version: 1, geometry: (slot_count: 16), snapshot: Some(Dump(\"{rel}\")))"
        ));
        assert!(
            e.contains("not inside the session's directory"),
            "{rel}: {e}"
        );
    }
    // a symbolic link that leads out is refused too
    let t = tempfile::tempdir().unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    crate::files::dump::write_dump(
        &elsewhere.path().join("d"),
        &crate::resident::ResidentBuffers::new(16, 1, 0).unwrap(),
    )
    .unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("d"), t.path().join("snap")).unwrap();
    let p = t.path().join("s.ron");
    fs::write(
        &p,
        "(version: 1, geometry: (slot_count: 16), snapshot: Some(Dump(\"snap\")))",
    )
    .unwrap();
    let e = load(&p).unwrap_err().to_string();
    assert!(e.contains("outside the session's directory"), "{e}");
}

#[test]
fn breakpoints_that_could_never_fire_are_refused_on_load() {
    for (cond, says) in [
        (
            "SlotEnters(slots: One(16), status: \"done\")",
            "past the ring's 16 slots",
        ),
        (
            "SlotEnters(slots: Range(8, 4), status: \"done\")",
            "is empty",
        ),
        (
            "SlotEnters(slots: Range(8, 17), status: \"done\")",
            "runs past",
        ),
        (
            "ControlChanges(word: 160)",
            "past the 160-word control buffer",
        ),
        (
            "ControlCompare(word: 5000, op: Eq, value: 1)",
            "past the 160-word",
        ),
    ] {
        let e = load_err(&format!(
            "(version: 1, geometry: (slot_count: 16), breakpoints: [(condition: {cond})])"
        ));
        assert!(
            e.contains("breakpoint 0") && e.contains(says),
            "{cond}: {e}"
        );
    }
}

#[test]
fn only_regular_files_of_bounded_size_are_read() {
    let t = tempfile::tempdir().unwrap();
    let fifo = t.path().join("fifo.ron");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let e = load(&fifo).unwrap_err().to_string();
    assert!(e.contains("a FIFO (named pipe), not a regular file"), "{e}");
    let e = load(Path::new("/dev/zero")).unwrap_err().to_string();
    assert!(e.contains("a character device"), "{e}");
    let big = t.path().join("big.ron");
    fs::File::create(&big)
        .unwrap()
        .set_len(MAX_SESSION_BYTES + 1)
        .unwrap();
    let e = load(&big).unwrap_err().to_string();
    assert!(e.contains("more than a session may be"), "{e}");
}

#[test]
fn messages_carry_no_ron_internals() {
    // a byte-order mark is skipped
    let t = tempfile::tempdir().unwrap();
    assert!(load(&write(&t, &format!("\u{feff}{GOOD}"))).is_ok());
    // the largest version is newer, not missing
    let e = load_err("(version: 18446744073709551615, geometry: (slot_count: 16))");
    assert!(e.contains("version 18446744073709551615, newer"), "{e}");
    let e = load_err("(version: 1, geometry: (slot_count: 16), script: [Dispatch])");
    assert!(e.contains("Dispatch(count: 1)"), "{e}");
    let e = load_err(
        "(version: 1, geometry: (slot_count: 16), breakpoints: [(condition: SlotEnters(slots: Any, status: done))])",
    );
    assert!(!e.contains("unit value") && e.contains("in quotes"), "{e}");
}

#[test]
fn a_save_removes_what_a_killed_save_left() {
    let t = tempfile::tempdir().unwrap();
    let d = sample_debugger();
    // a killed save leaves its temporary RON and an unreferenced snapshot; pid 0 never
    // names a live writer
    fs::write(t.path().join(".s.ron.tmp-0"), b"(half").unwrap();
    fs::create_dir(t.path().join("s.snapshot-0-1")).unwrap();
    let p = save_to(t.path(), &d, SaveMode::Snapshot);
    let l = load(&p).unwrap();
    let snap = snapshot_path(&p, &l.file).unwrap();
    let mut names: Vec<String> = fs::read_dir(t.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "s.ron".to_string(),
            snap.file_name().unwrap().to_string_lossy().to_string()
        ]
    );
}

#[test]
fn every_example_session_is_version_1_and_opens_then_saves_as_version_2_with_the_same_state() {
    let t = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/sessions")).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_none_or(|e| e != "ron") {
            continue;
        }
        n += 1;
        let text = fs::read_to_string(&p).unwrap();
        assert!(
            text.contains("version: 1"),
            "{} is an old file",
            p.display()
        );
        let old = load(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert!(old.debugger.bookmarks().is_empty());
        let out = t.path().join(p.file_name().unwrap());
        save(
            &out,
            &SaveRequest {
                debugger: &old.debugger,
                breakpoints: old.debugger.breakpoints(),
                view: &old.file.view,
                mode: SaveMode::Script,
                header: None,
            },
        )
        .unwrap();
        assert!(fs::read_to_string(&out).unwrap().contains("version: 2"));
        let new = load(&out).unwrap();
        assert_eq!(
            new.debugger.state(),
            old.debugger.state(),
            "{}",
            p.display()
        );
        assert_eq!(new.debugger.timeline().len(), old.debugger.timeline().len());
        assert_eq!(new.file.breakpoints, old.file.breakpoints);
    }
    assert!(n >= 8, "the example sessions were found ({n})");
}

#[test]
fn bookmarks_are_saved_and_checked_on_load() {
    use crate::debugger::settings::Edit;
    let t = tempfile::tempdir().unwrap();
    let mut d = sample_debugger();
    d.seek(1);
    d.edit(Edit::AddBookmark("after the first publish".into()))
        .unwrap();
    let p = save_to(t.path(), &d, SaveMode::Script);
    let l = load(&p).unwrap();
    assert_eq!(l.debugger.bookmarks(), d.bookmarks());
    // a snapshot keeps the bookmarks of the point it saves, on its one point
    let s = save_to(t.path(), &d, SaveMode::Snapshot);
    let l = load(&s).unwrap();
    assert_eq!(l.debugger.bookmarks().len(), 1);
    assert_eq!(l.debugger.bookmarks()[0].point, 0);
    let e = load_err(
        "(version: 2, geometry: (slot_count: 16), bookmarks: [(point: 3, name: \"late\")])",
    );
    assert!(e.contains("past the script's last point (0)"), "{e}");
    let e =
        load_err("(version: 2, geometry: (slot_count: 16), bookmarks: [(point: 0, name: \" \")])");
    assert!(e.contains("a name is 1 to 200 bytes"), "{e}");
}

#[test]
fn a_save_keeps_the_comment_lines_the_session_opened_with() {
    let t = tempfile::tempdir().unwrap();
    let src = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/sessions/races.ron"));
    let text = fs::read_to_string(src).unwrap();
    let header = header_of(&text);
    assert!(
        header.starts_with("// Races: vyre never reports them."),
        "{header}"
    );
    assert!(!header.contains("version"), "only the comments: {header}");
    let l = load(src).unwrap();
    assert_eq!(l.header, header, "loading keeps the header it read");
    let out = t.path().join("copy.ron");
    save(
        &out,
        &SaveRequest {
            debugger: &l.debugger,
            breakpoints: l.debugger.breakpoints(),
            view: &l.file.view,
            mode: SaveMode::Script,
            header: Some(&header),
        },
    )
    .unwrap();
    let saved = fs::read_to_string(&out).unwrap();
    assert!(saved.starts_with(&header), "{saved}");
    assert_eq!(load(&out).unwrap().debugger.state(), l.debugger.state());
    // a header that is not all comments keeps only its comment lines
    assert_eq!(header_of("// a\n\n(version: 2)"), "// a\n\n");
    assert_eq!(header_of("(version: 2)"), "");
}
