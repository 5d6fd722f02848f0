//! Property tests over the session and dump readers: whatever the bytes, they return a value
//! or an error with a message — never a panic. Bounded case counts keep CI time small.

use megascope::engine::DispatchMirror;
use proptest::prelude::*;

const SESSION: &str = include_str!("../sessions/every_opcode.ron");

fn mutate(text: &str, edits: &[(usize, u8, u8)]) -> Vec<u8> {
    let mut b = text.as_bytes().to_vec();
    for &(pos, kind, byte) in edits {
        if b.is_empty() {
            b.push(byte);
            continue;
        }
        let i = pos % b.len();
        match kind % 4 {
            0 => b[i] = byte,
            1 => b.insert(i, byte),
            2 => {
                b.remove(i);
            }
            _ => b.truncate(i),
        }
    }
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn mutated_sessions_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>(), any::<u8>()), 1..8)) {
        let bytes = mutate(SESSION, &edits);
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fuzz.ron");
        std::fs::write(&p, &bytes).unwrap();
        match megascope::files::session::load(&p) {
            Ok(l) => prop_assert!(l.debugger.state().slot_count() > 0),
            Err(e) => prop_assert!(!e.to_string().is_empty()),
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("fuzz.ron");
        std::fs::write(&p, &bytes).unwrap();
        if let Err(e) = megascope::files::session::load(&p) {
            prop_assert!(!e.to_string().is_empty());
        }
    }

    #[test]
    fn dumps_of_any_length_never_panic(
        lens in (0usize..800, 0usize..300, 0usize..1100, 0usize..2100),
        fill in any::<u8>(),
    ) {
        let t = tempfile::tempdir().unwrap();
        let (c, r, d, io) = lens;
        for (name, len) in [("control.bin", c * 4 + c % 3), ("ring.bin", r * 4), ("debug_log.bin", d), ("io_queue.bin", io)] {
            std::fs::write(t.path().join(name), vec![fill; len]).unwrap();
        }
        match megascope::files::dump::read_dump(t.path()) {
            Ok(m) => {
                // a dump that loads dispatches without a panic, whatever its words
                let mut m = m;
                let _ = m.dispatch(&mut megascope::engine::cpu::CpuEngine::new(), &Default::default());
            }
            Err(e) => prop_assert!(e.to_string().contains(".bin") || e.to_string().contains("dump")),
        }
    }

    #[test]
    fn garbage_states_dispatch_without_panics(
        words in proptest::collection::vec(any::<u32>(), 16 * 8),
        control in proptest::collection::vec(any::<u32>(), 168),
        variant in 0u8..3,
    ) {
        use megascope::resident::{Readback, ResidentBuffers};
        let mut debug = vec![0u32; 257];
        debug[0] = control[7];
        let mut m = ResidentBuffers::from_words(8, Readback { control, ring: words, debug_log: debug, io_queue: vec![0; 512] }).unwrap();
        let v = [megascope::engine::Variant::Once, megascope::engine::Variant::Persistent, megascope::engine::Variant::Priority][variant as usize];
        let opts = megascope::engine::DispatchOptions { variant: v, pass_budget: 8, ..Default::default() };
        prop_assert!(m.dispatch(&mut megascope::engine::cpu::CpuEngine::new(), &opts).is_ok());
    }
}

/// Expressions built from the grammar's own pieces (numbers, names, operators, parentheses)
/// in any order and any depth: parsing returns a value or a message, never overflows the
/// stack; what parses evaluates for any slot without a panic.
fn expression() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("(".to_string()),
        Just(")".to_string()),
        Just("slot".to_string()),
        Just("i".to_string()),
        Just("+".to_string()),
        Just("-".to_string()),
        Just("*".to_string()),
        Just("/".to_string()),
        Just("%".to_string()),
        Just("<<".to_string()),
        Just(">>".to_string()),
        Just("&".to_string()),
        Just("|".to_string()),
        Just("^".to_string()),
        any::<u32>().prop_map(|n| n.to_string()),
        Just("0x".to_string()),
        Just("$".to_string()),
    ];
    (
        proptest::collection::vec(token, 0..40),
        0usize..3000,
        0usize..600,
    )
        .prop_map(|(toks, depth, chain)| {
            format!(
                "{}{}{}{}",
                "(".repeat(depth),
                toks.join(" "),
                "+1".repeat(chain),
                ")".repeat(depth)
            )
        })
}

/// A session action with random fields, now and then a misspelt or unknown one.
fn action() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        (0u32..80).prop_map(|v| format!("slot: {v}")),
        (0u32..40).prop_map(|v| format!("tenant: {v}")),
        Just("opcode: \"NOP\"".to_string()),
        Just("opcode: \"ATOMIC_ADD\"".to_string()),
        Just("args: [1, 160]".to_string()),
        (0u32..300).prop_map(|v| format!("word: {v}")),
        any::<u32>().prop_map(|v| format!("value: {v}")),
        (0u32..4).prop_map(|v| format!("count: {v}")),
        Just("count: 4000000000".to_string()),
        Just("tennant: 3".to_string()),
        Just("ops: [(opcode: \"NOP\")]".to_string()),
    ];
    let name = prop_oneof![
        Just("Publish"),
        Just("PublishPacked"),
        Just("WriteControl"),
        Just("Dispatch"),
        Just("Pass"),
        Just("Reset"),
    ];
    (name, proptest::collection::vec(field, 0..4)).prop_map(|(n, fields)| {
        if fields.is_empty() {
            n.to_string()
        } else {
            format!("{n}({})", fields.join(", "))
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, .. ProptestConfig::default() })]

    #[test]
    fn generated_expressions_never_panic(src in expression(), slot in any::<u32>()) {
        match megascope::debugger::expr::ArgExpr::parse(&src) {
            Ok(e) => {
                prop_assert!(src.len() <= megascope::debugger::expr::MAX_EXPR_LEN);
                let _ = e.eval(slot, slot / 2);
            }
            Err(m) => prop_assert!(!m.is_empty() && !m.contains("Op(")),
        }
    }

    #[test]
    fn generated_sessions_load_or_say_why(
        actions in proptest::collection::vec(action(), 0..6),
        slots in prop_oneof![Just(16u32), Just(64), Just(0), Just(3_000_000)],
    ) {
        let text = format!(
            "(version: 1, geometry: (slot_count: {slots}, tenant_count: 2, observable_slots: 4), script: [{}])",
            actions.join(", ")
        );
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("gen.ron");
        std::fs::write(&p, &text).unwrap();
        match megascope::files::session::load(&p) {
            Ok(l) => {
                prop_assert!(!text.contains("tennant"), "a misspelt field loaded: {text}");
                prop_assert!(l.debugger.dispatches() <= megascope::files::session::MAX_SCRIPT_DISPATCHES);
            }
            Err(e) => {
                let m = e.to_string();
                prop_assert!(!m.is_empty());
                for internal in ["serde_stacker", "recursion_limit", "Op("] {
                    prop_assert!(!m.contains(internal), "{m}");
                }
            }
        }
    }
}
