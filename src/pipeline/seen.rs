//! What a file has shown so far (e-mails, phones, row fingerprints), in bounded memory.
//!
//! The checks across rows must remember every person and every row of the file, so their
//! memory would grow with it. Up to [`SPILL_AFTER`] entries a [`Seen`] is a hash map; when it
//! fills, its entries are sorted and written to a temporary file as one *run* (fixed-size
//! records), and the map starts again empty. Each run keeps in memory only a blocked Bloom
//! filter (16 bits an entry, one cache line a look-up: about one false "maybe" in 1,000) and
//! every 256th key; a look-up asks the map, then each run's filter, and reads from disk (one
//! 8 KB block) only where a filter says "maybe": for a key not seen before, which is nearly
//! every key, no disk access at all.
//!
//! Two merges keep this so as the runs pile up. Past [`MAX_RUNS`] runs, the newer runs are
//! merged into one (a k-way merge of sorted files; same filter density, so the same memory, and
//! fewer filters for a look-up to probe). Past [`FILTER_BUDGET`] bytes of filters (about six
//! million entries), every run is merged into one *base* whose filter gets half the budget,
//! fewer bits an entry: memory stays bounded whatever the count, and what grows instead is the
//! share of look-ups that read a block from disk. The temporary files are deleted with the
//! [`Seen`], a merged run's as soon as it is merged.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::hash::Hash;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::PathBuf;

use anyhow::Context as _;

/// Entries kept in the map before they go to a run: 7/8 of 2^19, the most a hash map of 2^19
/// buckets holds (about 13 MB at 24 bytes an entry), so no map doubles past that.
pub const SPILL_AFTER: usize = 458_752;

/// Filter bits per entry of a run, and probes per look-up (false positives ≈ 0.05%).
const BLOOM_BITS: usize = 16;
const BLOOM_PROBES: u32 = 11;

/// Bytes the filters of one [`Seen`]'s runs may take (past about 6 million entries). When they
/// would take more, every run is merged into one whose filter gets half of this, at fewer bits
/// an entry, and new runs fill the other half: memory stays bounded whatever the count, and
/// what grows instead is the share of look-ups that read a block from disk.
pub const FILTER_BUDGET: usize = 12 << 20;

/// Runs past which the runs with full filters are merged into one (same bits an entry, so the
/// same memory): a look-up probes at most this many filters, one cache line each.
const MAX_RUNS: usize = 4;

/// Records per block of a run: the sparse index keeps the first key of each block.
const BLOCK: usize = 256;

/// One record on disk: key (hi, lo), then the two values, little-endian.
const RECORD: usize = 32;

/// A key of a [`Seen`]: two 64-bit halves (a `u64` key has a zero high half).
pub trait Key: Copy + Eq + Hash {
    fn parts(self) -> (u64, u64);
}

impl Key for u64 {
    fn parts(self) -> (u64, u64) {
        (0, self)
    }
}

impl Key for u128 {
    fn parts(self) -> (u64, u64) {
        ((self >> 64) as u64, self as u64)
    }
}

/// A hasher for keys that are distinct already (hashes of e-mails, phones, rows; addresses):
/// a multiply spreads them, where SipHash again would be a fifth of the checks' time.
#[derive(Default, Clone, Copy)]
pub struct BuildMix;

impl std::hash::BuildHasher for BuildMix {
    type Hasher = Mix;
    fn build_hasher(&self) -> Mix {
        Mix(0)
    }
}

pub struct Mix(u64);

impl std::hash::Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(29) ^ n).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// A map from keys to two numbers that remembers the first value of each key.
pub struct Seen<K: Key> {
    mem: HashMap<K, (u64, u64), BuildMix>,
    limit: usize,
    runs: Vec<Run>,
    dir: Option<tempfile::TempDir>,
    /// Run files made so far (their names).
    made: usize,
    /// [`FILTER_BUDGET`], smaller in tests.
    filter_budget: usize,
    /// Entries in all, memory and runs.
    len: usize,
    /// What the entries are, for messages ("the in-file duplicate checks").
    what: &'static str,
}

