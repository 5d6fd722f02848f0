//! `vyre-recorder SCENARIO.json --out FILE.msrec [--path cpu-ref|gpu] [--keyframe-interval N]`
//!
//! Runs the scenario through vyre 0.7.2 and records every step with megascope-record; prints a
//! one-line JSON summary on stdout. Exit codes: 0 success, 1 vyre/recorder failure, 2 bad input.

use std::path::PathBuf;

use vyre_recorder::{run_and_record, Error, Options, PathSel, Scenario};

const USAGE: &str = "usage: vyre-recorder SCENARIO.json --out FILE.msrec [--path cpu-ref|gpu] [--keyframe-interval N]";

struct Args {
    scenario: PathBuf,
    out: PathBuf,
    path: PathSel,
    keyframe_interval: Option<u32>,
}

fn parse_args(args: &[String]) -> Result<Option<Args>, Error> {
    let bad = |m: String| Error::BadInput(format!("{m}\n{USAGE}"));
    let mut scenario = None;
    let mut out = None;
    let mut path = PathSel::CpuRef;
    let mut keyframe_interval = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| bad(format!("{flag} needs a value")))
        };
        match a.as_str() {
            "-h" | "--help" => return Ok(None),
            "--out" | "-o" => out = Some(PathBuf::from(value("--out")?)),
            "--path" => path = PathSel::parse(&value("--path")?)?,
            "--keyframe-interval" => {
                let v = value("--keyframe-interval")?;
                let n: u32 = v.parse().ok().filter(|&n| n >= 1).ok_or_else(|| {
                    bad(format!("--keyframe-interval {v:?}: need an integer >= 1"))
                })?;
                keyframe_interval = Some(n);
            }
            flag if flag.starts_with('-') => return Err(bad(format!("unknown option {flag}"))),
            file => {
                if scenario.is_some() {
                    return Err(bad(format!("unexpected argument {file:?}")));
                }
                scenario = Some(PathBuf::from(file));
            }
        }
    }
    Ok(Some(Args {
        scenario: scenario.ok_or_else(|| bad("missing SCENARIO.json".into()))?,
        out: out.ok_or_else(|| bad("missing --out FILE.msrec".into()))?,
        path,
        keyframe_interval,
    }))
}

fn run(args: &[String]) -> Result<(), Error> {
    let Some(a) = parse_args(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let scenario = Scenario::load(&a.scenario)?;
    let report = run_and_record(
        &scenario,
        &a.out,
        Options {
            path: a.path,
            keyframe_interval: a.keyframe_interval,
            hook: None,
        },
    )?;
    let mut summary = report.summary_json();
    summary["scenario"] = a.scenario.display().to_string().into();
    println!("{summary}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Err(e) = run(&args) {
        eprintln!("vyre-recorder: error: {e}");
        std::process::exit(e.exit_code());
    }
}
