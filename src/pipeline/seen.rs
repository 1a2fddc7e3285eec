//! What a file has shown so far (e-mails, phones, row fingerprints), in bounded memory.
//!
//! The checks across rows must remember every person and every row of the file, so their
//! memory grows with it. Up to [`SPILL_AFTER`] entries a [`Seen`] is a hash map (fast, a few
//! tens of bytes an entry); past that it moves to a temporary SQLite file (rusqlite is already
//! here for the sandbox) whose page cache is capped, so a ten-million-row drop is checked in
//! the same memory as a half-million-row one, only slower. The temporary file is deleted when
//! the [`Seen`] is dropped.

use std::collections::HashMap;
use std::hash::Hash;

use anyhow::Context as _;
use rusqlite::{Connection, OptionalExtension, params};

/// Entries kept in memory before moving to disk: 7/8 of 2^19, the most a hash map of 2^19
/// buckets holds (about 13 MB at 24 bytes an entry), so no map doubles past that.
pub const SPILL_AFTER: usize = 458_752;

/// SQLite's page cache for a spilled set, in KiB.
const CACHE_KIB: i64 = 16 * 1024;

/// Inserts between commits once on disk.
const COMMIT_EVERY: u64 = 100_000;

/// A key of a [`Seen`]: stored in SQLite as two integers.
pub trait Key: Copy + Eq + Hash {
    fn parts(self) -> (i64, i64);
}

impl Key for u64 {
    fn parts(self) -> (i64, i64) {
        (0, self as i64)
    }
}

impl Key for u128 {
    fn parts(self) -> (i64, i64) {
        ((self >> 64) as u64 as i64, self as u64 as i64)
    }
}

/// A map from keys to two numbers that remembers the first value of each key.
pub struct Seen<K: Key> {
    mem: HashMap<K, (u64, u64)>,
    limit: usize,
    disk: Option<Disk>,
}

struct Disk {
    conn: Connection,
    uncommitted: u64,
    _dir: tempfile::TempDir,
}

impl<K: Key> Default for Seen<K> {
    fn default() -> Self {
        Seen::with_limit(SPILL_AFTER)
    }
}

impl<K: Key> Seen<K> {
    /// A set that moves to disk past `limit` entries in memory.
    pub fn with_limit(limit: usize) -> Seen<K> {
        Seen {
            mem: HashMap::new(),
            limit,
            disk: None,
        }
    }

    /// Whether the entries are on disk now.
    pub fn spilled(&self) -> bool {
        self.disk.is_some()
    }

    pub fn get(&self, key: K) -> anyhow::Result<Option<(u64, u64)>> {
        if let Some(v) = self.mem.get(&key) {
            return Ok(Some(*v));
        }
        let Some(d) = &self.disk else {
            return Ok(None);
        };
        let (hi, lo) = key.parts();
        let v = d
            .conn
            .prepare_cached("SELECT a, b FROM seen WHERE hi = ?1 AND lo = ?2")?
            .query_row(params![hi, lo], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
            })
            .optional()?;
        Ok(v)
    }

    /// Records `value` for `key` unless the key is known (the first value stays).
    pub fn insert_first(&mut self, key: K, value: (u64, u64)) -> anyhow::Result<()> {
        if let Some(d) = &mut self.disk {
            let (hi, lo) = key.parts();
            d.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO seen (hi, lo, a, b) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![hi, lo, value.0 as i64, value.1 as i64])?;
            d.uncommitted += 1;
            if d.uncommitted >= COMMIT_EVERY {
                d.conn.execute_batch("COMMIT; BEGIN")?;
                d.uncommitted = 0;
            }
            return Ok(());
        }
        self.mem.entry(key).or_insert(value);
        if self.mem.len() > self.limit {
            self.spill()?;
        }
        Ok(())
    }

    fn spill(&mut self) -> anyhow::Result<()> {
        let dir =
            tempfile::tempdir().context("cannot create a temporary folder for the file checks")?;
        let conn = Connection::open(dir.path().join("seen.db"))
            .context("cannot create a temporary database for the file checks")?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF;
             PRAGMA locking_mode = EXCLUSIVE; PRAGMA cache_size = -{CACHE_KIB};
             CREATE TABLE seen (hi INTEGER NOT NULL, lo INTEGER NOT NULL,
                                a INTEGER NOT NULL, b INTEGER NOT NULL,
                                PRIMARY KEY (hi, lo)) WITHOUT ROWID;
             BEGIN;"
        ))?;
        {
            let mut insert =
                conn.prepare("INSERT OR IGNORE INTO seen (hi, lo, a, b) VALUES (?1, ?2, ?3, ?4)")?;
            for (k, v) in self.mem.drain() {
                let (hi, lo) = k.parts();
                insert.execute(params![hi, lo, v.0 as i64, v.1 as i64])?;
            }
        }
        conn.execute_batch("COMMIT; BEGIN")?;
        self.mem = HashMap::new();
        tracing::info!(
            entries = self.limit,
            "the file is large: its in-file duplicate checks continue on a temporary disk file"
        );
        self.disk = Some(Disk {
            conn,
            uncommitted: 0,
            _dir: dir,
        });
        Ok(())
    }
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
            for (i, (k, v)) in ops.iter().enumerate() {
                prop_assert_eq!(mem.get(*k).unwrap(), disk.get(*k).unwrap());
                mem.insert_first(*k, (*v, i as u64)).unwrap();
                disk.insert_first(*k, (*v, i as u64)).unwrap();
            }
            for k in 0..40 {
                prop_assert_eq!(mem.get(k).unwrap(), disk.get(k).unwrap());
            }
        }
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
