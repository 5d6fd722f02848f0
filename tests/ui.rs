//! The app with egui_kittest (no window; the grid uses its CPU rasteriser): stepping changes
//! the grid's data and the plots, the publish form rejects bad input with a message and
//! accepts good input, run/pause, the colour-mode switch, step back, and a breakpoint that
//! stops a run at the right dispatch.

use egui_kittest::Harness;
use egui_kittest::kittest::{NodeT, Queryable};
use megascope::abi::opcode::Opcode;
use megascope::abi::status::SlotStatus;
use megascope::debugger::action::Action;
use megascope::debugger::breakpoint::{Breakpoint, CompareOp, Condition};
use megascope::debugger::{Debugger, Geometry, RunConfig};
use megascope::engine::Backend;
use megascope::engine::DispatchMirror;
use megascope::files::session::ColourMode;
use megascope::ui::MegascopeApp;

fn app() -> MegascopeApp {
    let mut d = Debugger::new(
        Geometry {
            slot_count: 256,
            tenant_count: 1,
            observable_slots: 8,
        },
        RunConfig::default(),
        Backend::Cpu,
    )
    .unwrap();
    for s in 0..4 {
        d.apply(Action::Publish {
            slot: s,
            tenant: 0,
            opcode: Opcode::ATOMIC_ADD,
            args: vec![1, 160],
            priority: None,
        })
        .unwrap();
    }
    MegascopeApp::new(d)
}

fn harness(app: MegascopeApp) -> Harness<'static, MegascopeApp> {
    Harness::builder()
        .with_size([1600.0, 1000.0])
        .build_ui_state(|ui, app: &mut MegascopeApp| app.show(ui, None), app)
}

/// Slots 5 and 9 store 1 and 2 to control[160], and a dispatch runs them: a race.
fn store_race_on_160(d: &mut Debugger) {
    for (slot, value) in [(5u32, 1u32), (9, 2)] {
        d.apply(Action::Publish {
            slot,
            tenant: 0,
            opcode: Opcode::STORE_U32,
            args: vec![value, 160],
            priority: None,
        })
        .unwrap();
    }
    d.dispatch().unwrap();
}

/// Slots 20 and 21 store different values to control[161]: a race.
fn publish_race(d: &mut Debugger) {
    for slot in [20, 21] {
        d.apply(Action::Publish {
            slot,
            tenant: 0,
            opcode: Opcode::STORE_U32,
            args: vec![slot, 161],
            priority: None,
        })
        .unwrap();
    }
}

fn status(h: &Harness<MegascopeApp>, s: usize) -> SlotStatus {
    SlotStatus::from_word(h.state().debugger.state().ring()[s * 16])
}

#[test]
fn step_changes_the_grid_data_and_adds_plot_points() {
    let mut h = harness(app());
    h.run();
    assert_eq!(status(&h, 0), SlotStatus::Published);
    assert!(h.state().debugger.history().is_empty());
    assert!(
        h.query_by_label_contains("no dispatches yet").is_some(),
        "an empty plot says how to fill it"
    );
    h.get_by_label("Step").click();
    h.run();
    assert!(h.query_by_label_contains("no dispatches yet").is_none());
    assert_eq!(status(&h, 0), SlotStatus::Done);
    assert_eq!(h.state().debugger.state().control()[160], 4);
    assert_eq!(h.state().debugger.history().len(), 1, "one plot point");
    let serial = h.state().changed_serial;
    assert!(serial > 0);
    assert_eq!(
        h.state().changed[0],
        serial,
        "slot 0 is highlighted as changed"
    );
    assert_ne!(h.state().changed[10], serial);
    h.get_by_label("Step").click();
    h.run();
    assert_eq!(h.state().debugger.history().len(), 2);
}

#[test]
fn publish_form_rejects_bad_input_and_accepts_good_input() {
    let mut h = harness(app());
    h.run();
    let slot = h.get_by_label("slot");
    slot.focus();
    slot.type_text("9999");
    h.run();
    assert!(
        h.state().publish.slot.contains("9999"),
        "typing reaches the field: {}",
        h.state().publish.slot
    );
    assert!(
        h.query_by_label_contains("slot 9999 is out of range")
            .is_some(),
        "an inline message"
    );
    h.get_by_label("Publish").click();
    h.run();
    assert_eq!(h.state().debugger.timeline().len(), 5, "nothing published");
    h.state_mut().publish.slot = "2".into();
    h.run();
    assert!(h.query_by_label_contains("in flight").is_some());
    h.state_mut().publish.slot = "7".into();
    h.state_mut().publish.opcode = "LOAD_MISS".into();
    h.run();
    assert!(h.query_by_label_contains("cannot be published").is_some());
    h.state_mut().publish.opcode = "store_u32".into();
    h.state_mut().publish.args = "5, 161".into();
    h.run();
    h.get_by_label("Publish").click();
    h.run();
    assert_eq!(status(&h, 7), SlotStatus::Published);
    assert_eq!(
        &h.state().debugger.state().ring()[7 * 16 + 4..7 * 16 + 6],
        &[5, 161]
    );
    assert_eq!(h.state().selection, Some(7));
}

