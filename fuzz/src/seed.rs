//! From a seed to the bytes a target consumes.
//!
//! The stable runner has no corpus and no coverage feedback: a case is named by a
//! `u64` seed, expanded into bytes by SplitMix64. The expansion depends only on the
//! seed and the target's salt, so a seed range run today is the same cases tomorrow,
//! on any machine.

/// SplitMix64: tiny, fast, and every seed gives a full-period stream.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n > 0`); the tiny modulo bias does not matter here.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }
}

/// Each target mixes its own salt into the seed, so that seed 7 of one target is not
/// the byte stream of seed 7 of another.
#[derive(Debug, Clone, Copy)]
pub enum Salt {
    Diff = 0x6469_6666,
    Load = 0x6c6f_6164,
    Wasi = 0x7761_7369,
    Compile = 0x636f_6d70,
}

/// The PRNG for `seed` of the target salted with `salt`.
pub fn rng(salt: Salt, seed: u64) -> SplitMix64 {
    SplitMix64::new(seed ^ ((salt as u64) << 32).rotate_left(17))
}

/// `len` bytes for `seed` of the target salted with `salt`.
pub fn bytes(salt: Salt, seed: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    rng(salt, seed).fill(&mut buf);
    buf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_bytes() {
        assert_eq!(bytes(Salt::Diff, 42, 100), bytes(Salt::Diff, 42, 100));
        assert_ne!(bytes(Salt::Diff, 42, 100), bytes(Salt::Diff, 43, 100));
        assert_ne!(bytes(Salt::Diff, 42, 100), bytes(Salt::Load, 42, 100));
    }
}
