//! Running a target over a range of seeds, on every core, and counting the outcomes.

use crate::{crash_report, Verdict};
use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A half-open range of seeds, written `A..B` (or a single seed `A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedRange {
    pub start: u64,
    pub end: u64,
}

impl SeedRange {
    pub fn len(&self) -> u64 {
        self.end.saturating_sub(self.start)
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl FromStr for SeedRange {
    type Err = String;
    fn from_str(s: &str) -> Result<SeedRange, String> {
        let num = |t: &str| {
            t.trim()
                .replace('_', "")
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a seed; seeds are whole numbers"))
        };
        match s.split_once("..") {
            Some((a, b)) => {
                let (start, end) = (num(a)?, num(b)?);
                if end < start {
                    return Err(format!("the seed range `{s}` ends before it starts; write START..END with START <= END"));
                }
                Ok(SeedRange { start, end })
            }
            None => {
                let start = num(s)?;
                Ok(SeedRange {
                    start,
                    end: start + 1,
                })
            }
        }
    }
}

impl std::fmt::Display for SeedRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// What a run came to.
#[derive(Debug, Default)]
pub struct Summary {
    pub cases: u64,
    pub passed: BTreeMap<&'static str, u64>,
    pub skipped: BTreeMap<&'static str, u64>,
    /// Failures whose message matches a finding that is known and open, by its label.
    pub known: BTreeMap<&'static str, u64>,
    /// New failures: seed and message.
    pub failures: Vec<(u64, String)>,
    pub elapsed: Duration,
}

impl Summary {
    pub fn cases_per_second(&self) -> f64 {
        self.cases as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn record(&mut self, seed: u64, verdict: Verdict) {
        self.cases += 1;
        match verdict {
            Verdict::Pass(l) => *self.passed.entry(l).or_default() += 1,
            Verdict::Skip(l) => *self.skipped.entry(l).or_default() += 1,
            Verdict::Fail(msg) => match crate::known::classify(&msg) {
                Some(label) => *self.known.entry(label).or_default() += 1,
                None => self.failures.push((seed, msg)),
            },
        }
    }

    /// A human-readable report; one line per category.
    pub fn report(&self, target: &str, seeds: SeedRange, jobs: usize) -> String {
        let mut s = format!(
            "{target}: seeds {seeds}, {} cases in {:.1} s on {jobs} worker(s): {:.1} cases/s\n",
            self.cases,
            self.elapsed.as_secs_f64(),
            self.cases_per_second()
        );
        for (l, n) in &self.passed {
            s.push_str(&format!("  pass  {l:<28} {n}\n"));
        }
        for (l, n) in &self.skipped {
            s.push_str(&format!("  skip  {l:<28} {n}\n"));
        }
        for (l, n) in &self.known {
            s.push_str(&format!("  known {l:<28} {n}\n"));
        }
        s.push_str(&format!(
            "  FAIL  {:<28} {}\n",
            "new failures",
            self.failures.len()
        ));
        for (seed, msg) in self.failures.iter().take(50) {
            s.push_str(&format!("    seed {seed}: {msg}\n"));
        }
        s
    }
}

/// Runs `case` for every seed of `seeds` on `jobs` threads. Each thread builds its own
/// state with `init` (a region, a scratch directory) and keeps it for all its seeds.
/// With `progress`, a line goes to stderr every ten seconds.
pub fn run<S>(
    seeds: SeedRange,
    jobs: usize,
    progress: bool,
    init: impl Fn() -> S + Sync,
    case: impl Fn(&mut S, u64) -> Verdict + Sync,
) -> Summary {
    let next = AtomicU64::new(seeds.start);
    let summary = Mutex::new(Summary::default());
    let start = Instant::now();
    let jobs = jobs.max(1);
    std::thread::scope(|scope| {
        for worker in 0..jobs {
            let (next, summary, init, case) = (&next, &summary, &init, &case);
            std::thread::Builder::new()
                .name(format!("fuzz-worker-{worker}"))
                // Compiling a large generated function recurses deeply in the code generator.
                .stack_size(64 << 20)
                .spawn_scoped(scope, move || {
                    let mut state = init();
                    loop {
                        let seed = next.fetch_add(1, Ordering::Relaxed);
                        if seed >= seeds.end {
                            break;
                        }
                        crash_report::set_current(worker, seed);
                        let verdict =
                            match crate::catch_panic("the harness", || case(&mut state, seed)) {
                                Ok(v) => v,
                                Err(msg) => Verdict::Fail(msg),
                            };
                        crash_report::clear_current(worker);
                        summary
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .record(seed, verdict);
                    }
                })
                .expect("spawning a worker thread");
        }
        if progress {
            let mut last = Instant::now();
            while next.load(Ordering::Relaxed) < seeds.end {
                std::thread::sleep(Duration::from_millis(200));
                if last.elapsed() >= Duration::from_secs(10) {
                    last = Instant::now();
                    let s = summary.lock().unwrap_or_else(|e| e.into_inner());
                    let rate = s.cases as f64 / start.elapsed().as_secs_f64();
                    eprintln!(
                        "  .. {} / {} cases, {rate:.1}/s, {} new failure(s), {} known",
                        s.cases,
                        seeds.len(),
                        s.failures.len(),
                        s.known.values().sum::<u64>()
                    );
                }
            }
        }
    });
    let mut s = summary.into_inner().unwrap_or_else(|e| e.into_inner());
    s.elapsed = start.elapsed();
    s.failures.sort();
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges() {
        assert_eq!("0..100".parse(), Ok(SeedRange { start: 0, end: 100 }));
        assert_eq!(
            "1_000..2_000".parse(),
            Ok(SeedRange {
                start: 1000,
                end: 2000
            })
        );
        assert_eq!("7".parse(), Ok(SeedRange { start: 7, end: 8 }));
        assert!("5..1".parse::<SeedRange>().is_err());
        assert!("a..b".parse::<SeedRange>().is_err());
    }
}