#[test]
fn space_runs_and_pauses_and_run_pauses_itself_at_a_fixed_point() {
    let mut h = harness(app());
    h.run();
    h.key_press(egui::Key::Space);
    h.step();
    assert!(h.state().transport.running);
    assert_eq!(h.state().debugger.dispatches(), 1);
    h.key_press(egui::Key::Space);
    h.run_steps(3);
    assert!(!h.state().transport.running);
    let paused = h.state().debugger.dispatches();
    h.run_steps(3);
    assert_eq!(
        h.state().debugger.dispatches(),
        paused,
        "no dispatch while paused"
    );
    // the four slots ran in the first dispatch: the next claims nothing and Run stops
    // there by itself, saying why, instead of adding empty points
    h.key_press(egui::Key::Space);
    h.run_steps(5);
    assert!(!h.state().transport.running);
    assert_eq!(h.state().debugger.dispatches(), paused + 1);
    assert!(
        h.query_by_label_contains("claimed no slot, so nothing is left to run")
            .is_some(),
        "the status line says why the run paused"
    );
}

#[test]
fn step_n_of_any_size_keeps_the_window_drawing_and_pauses() {
    let mut h = harness(app());
    h.run();
    h.state_mut().transport.step_n = "4000000000".into();
    h.run();
    h.get_by_label("Step N").click();
    h.run_steps(3);
    // frames keep coming while the dispatches run a frame's worth at a time
    assert!(h.state().transport.running);
    let d = h.state().debugger.dispatches();
    assert!(d > 0 && d < 4_000_000_000, "{d}");
    h.key_press(egui::Key::Space);
    h.run_steps(3);
    assert!(!h.state().transport.running);
    assert_eq!(h.state().transport.steps_left, None);
    // a small N still ends by itself
    h.state_mut().transport.step_n = "3".into();
    h.run();
    let before = h.state().debugger.dispatches();
    h.get_by_label("Step N").click();
    h.run_steps(3);
    assert_eq!(h.state().debugger.dispatches(), before + 3);
    assert!(!h.state().transport.running);
}

#[test]
fn shortcuts_do_not_fire_while_typing() {
    let mut h = harness(app());
    h.run();
    h.get_by_label("args").focus();
    h.run();
    h.key_press(egui::Key::Space);
    h.key_press(egui::Key::ArrowRight);
    h.run_steps(3);
    assert!(!h.state().transport.running);
    assert_eq!(h.state().debugger.dispatches(), 0);
}

#[test]
fn colour_mode_switch() {
    let mut h = harness(app());
    h.run();
    // "opcode" also labels the publish form's field: pick the colour-mode button
    let button = h
        .query_all_by_label("opcode")
        .find(|n| n.accesskit_node().role() != egui::accesskit::Role::TextInput)
        .expect("a colour-mode button");
    button.click();
    h.run();
    assert_eq!(h.state().grid.mode, ColourMode::Opcode);
    assert!(
        h.query_by_label("ATOMIC_ADD").is_some(),
        "the legend shows opcodes"
    );
    h.get_by_label("priority partition").click();
    h.run();
    assert_eq!(h.state().grid.mode, ColourMode::Priority);
}

#[test]
fn step_back_restores_the_grid() {
    let mut h = harness(app());
    h.run();
    let before = h.state().debugger.state().ring().to_vec();
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert_eq!(status(&h, 0), SlotStatus::Done);
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    assert_eq!(h.state().debugger.state().ring(), &before[..]);
    assert_eq!(h.state().debugger.dispatches(), 0);
}

