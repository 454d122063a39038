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

/// ASCII case-insensitive equality of two short byte strings, compared inline (the
/// enums' few letters: a call to `memcmp` would cost more than the comparison).
#[inline]
pub(crate) fn eq_ignore_case_inline(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Byte equality compared inline eight bytes at a time (names of a few dozen bytes, compared
/// once per row: cheaper than a call to `memcmp`).
#[inline]
pub(crate) fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut ca = a.chunks_exact(8);
    let mut cb = b.chunks_exact(8);
    for (x, y) in ca.by_ref().zip(cb.by_ref()) {
        let x = u64::from_ne_bytes([x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]]);
        let y = u64::from_ne_bytes([y[0], y[1], y[2], y[3], y[4], y[5], y[6], y[7]]);
        if x != y {
            return false;
        }
    }
    ca.remainder().iter().zip(cb.remainder()).all(|(x, y)| x == y)
}

#[cfg(test)]
mod tests {
    #[test]
    fn inline_comparisons_agree_with_slices() {
        let words: [&[u8]; 7] =
            [b"", b"a", b"Retail", b"retail", b"Moe's Tavern, Springfield", b"Moe's Tavern, Springfielt", b"12345678"];
        for a in words {
            for b in words {
                assert_eq!(super::same_bytes(a, b), a == b, "{a:?} {b:?}");
                assert_eq!(super::eq_ignore_case_inline(a, b), a.eq_ignore_ascii_case(b), "{a:?} {b:?}");
            }
        }
    }

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
