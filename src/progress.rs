//! Progress lines on stderr for long command-line work (a long run, an import, a
//! benchmark), shared by the CLI and the benchmarks.

use std::time::{Duration, Instant};

/// Prints a progress line at most once a second once a run has taken more than a second.
pub struct Progress {
    start: Instant,
    last: Instant,
    total: u64,
    what: &'static str,
    shown: bool,
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
        }
    }

    /// Sets the total once it is known (an import learns it after listing the steps).
    pub fn set_total(&mut self, total: u64) {
        self.total = total;
    }

    pub fn tick(&mut self, done: u64) {
        let now = Instant::now();
        if now.duration_since(self.start) >= Duration::from_secs(1)
            && now.duration_since(self.last) >= Duration::from_secs(1)
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