#[test]
fn breakpoint_stops_a_run_at_the_right_dispatch() {
    let mut a = app();
    // DONE_COUNT is 4 after the first dispatch; slot 50, published after it, makes it 5 in
    // the second: the watchpoint `DONE_COUNT >= 5` must stop the run right there.
    a.debugger.apply(Action::Dispatch { count: 1 }).unwrap();
    a.debugger
        .apply(Action::Publish {
            slot: 50,
            tenant: 0,
            opcode: Opcode::PRINTF,
            args: vec![9, 0, 0],
            priority: None,
        })
        .unwrap();
    a.debugger
        .breakpoints_mut()
        .push(Breakpoint::new(Condition::ControlCompare {
            word: 1,
            op: CompareOp::Ge,
            value: 5,
            mask: u32::MAX,
        }));
    let mut h = harness(a);
    h.run();
    h.get_by_label("Run to break").click();
    h.run_steps(6);
    assert!(!h.state().transport.running, "the run stopped");
    assert_eq!(
        h.state().debugger.dispatches(),
        2,
        "stopped right after the dispatch that ran slot 50"
    );
    assert!(
        h.state().status_line.contains("stopped"),
        "{}",
        h.state().status_line
    );
    assert_eq!(h.state().debugger.breakpoints()[0].hits, 1);
}

#[test]
fn unsaved_changes_prompt_guards_new() {
    let mut h = harness(app());
    h.run();
    h.get_by_label("Step").click();
    h.run();
    assert!(h.state().files.dirty, "a dispatch is an unsaved change");
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.run();
    assert!(
        h.query_by_label_contains("has changes that are not saved")
            .is_some()
    );
    h.get_by_label("Cancel").click();
    h.run();
    assert!(h.state().new_dialog.is_none(), "cancel keeps the state");
    assert_eq!(h.state().debugger.dispatches(), 1);
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::N);
    h.run();
    h.get_by_label("Discard").click();
    h.run();
    assert!(h.state().new_dialog.is_some(), "discard goes on to New");
}

#[test]
fn save_as_then_open_through_the_path_prompt() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("ui.ron");
    let mut h = harness(app());
    h.run();
    h.get_by_label("Step").click();
    h.run();
    let saved = h.state().debugger.state().clone();
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::S,
    );
    h.run();
    let field = h.get_by_label("path");
    field.focus();
    field.type_text(path.to_str().unwrap());
    h.run();
    h.get_by_label("Save").click();
    h.run();
    assert!(path.exists(), "the session was written");
    assert!(!h.state().files.dirty);
    assert_eq!(h.state().files.recent.first(), Some(&path));
    // change the state, then open the saved file again
    h.get_by_label("Step").click();
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::O);
    h.run();
    h.get_by_label("Discard").click();
    h.run();
    let field = h.get_by_label("path");
    field.focus();
    field.type_text(path.to_str().unwrap());
    h.run();
    h.get_by_label("Open").click();
    for _ in 0..200 {
        h.step();
        if h.state().debugger.dispatches() == 1 && !h.state().files.is_loading() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(
        h.state().debugger.state(),
        &saved,
        "the reopened session is the saved state"
    );
}

#[test]
fn a_bad_file_shows_an_error_and_the_app_keeps_running() {
    let t = tempfile::tempdir().unwrap();
    let bad = t.path().join("bad.ron");
    std::fs::write(&bad, "(version: 99)").unwrap();
    let mut h = harness(app());
    h.run();
    h.state_mut().files.open_path(bad);
    for _ in 0..200 {
        h.step();
        if h.state().toasts.last_error().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let e = h
        .state()
        .toasts
        .last_error()
        .expect("an error toast")
        .to_string();
    assert!(e.contains("version 99") && e.contains("upgrade"), "{e}");
    h.get_by_label("Step").click();
    h.run();
    assert_eq!(h.state().debugger.dispatches(), 1, "still usable");
}

/// A recording of four steps whose last dispatch has a ring word the kernel never writes.
fn recorded_app(dir: &std::path::Path) -> MegascopeApp {
    use megascope::engine::DispatchOptions;
    use megascope::engine::cpu::CpuEngine;
    use megascope::resident::ResidentBuffers;
    use megascope_record::{Buffers, Fingerprint, Meta, Recorder, Recording, StepInfo};
    fn bufs(m: &ResidentBuffers) -> Buffers<'_> {
        Buffers {
            control: m.control(),
            ring: m.ring(),
            debug_log: m.debug_log(),
            io_queue: m.io_queue(),
        }
    }
    let mut m = ResidentBuffers::new(64, 1, 4).unwrap();
    let path = dir.join("run.msrec");
    let fp = Fingerprint::from_lengths(m.control().len(), m.ring().len(), 257, 512, 1);
    let mut rec = Recorder::create(&path, Meta::new(fp, "ui test")).unwrap();
    rec.record(StepInfo::host("initial"), bufs(&m)).unwrap();
    m.publish_slot(2, 0, Opcode::ATOMIC_ADD, &[3, 160]).unwrap();
    rec.record(StepInfo::host("publish"), bufs(&m)).unwrap();
    m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
        .unwrap();
    rec.record(StepInfo::dispatch("once", 64, "dispatch 0"), bufs(&m))
        .unwrap();
    m.publish_slot(5, 0, Opcode::NOP, &[]).unwrap();
    m.dispatch(&mut CpuEngine::new(), &DispatchOptions::default())
        .unwrap();
    m.buffers_mut().ring[5 * 16 + 9] = 77;
    rec.record(StepInfo::dispatch("once", 64, "dispatch 1"), bufs(&m))
        .unwrap();
    rec.finish().unwrap();
    let d = Debugger::from_recording(Recording::open(&path).unwrap(), &mut |_, _| {}).unwrap();
    MegascopeApp::new(d)
}

