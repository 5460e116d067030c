//! The realtime clock both runtimes show a program.
//!
//! Same seeded random bytes are not enough to make libsodium's randomized programs
//! repeat their work: libsodium's generator takes its nonce from `gettimeofday`, so
//! the realtime clock decides the message lengths as much as `random_get` does. Each
//! run on either side therefore gets a fresh [`SteppingClock`]: a fixed start that
//! moves a fixed step per reading, the same readings on both runtimes. The timing
//! itself never uses it (`bench.start`/`bench.end` read the host's clock), and the
//! monotonic clock stays the host's, so sleeps and timeouts still take real time.

use std::time::Duration;

/// 2024-01-01 00:00:00 UTC, in nanoseconds since the Unix epoch.
pub const START_NS: u64 = 1_704_067_200_000_000_000;

/// How far the clock moves per reading: enough that two readings always differ
/// (a program waiting for the time to change gets on), small enough that dates stay
/// plausible however often a program reads it.
pub const STEP: Duration = Duration::from_millis(1);

/// A deterministic wall clock: reading `n` (from 0) says `START_NS + n * STEP`.
#[derive(Debug, Clone, Copy)]
pub struct SteppingClock {
    next_ns: u64,
}

impl SteppingClock {
    /// The clock every benchmark run starts with.
    pub fn for_run() -> SteppingClock {
        SteppingClock { next_ns: START_NS }
    }

    /// The current reading, in nanoseconds since the Unix epoch; moves the clock on.
    pub fn read(&mut self) -> u64 {
        let now = self.next_ns;
        self.next_ns = self.next_ns.saturating_add(STEP.as_nanos() as u64);
        now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readings_step_from_the_same_start_every_run() {
        let mut a = SteppingClock::for_run();
        let readings: Vec<u64> = (0..3).map(|_| a.read()).collect();
        assert_eq!(readings, [START_NS, START_NS + 1_000_000, START_NS + 2_000_000]);
        assert_eq!(SteppingClock::for_run().read(), START_NS);
    }
}
