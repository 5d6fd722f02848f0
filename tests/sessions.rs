//! The example sessions in `sessions/` teach the tool: each must load, replay and run — with
//! `megascope run` (as a user would) and in the app (one frame with egui_kittest).

use std::path::PathBuf;
use std::process::Command;

use egui_kittest::Harness;
use megascope::ui::MegascopeApp;

fn sessions() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("sessions");
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 6,
        "at least six example sessions, found {}",
        v.len()
    );
    v
}

#[test]
fn every_example_runs_headless() {
    for p in sessions() {
        let o = Command::new(env!("CARGO_BIN_EXE_megascope"))
            .args(["run", p.to_str().unwrap(), "--dispatches", "2", "--json"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        // 3 = a breakpoint of the session stopped the run, which several examples are for
        assert!(
            matches!(o.status.code(), Some(0) | Some(3)),
            "{}: exit {:?}: {err}",
            p.display(),
            o.status.code()
        );
        let j: serde_json::Value = serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{}: {e}: {err}", p.display()));
        let file =
            megascope::files::session::parse(&p, &std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(j["slot_count"], file.geometry.slot_count, "{}", p.display());
    }
}

#[test]
fn examples_demonstrate_what_they_say() {
    let load = |name: &str| {
        megascope::files::session::load(
            &PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("sessions")
                .join(name),
        )
        .unwrap()
    };
    let kinds = |l: &megascope::files::session::LoadedSession| -> Vec<&'static str> {
        l.debugger
            .diagnostics()
            .iter()
            .map(|d| d.kind.name())
            .collect()
    };
    let mut l = load("every_opcode.ron");
    l.debugger.dispatch().unwrap();
    let k = kinds(&l);
    assert!(
        k.contains(&"dfa_step") && k.contains(&"unknown_opcode"),
        "{k:?}"
    );
    assert_eq!(l.debugger.state().control()[128], 1, "EPOCH");
    let mut l = load("debug_flood.ron");
    l.debugger.dispatch().unwrap();
    assert!(kinds(&l).contains(&"debug_overflow"));
    assert!(l.debugger.take_hit().is_some(), "its breakpoint fires");
    let mut l = load("out_of_range_hunt.ron");
    l.debugger.dispatch().unwrap();
    let hit = l
        .debugger
        .take_hit()
        .expect("stops on the out-of-range store");
    assert_eq!(hit.slot, Some(37));
    let l = load("tenants.ron");
    assert!(
        kinds(&l).contains(&"stuck_tenant") && kinds(&l).contains(&"aliased_tenant"),
        "{:?}",
        kinds(&l)
    );
    let mut l = load("races.ron");
    l.debugger.dispatch().unwrap();
    assert!(
        kinds(&l).iter().filter(|k| **k == "race").count() >= 3,
        "{:?}",
        kinds(&l)
    );
    let mut l = load("priority_starvation.ron");
    let mut stopped = false;
    for _ in 0..8 {
        l.debugger.dispatch().unwrap();
        if l.debugger.take_hit().is_some() {
            stopped = true;
            break;
        }
    }
    assert!(stopped, "the starvation watchpoint fires");
}

#[test]
fn every_example_opens_in_the_app() {
    for p in sessions() {
        let l = megascope::files::session::load(&p).unwrap();
        let mut app = MegascopeApp::new(l.debugger);
        app.apply_view_state(&l.file.view);
        let mut h = Harness::builder()
            .with_size([1400.0, 900.0])
            .build_ui_state(|ui, app: &mut MegascopeApp| app.show(ui, None), app);
        h.run_steps(2);
        assert!(
            h.state().toasts.last_error().is_none(),
            "{}: {:?}",
            p.display(),
            h.state().toasts.last_error()
        );
    }
}