#[test]
fn a_recording_opened_from_a_path_replays_and_is_never_the_save_target() {
    let t = tempfile::tempdir().unwrap();
    drop(recorded_app(t.path()));
    let path = t.path().join("run.msrec");
    let mut h = harness(app());
    h.run();
    h.state_mut().files.open_path(path.clone());
    for _ in 0..500 {
        h.step();
        if h.state().debugger.replay().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.step();
    assert_eq!(h.state().debugger.replay().map(|r| r.steps), Some(4));
    assert!(
        h.state().files.path.is_none(),
        "Save never writes over the recording"
    );
    assert!(!h.state().files.dirty);
    let len = std::fs::metadata(&path).unwrap().len();
    h.state_mut().files.save(false);
    h.step();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len);
}

#[test]
fn a_recording_replays_read_only_and_marks_what_differs_from_the_oracle() {
    let t = tempfile::tempdir().unwrap();
    let mut h = harness(recorded_app(t.path()));
    h.run();
    assert!(h.query_by_label_contains("Replaying run.msrec").is_some());
    assert!(h.query_by_label_contains("step 3 of 3").is_some());
    assert!(
        h.query_by_label_contains("this step differs from the oracle in 1 slot (highlighted)")
            .is_some(),
        "the last step is marked"
    );
    assert_eq!(
        h.state().changed[5],
        h.state().changed_serial,
        "slot 5 highlighted"
    );
    // step back and forward walk the recorded steps
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    assert!(h.query_by_label_contains("step 2 of 3").is_some());
    assert_eq!(h.state().debugger.state().control()[160], 3);
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert!(h.query_by_label_contains("step 3 of 3").is_some());
    h.key_press(egui::Key::ArrowRight);
    h.run();
    assert!(h.state().status_line.contains("at the last recorded step"));
    assert_eq!(
        h.state().debugger.timeline().len(),
        4,
        "nothing was dispatched"
    );
    // "previous" goes to nothing earlier; the timeline walk is read-only
    h.get_by_label("previous").click();
    h.run();
    assert_eq!(h.state().debugger.replay_step(), Some(3));
    h.get_by_label("Continue from here").click();
    h.run();
    assert!(h.query_by_label_contains("Replaying").is_none());
    assert!(h.state().debugger.replay().is_none());
    assert!(h.state().files.dirty && h.state().files.path.is_none());
    h.get_by_label("Step").click();
    h.run();
    assert_eq!(h.state().debugger.dispatches(), 1, "a normal session runs");
}

/// A race names two slots: clicking it selects the first and rings the second.
#[test]
fn clicking_a_race_selects_one_slot_and_marks_the_other() {
    let mut d = Debugger::new(
        Geometry {
            slot_count: 64,
            tenant_count: 1,
            observable_slots: 4,
        },
        RunConfig::default(),
        Backend::Cpu,
    )
    .unwrap();
    store_race_on_160(&mut d);
    let mut h = harness(MegascopeApp::new(d));
    h.run();
    h.get_by_label_contains("Diagnostics (").click();
    h.run();
    let race = h.get_by_label_contains("slot 5 and slot 9 store different values to control[160]");
    race.click();
    h.run();
    assert_eq!(h.state().selection, Some(5));
    assert_eq!(h.state().grid.race_pair, Some([5, 9]));
}

// ---- the command path, the palette and the dock ----------------------------------------

fn title_shows_unsaved(h: &Harness<MegascopeApp>) -> bool {
    h.query_by_label("untitled •").is_some()
}