/// A record: key (hi, lo) and value.
type Entry = ((u64, u64), (u64, u64));

/// A sorted file of records, its filter and its sparse index.
struct Run {
    file: File,
    path: PathBuf,
    len: usize,
    bloom: Vec<u64>,
    /// Probes a look-up makes: [`BLOOM_PROBES`], fewer in a merged run's sparser filter.
    probes: u32,
    /// Made by a merge for the budget (its filter may be sparse): the later merges for
    /// [`MAX_RUNS`] leave it be.
    base: bool,
    /// The first key of each block of [`BLOCK`] records.
    index: Vec<(u64, u64)>,
}

impl Run {
    /// The filter's bits for `key`, all in one 512-bit block (one cache line): a blocked
    /// Bloom filter, one memory access a look-up instead of one a probe.
    fn probes(words: usize, probes: u32, key: (u64, u64)) -> impl Iterator<Item = (usize, u64)> {
        // Keys are hashes already: mix the halves, then double hashing inside the block.
        let h1 = (key.0 ^ key.1.rotate_left(32)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let h2 = (key.1 ^ key.0.rotate_left(17)).wrapping_mul(0xC2B2_AE3D_27D4_EB4F) | 1;
        let block = ((h1 >> 32) % (words / 8) as u64) as usize * 8;
        (0..u64::from(probes)).map(move |i| {
            let bit = (h2.wrapping_add(i.wrapping_mul(h1 | 1)) >> 55) as usize; // 0..512
            (block + bit / 64, 1u64 << (bit % 64))
        })
    }

    fn maybe(&self, key: (u64, u64)) -> bool {
        Self::probes(self.bloom.len(), self.probes, key).all(|(w, m)| self.bloom[w] & m != 0)
    }

    fn get(&self, key: (u64, u64)) -> anyhow::Result<Option<(u64, u64)>> {
        if !self.maybe(key) {
            return Ok(None);
        }
        // The block whose first key is the last one not above `key`.
        let block = match self.index.partition_point(|k| *k <= key) {
            0 => return Ok(None),
            n => n - 1,
        };
        let start = block * BLOCK;
        let count = BLOCK.min(self.len - start);
        let mut buf = vec![0u8; count * RECORD];
        read_at(&self.file, &mut buf, (start * RECORD) as u64)
            .context("cannot read a temporary file of the duplicate checks")?;
        let at = |i: usize, f: usize| {
            let o = i * RECORD + f * 8;
            u64::from_le_bytes(buf[o..o + 8].try_into().expect("8 bytes"))
        };
        let (mut lo, mut hi) = (0, count);
        while lo < hi {
            let mid = (lo + hi) / 2;
            match (at(mid, 0), at(mid, 1)).cmp(&key) {
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
                std::cmp::Ordering::Equal => return Ok(Some((at(mid, 2), at(mid, 3)))),
            }
        }
        Ok(None)
    }
}

/// A positioned read (no shared cursor to move).
#[cfg(unix)]
fn read_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> std::io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

impl<K: Key> Default for Seen<K> {
    fn default() -> Self {
        Seen::with_limit(SPILL_AFTER)
    }
}

impl<K: Key> Seen<K> {
    /// A set that writes its map to a run on disk each time it holds `limit` entries.
    pub fn with_limit(limit: usize) -> Seen<K> {
        Seen::with_limits(limit, FILTER_BUDGET)
    }

    /// The same, with the runs merged when their filters pass `filter_budget` bytes.
    fn with_limits(limit: usize, filter_budget: usize) -> Seen<K> {
        Seen {
            mem: HashMap::default(),
            limit: limit.max(1),
            runs: Vec::new(),
            dir: None,
            made: 0,
            filter_budget,
            len: 0,
            what: "the in-file duplicate checks",
        }
    }

