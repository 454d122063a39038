//! How an ingest finds the lines that repeat, byte for byte, an earlier line of the file.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(super) struct IdentityHasher(u64);

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

pub(super) type HashSetU64 = HashSet<u64, BuildHasherDefault<IdentityHasher>>;

/// How an ingest finds lines that repeat an earlier line of the same file.
#[derive(Debug)]
pub(super) enum LineIndex {
    /// Every line's hash in a set: exact in one pass, for input that cannot be read twice.
    /// A random probe per line: at millions of lines, a cache miss per line.
    Set(HashSetU64),
    /// Every line's hash appended to a vector (8 bytes per line, written in order); the
    /// repeats are found by sorting at the end, and a file that has some is read again
    /// with [`LineIndex::Known`].
    Deferred {
        /// The hashes, in line order.
        hashes: Vec<u64>,
        /// The file's expected size (0: unknown), to size `hashes` once.
        expected_bytes: u64,
        /// `hashes` was sized from the first block.
        sized: bool,
    },
    /// The second reading: only these hashes repeat; the first line with each is kept.
    Known { repeats: HashSetU64, seen: HashSetU64 },
}

impl LineIndex {
    /// A deferred index for a file of about `expected_bytes` (0: unknown).
    pub(super) fn deferred(expected_bytes: u64) -> LineIndex {
        LineIndex::Deferred { hashes: Vec::new(), expected_bytes, sized: false }
    }

    /// The second reading: `repeats` repeat; `seen_before` were met before this reading
    /// started (so their first line here is a repeat too).
    pub(super) fn known(repeats: &[u64], seen_before: &[u64]) -> LineIndex {
        LineIndex::Known { repeats: repeats.iter().copied().collect(), seen: seen_before.iter().copied().collect() }
    }

    /// Records a line; false when it repeats an earlier line (always true when deferred).
    #[inline]
    pub(super) fn insert(&mut self, hash: u64) -> bool {
        match self {
            LineIndex::Set(set) => set.insert(hash),
            LineIndex::Deferred { hashes, .. } => {
                hashes.push(hash);
                true
            }
            LineIndex::Known { repeats, seen } => !repeats.contains(&hash) || seen.insert(hash),
        }
    }

    /// Sizes a deferred index once, from the average line length of the first block
    /// (`consumed`: the bytes handled since the start of the ingest).
    pub(super) fn size_once(&mut self, consumed: u64) {
        if let LineIndex::Deferred { hashes, expected_bytes, sized } = self
            && !*sized
            && hashes.len() >= 1024
        {
            *sized = true;
            let per_line = consumed / hashes.len() as u64;
            let lines = *expected_bytes / per_line.max(1);
            hashes.reserve_exact(usize::try_from(lines + lines / 16).unwrap_or(0).saturating_sub(hashes.len()));
        }
    }

    /// The hashes of every line met, sorted (none for a second reading), leaving the index
    /// empty.
    pub(super) fn take_sorted(&mut self) -> Vec<u64> {
        let mut hashes = match std::mem::replace(self, LineIndex::deferred(0)) {
            LineIndex::Deferred { hashes, .. } => hashes,
            LineIndex::Set(set) => set.into_iter().collect(),
            LineIndex::Known { .. } => Vec::new(),
        };
        sort_u64(&mut hashes);
        hashes
    }
}

/// The hashes of the lines that repeat in a file, found by an ingest that deferred the
/// search (see [`FileIngest::deferring_repeats`](super::FileIngest::deferring_repeats)):
/// read the file again with [`FileIngest::with_repeats`](super::FileIngest::with_repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedLines(pub(super) Vec<u64>);

impl RepeatedLines {
    /// How many distinct lines repeat.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no line repeats.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The values that occur more than once in the sorted `hashes`, each once.
pub(crate) fn repeated(hashes: &[u64]) -> Vec<u64> {
    let mut repeats: Vec<u64> = hashes.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0]).collect();
    repeats.dedup();
    repeats
}

/// Sorts line hashes: a least-significant-digit radix sort (four passes of 16 bits), two to
/// three times faster than a comparison sort on millions of random 64-bit values.
pub(super) fn sort_u64(v: &mut Vec<u64>) {
    if v.len() < 4096 {
        v.sort_unstable();
        return;
    }
    let mut dst = vec![0u64; v.len()];
    let mut src = std::mem::take(v);
    let mut counts = vec![0usize; 1 << 16];
    for pass in 0..4 {
        let shift = pass * 16;
        counts.fill(0);
        for x in &src {
            counts[((x >> shift) & 0xFFFF) as usize] += 1;
        }
        let mut sum = 0;
        for c in counts.iter_mut() {
            let n = *c;
            *c = sum;
            sum += n;
        }
        for x in &src {
            let d = ((x >> shift) & 0xFFFF) as usize;
            dst[counts[d]] = *x;
            counts[d] += 1;
        }
        std::mem::swap(&mut src, &mut dst);
    }
    *v = src;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_sorts_like_sort_unstable() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut v: Vec<u64> = (0..10_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        let mut expected = v.clone();
        expected.sort_unstable();
        sort_u64(&mut v);
        assert_eq!(v, expected);
    }

    #[test]
    fn repeated_lists_each_repeat_once() {
        assert_eq!(repeated(&[1, 2, 2, 2, 3, 4, 4]), vec![2, 4]);
        assert!(repeated(&[1, 2, 3]).is_empty());
    }

    #[test]
    fn known_index_keeps_the_first_line_unless_seen_before() {
        let mut index = LineIndex::known(&[7, 9], &[9]);
        assert!(index.insert(1) && index.insert(1), "a hash that does not repeat is never flagged");
        assert!(index.insert(7));
        assert!(!index.insert(7));
        assert!(!index.insert(9), "met in an earlier part: its first line here is a repeat");
    }
}