#[test]
fn the_palette_finds_a_command_by_a_few_letters_and_runs_it_with_enter() {
    let mut h = harness(app());
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run();
    assert!(h.state().palette.open);
    assert!(
        h.query_by_label("Reset layout").is_some(),
        "the whole list before anything is typed"
    );
    h.get_by_label("Run a command").type_text("step one d");
    h.run();
    assert!(h.query_by_label("Step one dispatch").is_some());
    assert!(
        h.query_by_label("Reset layout").is_none(),
        "the list narrows to what matches"
    );
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(
        !h.state().palette.open,
        "running a command closes the palette"
    );
    assert_eq!(h.state().debugger.dispatches(), 1);
    // Ctrl+Shift+P opens it too, and Escape closes it without running anything
    h.key_press_modifiers(
        egui::Modifiers::COMMAND | egui::Modifiers::SHIFT,
        egui::Key::P,
    );
    h.run();
    assert!(h.state().palette.open);
    h.key_press(egui::Key::Escape);
    h.run();
    assert!(!h.state().palette.open);
    assert_eq!(h.state().debugger.dispatches(), 1);
}

#[test]
fn go_to_slot_selects_the_slot_and_brings_it_into_view() {
    let mut h = harness(app());
    h.run();
    // a zoomed-in view that does not show slot 250
    h.state_mut().grid.cell = Some(40.0);
    h.run();
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::G);
    h.run();
    h.get_by_label("Run a command").type_text("250");
    h.run();
    assert!(h.query_by_label("Go to slot 250").is_some());
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().selection, Some(250));
    assert!(h.query_by_label("selected slot 250").is_some());
    assert_ne!(
        h.state().grid.pan,
        egui::Vec2::ZERO,
        "the view moved to the cell"
    );
    // a slot past the ring is refused with a message
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::G);
    h.run();
    h.get_by_label("Run a command").type_text("999");
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(h.query_by_label_contains("there is no slot 999").is_some());
    assert_eq!(h.state().selection, Some(250));
}

#[test]
fn unsaved_follows_every_change_a_save_would_keep() {
    let mut h = harness(app());
    h.run();
    assert!(!title_shows_unsaved(&h), "a fresh app has nothing to save");
    // a breakpoint added through the form
    h.state_mut().bp_form.kind = megascope::ui::breakpoints_panel::Kind::OpcodeRuns;
    h.state_mut().bp_form.text = "PRINTF".into();
    h.run();
    h.get_by_label_contains("Add: ").click();
    h.run();
    assert_eq!(h.state().debugger.breakpoints().len(), 1);
    assert!(title_shows_unsaved(&h), "adding a breakpoint is unsaved");
    // stepping back is too (the session saves the point shown)
    let mut h = harness(app());
    h.run();
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    assert!(title_shows_unsaved(&h), "stepping back is unsaved");
}

#[test]
fn a_future_dropped_by_reset_is_announced_and_undo_brings_it_back() {
    let mut h = harness(app());
    h.run();
    h.get_by_label("Step").click();
    h.run();
    let after = h.state().debugger.state().clone();
    h.get_by_label("Back").click();
    h.run();
    h.get_by_label("Reset").click();
    h.run();
    assert!(
        h.query_all_by_label_contains("1 timeline point after this point dropped")
            .next()
            .is_some(),
        "the status line says what was dropped"
    );
    assert_eq!(h.state().debugger.dispatches(), 0);
    h.get_by_label("Undo").click();
    h.run();
    assert!(
        h.query_by_label_contains("restored 1 timeline point")
            .is_some()
    );
    h.get_by_label("Forward").click();
    h.run();
    assert_eq!(h.state().debugger.state(), &after);
    assert_eq!(h.state().debugger.dispatches(), 1);
}

#[test]
fn breakpoint_hits_and_diagnostics_follow_the_timeline_point_shown() {
    let mut a = app();
    // two stores to one word race; a breakpoint on any slot finishing
    publish_race(&mut a.debugger);
    a.debugger
        .edit(megascope::debugger::settings::Edit::AddBreakpoint(
            Condition::OpcodeRuns {
                opcode: Opcode::STORE_U32,
            },
        ))
        .unwrap();
    let mut h = harness(a);
    h.run();
    h.state_mut().apply(
        megascope::ui::command::UiCommand::ShowPane(megascope::ui::command::Pane::Diagnostics),
        &egui::Context::default(),
    );
    h.run();
    assert!(h.query_by_label("0 hits").is_some());
    assert!(h.query_by_label_contains("Diagnostics (0)").is_some());
    h.get_by_label("Step").click();
    h.run();
    assert!(h.query_by_label("1 hit").is_some(), "one hit, singular");
    let shown = h.state().debugger.diagnostics_shown().len();
    assert!(shown > 0);
    assert!(
        h.query_by_label_contains(&format!("Diagnostics ({shown})"))
            .is_some()
    );
    h.get_by_label("Back").click();
    h.run();
    assert!(
        h.query_by_label("0 hits").is_some(),
        "the hit is after the cursor"
    );
    assert!(h.query_by_label_contains("Diagnostics (0)").is_some());
    // stepping again does not list the diagnostics twice
    h.get_by_label("Step").click();
    h.run();
    assert!(
        h.query_by_label_contains(&format!("Diagnostics ({shown})"))
            .is_some()
    );
}

