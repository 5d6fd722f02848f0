//! Progress lines on stderr for long command-line work (a long run, an import, a
//! benchmark), shared by the CLI and the benchmarks.

use std::time::{Duration, Instant};

/// Prints a progress line at most once an interval once a run has taken longer than it: a
/// second, or `MEGASCOPE_PROGRESS_MS` milliseconds (0 prints from the first step; tests use
/// it so they do not depend on how fast the machine is).
pub struct Progress {
    start: Instant,
    last: Instant,
    total: u64,
    what: &'static str,
    shown: bool,
    every: Duration,
}

/// The interval `MEGASCOPE_PROGRESS_MS` asks for, or a second.
fn interval() -> Duration {
    std::env::var("MEGASCOPE_PROGRESS_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}

impl Progress {
    pub fn new(what: &'static str, total: u64) -> Progress {
        let now = Instant::now();
        Progress {
            start: now,
            last: now,
            total,
            what,
            shown: false,
            every: interval(),
        }
    }

    /// Sets the total once it is known (an import learns it after listing the steps).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    pub fn tick(&mut self, done: u64) {
        let now = Instant::now();
        if now.duration_since(self.start) >= self.every
            && (now.duration_since(self.last) >= self.every || !self.shown)
        {
            self.last = now;
            self.shown = true;
            let pct = if self.total == 0 {
                100.0
            } else {
                done as f64 * 100.0 / self.total as f64
            };
            eprintln!(
                "megascope: {} {done}/{} ({pct:.0}%), {:.1} s",
                self.what,
                self.total,
                now.duration_since(self.start).as_secs_f64()
            );
        }
    }

    pub fn finish(&self) {
        if self.shown {
            eprintln!(
                "megascope: {} done in {:.1} s",
                self.what,
                self.start.elapsed().as_secs_f64()
            );
        }
    }
}
