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
use megascope::session::ColourMode;
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
fn space_runs_and_pauses() {
    let mut h = harness(app());
    h.run();
    h.key_press(egui::Key::Space);
    h.run_steps(5);
    assert!(h.state().transport.running);
    let d = h.state().debugger.dispatches();
    assert!(d >= 3, "one dispatch per frame while running, got {d}");
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
