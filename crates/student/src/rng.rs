//! A tiny deterministic RNG for shuffling and augmentation. Kept separate from burn's global
//! RNG (used for initialisation and dropout) so the data order depends on the seed alone.

/// SplitMix64: fast, good enough for permutations, and seedable from any u64.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    #[cfg(test)]
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A stream for one purpose: mixes the seed with up to two labels (epoch, sample…).
    pub fn derive(seed: u64, a: u64, b: u64) -> Self {
        let mut r = SplitMix64(seed ^ 0x9E37_79B9_7F4A_7C15);
        let x = r.next_u64() ^ a.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        let mut r = SplitMix64(x);
        SplitMix64(r.next_u64() ^ b.wrapping_mul(0x94D0_49BB_1331_11EB))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        ((self.next_u64() as u128 * n as u128) >> 64) as u64
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }
}