#[test]
fn an_empty_breakpoint_field_asks_for_input_instead_of_showing_an_error() {
    let mut h = harness(app());
    h.state_mut().bp_form.kind = megascope::ui::breakpoints_panel::Kind::ControlChanges;
    h.run();
    assert!(
        h.query_by_label_contains("fill in the field above")
            .is_some()
    );
    assert!(h.query_by_label_contains("is not a control word").is_none());
    h.state_mut().bp_form.text = "nope".into();
    h.run();
    assert!(h.query_by_label_contains("is not a control word").is_some());
}

#[test]
fn view_reset_layout_puts_the_panels_back() {
    let mut h = harness(app());
    h.run();
    h.state_mut().layout = egui_tiles::Tree::new_tabs(
        egui::Id::unique("scrambled"),
        megascope::ui::command::Pane::ALL.to_vec(),
    );
    h.run();
    h.get_by_label("View").click();
    h.run();
    h.get_by_label("Reset layout").click();
    h.run();
    let tiles = &h.state().layout.tiles;
    let parent = |p| tiles.parent_of(tiles.find_pane(&p).unwrap());
    use megascope::ui::command::Pane;
    assert_ne!(
        parent(Pane::Grid),
        parent(Pane::Publish),
        "the grid has its own place again"
    );
    assert_eq!(parent(Pane::Plots), parent(Pane::Timeline), "bottom tabs");
    assert!(
        h.query_by_label_contains("back in their first places")
            .is_some()
    );
}

#[test]
fn who_wrote_lists_every_writer_with_what_it_wrote_and_the_history() {
    let mut h = harness(app());
    h.run();
    h.get_by_label("Step").click();
    h.run();
    // DONE_COUNT: four slots ran, each added 1
    let who = h
        .query_all_by_label("who?")
        .nth(1)
        .expect("a who? button on the DONE_COUNT row");
    who.click();
    h.run();
    assert!(
        h.state().status_line.contains("DONE_COUNT"),
        "{}",
        h.state().status_line
    );
    assert!(
        h.query_by_label_contains("Who wrote control[1] (DONE_COUNT)?")
            .is_some()
    );
    assert!(h.query_by_label("4 writers").is_some());
    for s in 0..4 {
        assert!(
            h.query_by_label(&format!("slot {s}")).is_some(),
            "slot {s} listed"
        );
    }
    assert_eq!(
        h.query_all_by_label_contains("added 1 (DONE_COUNT counts every slot that ran)")
            .count(),
        4
    );
    assert!(h.query_by_label("history: 1 change").is_some());
    // a writer links to its slot
    h.get_by_label("slot 2").click();
    h.run();
    assert_eq!(h.state().selection, Some(2));
}

#[test]
fn the_diagnostics_export_writes_a_csv_where_the_user_says() {
    let t = tempfile::tempdir().unwrap();
    let path = t.path().join("diagnostics.csv");
    let mut a = app();
    publish_race(&mut a.debugger);
    let mut h = harness(a);
    h.run();
    h.get_by_label("Step").click();
    h.run();
    // a session saved in the temp dir: the export is suggested beside it
    h.state_mut().files.path = Some(t.path().join("s.ron"));
    h.state_mut().apply(
        megascope::ui::command::UiCommand::Export(megascope::ui::export::Export::Diagnostics),
        &egui::Context::default(),
    );
    h.run();
    assert!(h.query_by_label("Export the diagnostics as CSV").is_some());
    h.get_by_label("Export").click();
    h.run();
    let text = std::fs::read_to_string(&path).expect("the CSV is written");
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("kind,dispatch,pass,slot"));
    assert!(lines.any(|l| l.starts_with("race,0,")), "{text}");
}

#[test]
fn every_panel_draws_when_brought_to_the_front_with_every_glyph_in_the_fonts() {
    // kittest refuses text the fonts cannot draw: each panel must render in full
    let mut a = app();
    a.debugger.apply(Action::Dispatch { count: 2 }).unwrap();
    let mut h = harness(a);
    h.run();
    for p in megascope::ui::command::Pane::ALL {
        h.state_mut().apply(
            megascope::ui::command::UiCommand::ShowPane(p),
            &egui::Context::default(),
        );
        h.run();
        assert!(
            h.query_all_by_label_contains(p.title()).next().is_some(),
            "{p:?}'s tab is shown"
        );
    }
    h.state_mut().timeline.a = 0;
    h.state_mut().timeline.b = 2;
    h.run();
}

