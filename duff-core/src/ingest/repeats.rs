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

    /// A deferred index appending to `hashes` (the lines of earlier parts of the same
    /// reading: one vector for the whole file, sized once by the first part).
    pub(super) fn deferred_after(hashes: Vec<u64>) -> LineIndex {
        LineIndex::Deferred { hashes, expected_bytes: 0, sized: true }
    }

    /// The hashes of a deferred index as appended, leaving the index empty.
    pub(super) fn take_appended(&mut self) -> Vec<u64> {
        match std::mem::replace(self, LineIndex::deferred(0)) {
            LineIndex::Deferred { hashes, .. } => hashes,
            other => {
                *self = other;
                Vec::new()
            }
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

/// Sorts line hashes in place, with no copy of them: a radix sort, two to three times
/// faster than a comparison sort on millions of random 64-bit values.
///
/// The hashes are first moved into 256 buckets by their top byte, in place (each value
/// swapped straight into its bucket's next free slot), then each bucket, small enough for
/// the cache, is sorted by its other seven bytes, least significant first, through a
/// buffer of its own size. At 10M lines the buffer is 0.3 MB instead of a second copy of
/// the 80 MB of hashes, which at the end of an ingest was the peak of its memory.
pub(crate) fn sort_u64(v: &mut [u64]) {
    if v.len() < 4096 {
        v.sort_unstable();
        return;
    }
    let top = |x: u64| (x >> 56) as usize;
    let mut starts = [0usize; 257];
    for x in v.iter() {
        starts[top(*x) + 1] += 1;
    }
    for b in 0..256 {
        starts[b + 1] += starts[b];
    }
    // `next[b]`: the first slot of bucket b not yet holding one of its values.
    let mut next = starts;
    for b in 0..256 {
        let end = starts[b + 1];
        while next[b] < end {
            let x = v[next[b]];
            let d = top(x);
            if d == b {
                next[b] += 1;
            } else {
                v.swap(next[b], next[d]);
                next[d] += 1;
            }
        }
    }
    let mut scratch: Vec<u64> = Vec::new();
    let mut counts = [0usize; 256];
    for b in 0..256 {
        let bucket = &mut v[starts[b]..starts[b + 1]];
        if bucket.len() < 256 {
            bucket.sort_unstable();
            continue;
        }
        scratch.clear();
        scratch.resize(bucket.len(), 0);
        // Seven passes of a byte each, swapping source and destination after each: the
        // sorted values end in the scratch buffer, copied back once.
        let (mut src, mut dst): (&mut [u64], &mut [u64]) = (bucket, &mut scratch);
        for pass in 0..7 {
            let shift = pass * 8;
            counts.fill(0);
            for x in src.iter() {
                counts[((x >> shift) & 0xFF) as usize] += 1;
            }
            let mut sum = 0;
            for c in counts.iter_mut() {
                let n = *c;
                *c = sum;
                sum += n;
            }
            for x in src.iter() {
                let d = ((x >> shift) & 0xFF) as usize;
                dst[counts[d]] = *x;
                counts[d] += 1;
            }
            std::mem::swap(&mut src, &mut dst);
        }
        dst.copy_from_slice(src);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn radix_sort_sorts_like_sort_unstable() {
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut v: Vec<u64> = (0..300_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x
            })
            .collect();
        // Repeats, and buckets of every size: many values under one top byte, a few under
        // another.
        v.extend_from_within(..1000);
        v.extend((0..5000).map(|i| i * 7));
        v.extend((0..100).map(|i| (1 << 60) + i));
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
