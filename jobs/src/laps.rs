//! Seconds per stage of a job, for its report.

use std::time::Instant;

/// A stopwatch that records one named lap per stage.
pub(crate) struct Laps {
    clock: Instant,
    pub(crate) timings: Vec<(String, f64)>,
}

impl Laps {
    pub(crate) fn new() -> Self {
        Laps {
            clock: Instant::now(),
            timings: Vec::new(),
        }
    }

    /// Records the time since the last lap (or the start) under `name`.
    pub(crate) fn lap(&mut self, name: &str) {
        self.timings
            .push((name.to_string(), self.clock.elapsed().as_secs_f64()));
        self.clock = Instant::now();
    }
}