#[test]
fn slots_selected_by_a_condition_are_highlighted_and_counted() {
    let mut h = harness(app());
    h.run();
    let field = h.get_by_label("where");
    field.focus();
    field.type_text("PUBLISHED && slot >= 2");
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert!(h.query_by_label("2 slots match").is_some());
    let serial = h.state().changed_serial;
    let marked: Vec<usize> = (0..256)
        .filter(|&s| h.state().changed[s] == serial)
        .collect();
    assert_eq!(marked, [2, 3]);
    // it follows the timeline: after a step nothing is PUBLISHED any more
    h.get_by_label("Step").click();
    h.run();
    assert!(h.query_by_label("0 slots match").is_some());
    // a typo is named, not ignored
    h.state_mut().apply(
        megascope::ui::command::UiCommand::SelectWhere("tenat == 1".into()),
        &egui::Context::default(),
    );
    h.run();
    assert!(
        h.query_by_label_contains("`tenat` is not a field")
            .is_some()
    );
}

#[test]
fn a_bookmark_names_a_point_and_takes_the_user_back_to_it() {
    let mut a = app();
    a.debugger.apply(Action::Dispatch { count: 2 }).unwrap();
    let mut h = harness(a);
    h.run();
    h.state_mut().apply(
        megascope::ui::command::UiCommand::ShowPane(megascope::ui::command::Pane::Timeline),
        &egui::Context::default(),
    );
    h.run();
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    let point = h.state().debugger.timeline().cursor();
    let field = h.get_by_label("bookmark");
    field.focus();
    field.type_text("before the last dispatch");
    h.run();
    h.get_by_label("Bookmark this point").click();
    h.run();
    let label = format!("before the last dispatch (point {point})");
    assert!(h.query_by_label(&label).is_some());
    assert!(h.state().is_dirty(), "a bookmark is saved with the session");
    h.key_press(egui::Key::ArrowLeft);
    h.run();
    h.get_by_label(&label).click();
    h.run();
    assert_eq!(h.state().debugger.timeline().cursor(), point);
}

#[test]
fn on_the_gpu_backend_the_forms_and_inspector_agree_with_the_grid_after_a_step() {
    let mut a = app();
    a.debugger.attach_gpu(
        megascope::engine::gpu::GpuEngine::new_headless().expect("a wgpu adapter (lavapipe in CI)"),
    );
    a.debugger.set_backend(Backend::Gpu).unwrap();
    // keep the ring on the device between dispatches, as at a million slots
    a.debugger
        .set_recording(megascope::debugger::Recording::Aggregated);
    let mut h = harness(a);
    h.run();
    assert!(
        h.query_by_label_contains("slot 0 is in flight").is_some(),
        "slot 0 is PUBLISHED before the step"
    );
    h.get_by_label("Step").click();
    h.run();
    assert_eq!(h.state().debugger.dispatches(), 1);
    assert!(
        h.query_by_label_contains("slot 0 is in flight").is_none(),
        "the publish form sees slot 0 DONE, as the grid does"
    );
    assert_eq!(status(&h, 0), SlotStatus::Done);
    assert!(
        h.query_all_by_label("1 dispatch").next().is_some(),
        "the top bar counts it"
    );
    // the same command path as on the CPU: the palette steps on the GPU too
    h.key_press_modifiers(egui::Modifiers::COMMAND, egui::Key::K);
    h.run();
    h.get_by_label("Run a command")
        .type_text("step one dispatch");
    h.run();
    h.key_press(egui::Key::Enter);
    h.run();
    assert_eq!(h.state().debugger.dispatches(), 2);
}

/// The diagnostics tab always says whether races were looked for: on the GPU backend the
/// race is found and the tab says the analysis ran there; with the analysis off it says so,
/// and an empty list does not read "nothing racy".
#[test]
fn the_diagnostics_tab_says_whether_races_were_looked_for() {
    for race_analysis in [true, false] {
        let mut d = Debugger::new(
            Geometry {
                slot_count: 64,
                tenant_count: 1,
                observable_slots: 4,
            },
            RunConfig {
                race_analysis,
                ..RunConfig::default()
            },
            Backend::Cpu,
        )
        .unwrap();
        let gpu = megascope::engine::gpu::GpuEngine::new_headless()
            .unwrap_or_else(|e| panic!("this test needs a wgpu adapter (lavapipe will do): {e}"));
        d.attach_gpu(gpu);
        d.set_backend(Backend::Gpu).unwrap();
        store_race_on_160(&mut d);
        let mut h = harness(MegascopeApp::new(d));
        h.run();
        h.get_by_label_contains("Diagnostics (").click();
        h.run();
        if race_analysis {
            h.get_by_label_contains("race analysis: on (gpu backend)");
            h.get_by_label_contains("slot 5 and slot 9 store different values to control[160]");
        } else {
            h.get_by_label_contains("race analysis: off on the gpu backend");
            h.get_by_label_contains("races were not looked for");
        }
    }
}

