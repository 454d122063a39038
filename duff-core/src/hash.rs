//! A fast hasher for integer keys (order lines, ids, line hashes).
//!
//! SipHash, the standard library's default, resists hash flooding but costs several times
//! more per integer key; the keys hashed here are ids from the files being processed. The
//! multiply-xorshift mix below spreads them well, and a file crafted to collide costs time,
//! never correctness.

use std::hash::{BuildHasherDefault, Hasher};

/// Multiply-xorshift mixing of the words written.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct IntHasher(u64);

const K: u64 = 0x9E37_79B9_7F4A_7C15;

impl Hasher for IntHasher {
    #[inline]
    fn finish(&self) -> u64 {
        let x = self.0;
        (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (x >> 32)
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(w));
        }
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(26) ^ n).wrapping_mul(K);
    }

    #[inline]
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }

    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// Build hasher for [`IntHasher`].
pub(crate) type IntBuild = BuildHasherDefault<IntHasher>;

/// A `HashMap` with [`IntHasher`].
pub(crate) type IntMap<K, V> = std::collections::HashMap<K, V, IntBuild>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::hash::BuildHasher;

    #[test]
    fn distinct_keys_spread() {
        let b = IntBuild::default();
        let mut seen = std::collections::HashSet::new();
        for o in 0..200i64 {
            for p in 100..150i64 {
                seen.insert(b.hash_one((o, p)) >> 50);
            }
        }
        // 10,000 keys into 16,384 buckets by the top 14 bits: most buckets distinct.
        assert!(seen.len() > 6_000, "{}", seen.len());
    }
}
