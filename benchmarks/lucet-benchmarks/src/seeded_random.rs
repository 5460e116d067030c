//! The random bytes both runtimes hand to a program's `random_get`.
//!
//! Some programs (libsodium's `box_easy2`, `secretbox_easy2`, ...) pick their message
//! lengths with `randombytes`, so with the operating system's randomness every run does
//! a different amount of work and a lucet/Wasmtime ratio compares unlike runs. Each run
//! on either side instead gets a fresh [`SeededBytes`] started from [`SEED`], so the two
//! runtimes see the same bytes and the program does the same work on both.

/// The seed of every run's stream. Any constant does; changing it changes how much
/// work the randomized programs do, so figures from different seeds do not compare.
pub const SEED: u64 = 0x6c75_6365_7442_656e;

/// A deterministic byte stream (SplitMix64 words, least significant byte first).
///
/// The stream depends only on the seed and on how many bytes were taken before, never
/// on how the requests were split: `fill` keeps the unused bytes of the last word for
/// the next request. Not suitable for anything secret.
#[derive(Debug, Clone)]
pub struct SeededBytes {
    state: u64,
    /// The word being handed out, and how many of its bytes are already taken.
    word: [u8; 8],
    used: usize,
}

impl SeededBytes {
    pub fn new(seed: u64) -> SeededBytes {
        SeededBytes { state: seed, word: [0; 8], used: 8 }
    }

    /// The stream every benchmark run uses.
    pub fn for_run() -> SeededBytes {
        SeededBytes::new(SEED)
    }

    fn next_word(&mut self) -> u64 {
        // SplitMix64: a Weyl sequence through a 64-bit mixing function. Every seed
        // gives a full-period stream of well-mixed words, and it is tiny.
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn next_byte(&mut self) -> u8 {
        if self.used == self.word.len() {
            self.word = self.next_word().to_le_bytes();
            self.used = 0;
        }
        self.used += 1;
        self.word[self.used - 1]
    }

    /// Fills `buf` with the next `buf.len()` bytes of the stream.
    pub fn fill(&mut self, buf: &mut [u8]) {
        // Byte by byte: requests are few and small (message lengths, nonces), and
        // this keeps the leftover handling obviously right.
        for b in buf {
            *b = self.next_byte();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn take(gen: &mut SeededBytes, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        gen.fill(&mut v);
        v
    }

    #[test]
    fn the_stream_does_not_depend_on_how_requests_are_split() {
        let whole = take(&mut SeededBytes::for_run(), 1000);
        for chunks in [&[1usize, 2, 3, 4, 5, 985][..], &[7, 0, 9, 16, 968], &[8, 8, 984], &[999, 1], &[3; 333]] {
            let mut gen = SeededBytes::for_run();
            let mut joined = Vec::new();
            for &n in chunks {
                joined.extend(take(&mut gen, n));
            }
            assert_eq!(joined, whole[..joined.len()], "chunks {chunks:?}");
        }
        let mut gen = SeededBytes::for_run();
        let bytes: Vec<u8> = (0..1000).map(|_| gen.next_byte()).collect();
        assert_eq!(bytes, whole);
    }

    #[test]
    fn same_seed_same_stream_other_seed_other_stream() {
        let a = take(&mut SeededBytes::for_run(), 64);
        assert_eq!(a, take(&mut SeededBytes::new(SEED), 64));
        assert_ne!(a, take(&mut SeededBytes::new(SEED + 1), 64));
        // Not degenerate: plenty of distinct byte values.
        let distinct: std::collections::BTreeSet<u8> = take(&mut SeededBytes::for_run(), 4096).into_iter().collect();
        assert!(distinct.len() > 200, "{} distinct values", distinct.len());
    }

    #[test]
    fn splitmix64_reference_values() {
        // First outputs of SplitMix64 seeded with 0, as published with the algorithm.
        let mut gen = SeededBytes::new(0);
        assert_eq!(gen.next_word(), 0xe220_a839_7b1d_cdaf);
        assert_eq!(gen.next_word(), 0x6e78_9e6a_a1b9_65f4);
    }
}