#[test]
fn a_cells_context_menu_asks_who_wrote_its_status() {
    let mut h = harness(app());
    h.state_mut().grid.cell = Some(20.0);
    h.run();
    h.get_by_label("Step").click();
    h.run();
    let rect = h.state().grid.last_rect.expect("the grid was drawn");
    let at = rect.min + egui::vec2(25.0, 5.0); // slot 1
    for pressed in [true, false] {
        h.event(egui::Event::PointerButton {
            pos: at,
            button: egui::PointerButton::Secondary,
            pressed,
            modifiers: egui::Modifiers::NONE,
        });
    }
    h.run();
    assert!(
        h.query_by_label("slot 1").is_some(),
        "the menu names the cell"
    );
    h.get_by_label("Who wrote its status?").click();
    h.run();
    assert!(
        h.query_by_label_contains("Who wrote slot 1 word 0?")
            .is_some()
    );
    assert!(
        h.query_by_label_contains("the kernel running slot 1: PUBLISHED -> DONE")
            .is_some()
    );
    assert!(
        h.query_by_label("history: 2 changes").is_some(),
        "published, then done"
    );
}

#[test]
fn the_inspector_timeline_and_diagnostics_show_the_state_on_both_backends() {
    for backend in [Backend::Cpu, Backend::Gpu] {
        let mut a = app();
        publish_race(&mut a.debugger);
        a.debugger.attach_gpu(
            megascope::engine::gpu::GpuEngine::new_headless()
                .expect("a wgpu adapter (lavapipe in CI)"),
        );
        a.debugger.set_backend(backend).unwrap();
        let mut h = harness(a);
        h.run();
        h.get_by_label("Step").click();
        h.run();
        // the inspector decodes the selected slot
        h.state_mut().apply(
            megascope::ui::command::UiCommand::GoToSlot(20),
            &egui::Context::default(),
        );
        h.run();
        assert!(
            h.query_by_label("STORE_U32").is_some(),
            "{backend:?}: opcode by name"
        );
        assert!(
            h.query_by_label("DONE").is_some(),
            "{backend:?}: status by name"
        );
        // the diagnostics panel names the race's two slots and its word
        h.state_mut().apply(
            megascope::ui::command::UiCommand::ShowPane(megascope::ui::command::Pane::Diagnostics),
            &egui::Context::default(),
        );
        h.run();
        assert!(
            h.query_by_label_contains("slot 20 and slot 21").is_some(),
            "{backend:?}: the race names both slots"
        );
        // the timeline lists the dispatch point by its label
        h.state_mut().apply(
            megascope::ui::command::UiCommand::ShowPane(megascope::ui::command::Pane::Timeline),
            &egui::Context::default(),
        );
        h.run();
        assert!(
            h.query_all_by_label_contains("dispatch 0:")
                .next()
                .is_some(),
            "{backend:?}: the timeline shows the dispatch"
        );
    }
}

#[test]
fn a_dump_imported_in_the_app_takes_the_tenant_count_given_as_the_cli_does() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path().join("dump");
    let state = app().debugger.state().clone();
    megascope::files::dump::write_dump(&dir, &state).unwrap();
    let mut h = harness(app());
    h.run();
    h.state_mut().apply(
        megascope::ui::command::UiCommand::ImportDump,
        &egui::Context::default(),
    );
    h.run();
    let path = h.get_by_label("path");
    path.focus();
    path.type_text(&dir.display().to_string());
    h.run();
    h.get_by_label("tenants").set_value_accesskit(3.0);
    h.run();
    h.get_by_label("Open").click();
    for _ in 0..300 {
        // the status line's spinner repaints while the dump loads: step, not run to rest
        h.step();
        if !h.state().files.is_loading() && h.state().debugger.geometry().tenant_count == 3 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    h.run_steps(3);
    assert_eq!(h.state().debugger.geometry().tenant_count, 3);
    assert_eq!(h.state().debugger.state(), &state);
    assert!(
        h.query_by_label_contains("3 tenants").is_some(),
        "the status line says so"
    );
}