    /// The same, named for its messages (`"the journal's rows"`).
    pub fn named(what: &'static str) -> Seen<K> {
        Seen {
            what,
            ..Seen::default()
        }
    }

    /// Entries held, in memory and on disk.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether some entries are on disk now.
    pub fn spilled(&self) -> bool {
        !self.runs.is_empty()
    }

    pub fn get(&self, key: K) -> anyhow::Result<Option<(u64, u64)>> {
        if let Some(v) = self.mem.get(&key) {
            return Ok(Some(*v));
        }
        self.on_disk(key)
    }

    /// The newest run first: a key that [`Seen::insert_last`] replaced is found with its last
    /// value (with [`Seen::insert_first`] alone, a key is never in two places).
    fn on_disk(&self, key: K) -> anyhow::Result<Option<(u64, u64)>> {
        let parts = key.parts();
        for run in self.runs.iter().rev() {
            if let Some(v) = run.get(parts)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Records `value` for `key` unless the key is known (the first value stays).
    pub fn insert_first(&mut self, key: K, value: (u64, u64)) -> anyhow::Result<()> {
        if self.mem.contains_key(&key) || (self.spilled() && self.on_disk(key)?.is_some()) {
            return Ok(());
        }
        self.mem.insert(key, value);
        self.len += 1;
        if self.mem.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// Records `value` for a key that [`Seen::get`] has just found nowhere: the same as
    /// [`Seen::insert_first`] without looking through the runs' filters a second time.
    pub fn insert_absent(&mut self, key: K, value: (u64, u64)) -> anyhow::Result<()> {
        if let std::collections::hash_map::Entry::Vacant(e) = self.mem.entry(key) {
            e.insert(value);
            self.len += 1;
            if self.mem.len() >= self.limit {
                self.spill()?;
            }
        }
        Ok(())
    }

    /// Records `value` for `key`, replacing any earlier one (a map that must keep the last
    /// value; not to be mixed with [`Seen::insert_first`] on one `Seen`).
    pub fn insert_last(&mut self, key: K, value: (u64, u64)) -> anyhow::Result<()> {
        let known = self.mem.insert(key, value).is_some()
            || (self.spilled() && self.on_disk(key)?.is_some());
        if !known {
            self.len += 1;
        }
        if self.mem.len() >= self.limit {
            self.spill()?;
        }
        Ok(())
    }

    /// The map, sorted, to a new run; the map starts again empty (its buckets kept). Then the
    /// merges the module describes: all into a base past the filters' budget, else the runs
    /// after the base into one past [`MAX_RUNS`].
    fn spill(&mut self) -> anyhow::Result<()> {
        let (file, path) = self.new_file()?;
        let mut entries: Vec<Entry> = self.mem.drain().map(|(k, v)| (k.parts(), v)).collect();
        entries.sort_unstable_by_key(|e| e.0);
        let count = entries.len();
        let mut next = entries.into_iter();
        let run = write_run(file, path, count, count * BLOOM_BITS, self.what, || {
            Ok(next.next())
        })?;
        self.runs.push(run);
        let filters: usize = self.runs.iter().map(|r| r.bloom.len() * 8).sum();
        if self.runs.len() > 1 && filters > self.filter_budget {
            self.merge(0, self.filter_budget / 2 * 8)?;
        } else if self.runs.len() > MAX_RUNS {
            let from = usize::from(self.runs[0].base);
            self.merge(from, usize::MAX)?;
        }
        Ok(())
    }

    /// A new, empty run file in the temporary folder (made on the first spill).
    fn new_file(&mut self) -> anyhow::Result<(File, PathBuf)> {
        if self.dir.is_none() {
            self.dir = Some(
                tempfile::tempdir().with_context(|| {
                    format!(
                        "cannot create a temporary folder for {} (set TMPDIR to a folder with free space)",
                        self.what
                    )
                })?,
            );
            tracing::info!(
                entries = self.limit,
                "{} continue with temporary disk files (many entries)",
                self.what
            );
        }
        let dir = self.dir.as_ref().expect("just made").path();
        let path = dir.join(format!("run-{}.bin", self.made));
        self.made += 1;
        let file = std::fs::OpenOptions::new()
            .create_new(true)
            .read(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        Ok((file, path))
    }

    /// The runs from `from` on into one (a k-way merge of the sorted files), with a filter of
    /// [`BLOOM_BITS`] an entry but at most `max_bits` (`from` 0 and a cap: a new base); a key
    /// in several runs (only [`Seen::insert_last`] makes them) keeps the newest value.
    fn merge(&mut self, from: usize, max_bits: usize) -> anyhow::Result<()> {
        let what = self.what;
        let failed = move || format!("cannot merge the temporary files of {what}");
        let count: usize = self.runs[from..].iter().map(|r| r.len).sum();
        let mut sources = Vec::with_capacity(self.runs.len() - from);
        for run in &self.runs[from..] {
            let mut f = run.file.try_clone().with_context(failed)?;
            f.seek(SeekFrom::Start(0)).with_context(failed)?;
            sources.push((BufReader::with_capacity(1 << 16, f), run.len));
        }
        let read = |source: &mut (BufReader<File>, usize)| -> std::io::Result<Option<Entry>> {
            if source.1 == 0 {
                return Ok(None);
            }
            source.1 -= 1;
            let mut buf = [0u8; RECORD];
            source.0.read_exact(&mut buf)?;
            let at = |f: usize| u64::from_le_bytes(buf[f * 8..f * 8 + 8].try_into().expect("8"));
            Ok(Some(((at(0), at(1)), (at(2), at(3)))))
        };
        // The smallest key first; of equal keys, the newest run's (the highest index) first.
        let mut heap = BinaryHeap::with_capacity(sources.len());
        for (i, source) in sources.iter_mut().enumerate() {
            if let Some((k, v)) = read(source).with_context(failed)? {
                heap.push((Reverse(k), i, v));
            }
        }
        let mut last = None;
        let next = || -> anyhow::Result<Option<Entry>> {
            while let Some((Reverse(k), i, v)) = heap.pop() {
                if let Some((k, v)) = read(&mut sources[i]).with_context(failed)? {
                    heap.push((Reverse(k), i, v));
                }
                if last != Some(k) {
                    last = Some(k);
                    return Ok(Some((k, v)));
                }
            }
            Ok(None)
        };
        let (file, path) = self.new_file()?;
        let bits = max_bits.min(count * BLOOM_BITS);
        let mut merged = write_run(file, path, count, bits, what, next)?;
        merged.base = from == 0 && max_bits != usize::MAX;
        tracing::debug!(entries = merged.len, "{what}: temporary files merged");
        let old = self.runs.split_off(from);
        self.runs.push(merged);
        for old in old {
            drop(old.file);
            // Freed now rather than with the folder (a failure only delays it).
            let _ = std::fs::remove_file(&old.path);
        }
        Ok(())
    }
}

/// Writes the sorted entries that `next` yields (at most `count`) to `file`, with a filter of
/// about `bits` bits and a sparse index.
fn write_run(
    file: File,
    path: PathBuf,
    count: usize,
    bits: usize,
    what: &str,
    mut next: impl FnMut() -> anyhow::Result<Option<Entry>>,
) -> anyhow::Result<Run> {
    let bits = bits.max(512).next_multiple_of(512);
    // The probes that suit the bits an entry (ln 2 of them), at most BLOOM_PROBES.
    let probes = ((bits as f64 / count.max(1) as f64) * std::f64::consts::LN_2).round() as u32;
    let probes = probes.clamp(1, BLOOM_PROBES);
    let mut bloom = vec![0u64; bits / 64];
    let mut index = Vec::with_capacity(count / BLOCK + 1);
    let mut len = 0;
    {
        let mut w = BufWriter::with_capacity(1 << 16, &file);
        while let Some((k, v)) = next()? {
            if len % BLOCK == 0 {
                index.push(k);
            }
            len += 1;
            for (w, m) in Run::probes(bloom.len(), probes, k) {
                bloom[w] |= m;
            }
            for x in [k.0, k.1, v.0, v.1] {
                w.write_all(&x.to_le_bytes())
                    .with_context(|| format!("cannot write a temporary file of {what}"))?;
            }
        }
        w.flush()
            .with_context(|| format!("cannot write a temporary file of {what}"))?;
    }
    Ok(Run {
        file,
        path,
        len,
        bloom,
        probes,
        base: false,
        index,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// On disk or in memory, the same answers.
        #[test]
        fn spilled_answers_like_memory(ops in prop::collection::vec((0u64..40, 0u64..1000), 1..200)) {
            let mut mem: Seen<u64> = Seen::with_limit(usize::MAX);
            let mut disk: Seen<u64> = Seen::with_limit(3);
            let mut absent: Seen<u64> = Seen::with_limit(3);
            // No room for filters: the runs are merged into one at every spill.
            let mut merged: Seen<u64> = Seen::with_limits(3, 0);
            for (i, (k, v)) in ops.iter().enumerate() {
                prop_assert_eq!(mem.get(*k).unwrap(), disk.get(*k).unwrap());
                prop_assert_eq!(mem.get(*k).unwrap(), absent.get(*k).unwrap());
                prop_assert_eq!(mem.get(*k).unwrap(), merged.get(*k).unwrap());
                prop_assert!(merged.runs.len() <= 1);
                mem.insert_first(*k, (*v, i as u64)).unwrap();
                disk.insert_first(*k, (*v, i as u64)).unwrap();
                merged.insert_first(*k, (*v, i as u64)).unwrap();
                if absent.get(*k).unwrap().is_none() {
                    absent.insert_absent(*k, (*v, i as u64)).unwrap();
                }
            }
            prop_assert_eq!(absent.len(), disk.len());
            prop_assert_eq!(merged.len(), disk.len());
            for k in 0..40 {
                prop_assert_eq!(mem.get(k).unwrap(), disk.get(k).unwrap());
                prop_assert_eq!(mem.get(k).unwrap(), merged.get(k).unwrap());
            }
            prop_assert_eq!(mem.len(), disk.len());
            prop_assert_eq!(mem.len(), ops.iter().map(|o| o.0).collect::<std::collections::HashSet<_>>().len());
        }
    }

    proptest! {
        /// Keeping the last value: on disk or in memory, what a map would answer.
        #[test]
        fn insert_last_answers_like_a_map(ops in prop::collection::vec((0u64..40, 0u64..1000), 1..200)) {
            let mut map = HashMap::new();
            let mut disk: Seen<u64> = Seen::with_limit(3);
            // Merged at every spill (and a key in several runs keeps its newest value).
            let mut merged: Seen<u64> = Seen::with_limits(3, 0);
            for (k, v) in &ops {
                prop_assert_eq!(map.get(k).copied(), disk.get(*k).unwrap());
                prop_assert_eq!(map.get(k).copied(), merged.get(*k).unwrap());
                map.insert(*k, (*v, 0));
                disk.insert_last(*k, (*v, 0)).unwrap();
                merged.insert_last(*k, (*v, 0)).unwrap();
            }
            for k in 0..40 {
                prop_assert_eq!(map.get(&k).copied(), disk.get(k).unwrap());
                prop_assert_eq!(map.get(&k).copied(), merged.get(k).unwrap());
            }
            prop_assert_eq!(map.len(), disk.len());
            prop_assert_eq!(map.len(), merged.len());
        }
    }

    #[test]
    fn runs_larger_than_a_block_find_every_key_and_only_those() {
        // Runs of 1,000 records (four blocks each), keys spread like hashes.
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let mut s: Seen<u64> = Seen::with_limit(1_000);
        for i in 0..5_500u64 {
            s.insert_first(key(i), (i, i * 2)).unwrap();
        }
        // Known keys again: the first values stay, wherever they live now.
        for i in 0..5_500u64 {
            s.insert_first(key(i), (0, 0)).unwrap();
        }
        // Five spills: past MAX_RUNS, the runs were merged (full filters, no base).
        assert_eq!(s.runs.len(), 1);
        assert!(!s.runs[0].base && s.runs[0].probes == BLOOM_PROBES);
        for i in 0..5_500u64 {
            assert_eq!(s.get(key(i)).unwrap(), Some((i, i * 2)), "key {i}");
        }
        for i in 5_500..20_000u64 {
            assert_eq!(s.get(key(i)).unwrap(), None, "key {i}");
        }
        // The extremes of the key space sort at the ends of a run (key(0) is 0: in run 1).
        s.insert_first(u64::MAX, (8, 8)).unwrap();
        s.insert_first(1, (9, 9)).unwrap();
        for i in 0..2_000u64 {
            s.insert_first(key(100_000 + i), (1, 1)).unwrap();
        }
        assert_eq!(s.get(0).unwrap(), Some((0, 0)));
        assert_eq!(s.get(1).unwrap(), Some((9, 9)));
        assert_eq!(s.get(u64::MAX).unwrap(), Some((8, 8)));
        // The filters spare the disk for nearly every new key.
        let maybes = (1_000_000..1_100_000u64)
            .map(key)
            .filter(|k| s.runs.iter().any(|r| r.maybe(k.parts())))
            .count();
        assert!(
            maybes < 100 * s.runs.len(),
            "{maybes} false maybes in 100,000"
        );
    }

    #[test]
    fn past_the_filter_budget_runs_merge_and_memory_stays_bounded() {
        let key = |i: u64| i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        // Runs of 1,000 entries (2,000 filter bytes each) under a 5,000-byte budget.
        let mut s: Seen<u64> = Seen::with_limits(1_000, 5_000);
        let mut most_filters = 0;
        for i in 0..50_000u64 {
            s.insert_first(key(i), (i, 0)).unwrap();
            let filters: usize = s.runs.iter().map(|r| r.bloom.len() * 8).sum();
            most_filters = most_filters.max(filters);
        }
        assert!(most_filters <= 5_000, "{most_filters} filter bytes");
        assert!(s.runs.len() <= 2, "{} runs", s.runs.len());
        // The merged run's filter is sparser (fewer probes) and still never says "no" wrongly.
        assert!(s.runs[0].probes < BLOOM_PROBES && s.runs[0].len > 40_000);
        for i in 0..50_000u64 {
            assert_eq!(s.get(key(i)).unwrap(), Some((i, 0)), "key {i}");
        }
        for i in 50_000..60_000u64 {
            assert_eq!(s.get(key(i)).unwrap(), None, "key {i}");
        }
        assert_eq!(s.len(), 50_000);
        // The merged runs' files are gone: one file a run.
        let files = std::fs::read_dir(s.dir.as_ref().unwrap().path())
            .unwrap()
            .count();
        assert_eq!(files, s.runs.len());
    }

    #[test]
    fn wide_keys_keep_both_halves() {
        let mut s: Seen<u128> = Seen::with_limit(1);
        let a = 1u128 << 64;
        let b = 1u128;
        s.insert_first(a, (1, 0)).unwrap();
        s.insert_first(b, (2, 0)).unwrap();
        assert!(s.spilled());
        assert_eq!(s.get(a).unwrap(), Some((1, 0)));
        assert_eq!(s.get(b).unwrap(), Some((2, 0)));
        assert_eq!(s.get(u128::MAX).unwrap(), None);
        s.insert_first(u128::MAX, (3, 0)).unwrap();
        s.insert_first(u128::MAX, (4, 0)).unwrap();
        assert_eq!(
            s.get(u128::MAX).unwrap(),
            Some((3, 0)),
            "the first value stays"
        );
    }
}
