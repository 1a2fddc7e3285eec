//! The import journal: nothing lost, nothing written twice, across crashes and reruns.
//!
//! An append-only JSON-lines file in the state directory records, for each row keyed by the
//! fingerprint of its *mapped content* (so a re-delivered file, or the same rows in another
//! order, match): an `intent` before its lead is sent, and a `done` with the ids once Krayin
//! answered. Intents are fsync'd before the batch is sent, outcomes after it. On a rerun:
//!
//! - `done` rows are skipped without a request;
//! - rows with an `intent` but no `done` were in flight when the last run died: the writer looks
//!   the lead up before sending again (the same resolution as an ambiguous write);
//! - everything else is sent.
//!
//! A torn last line (a kill mid-write) is ignored. A lock file stops two imports sharing the
//! state directory; a lock left by a dead process is taken over.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use super::seen::Seen;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "lowercase")]
pub enum Entry {
    /// The row's lead is about to be sent.
    Intent { fp: String, row: u64 },
    /// An intent that was never acted on (the run was interrupted first): nothing was sent.
    Cancel { fp: String },
    /// Krayin holds the row's lead.
    Done {
        fp: String,
        row: u64,
        outcome: String,
        lead_id: Option<u64>,
        person_id: Option<u64>,
        /// `updated_at` of the lead as this tool last wrote it (for upsert conflicts).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        updated_at: Option<String>,
        /// The row's key (`settings.key` of the mapping), to find the lead on later runs.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<String>,
    },
}

/// What a previous run left, in bounded memory: a nightly drop that keeps its name journals
/// into one file for years, so the row and key maps spill to disk like the in-file checks
/// ([`Seen`]).
pub struct State {
    /// Row fingerprint ([`fp_key`]) → (lead id, person id or 0) of the rows Krayin holds.
    pub done: Seen<u128>,
    /// Row key ([`key_hash`]) → (lead id, person id or 0): the first lead written under it.
    pub keys: Seen<u128>,
    /// Lead id → Krayin's `updated_at` after this tool's last write ([`WrittenAt`]), read only
    /// for upsert conflicts (so kept only when asked).
    pub written_at: WrittenAt,
    /// Sent (or about to be) when a previous run stopped, with no answer recorded.
    pub pending: HashSet<String>,
}

impl Default for State {
    fn default() -> Self {
        State {
            done: Seen::named("the journal's rows"),
            keys: Seen::named("the journal's row keys"),
            written_at: WrittenAt::default(),
            pending: HashSet::new(),
        }
    }
}

/// Lead id → the [`Stamp`] of this tool's last write of it, spilling to disk like the rest.
pub struct WrittenAt(Seen<u64>);

impl WrittenAt {
    /// Lead ids are sequential: spread them (an odd multiplier is a bijection) for the map's
    /// and the filters' hashing, which expect random-looking keys.
    fn key(lead_id: u64) -> u64 {
        lead_id.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    pub fn insert(&mut self, lead_id: u64, at: Stamp) -> anyhow::Result<()> {
        self.0.insert_last(Self::key(lead_id), (at.0 as u64, 0))
    }

    pub fn get(&self, lead_id: u64) -> anyhow::Result<Option<Stamp>> {
        Ok(self
            .0
            .get(Self::key(lead_id))?
            .map(|(v, _)| Stamp(v as i64)))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Default for WrittenAt {
    fn default() -> Self {
        WrittenAt(Seen::named("the journal's update times"))
    }
}

/// Krayin's `updated_at` of a lead in 8 bytes: microseconds since 1970, or for text that is
/// not a timestamp, a hash of it (equal texts stay equal).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp(i64);

impl Stamp {
    pub fn of(text: &str) -> Stamp {
        match text.parse::<jiff::Timestamp>() {
            Ok(t) => Stamp(t.as_microsecond()),
            // Below i64::MIN / 2, where no date of jiff's range (years -9999 to 9999) falls.
            Err(_) => Stamp(i64::MIN | (crate::krayin::stable_hash(text) >> 2) as i64),
        }
    }
}

impl std::fmt::Display for Stamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match jiff::Timestamp::from_microsecond(self.0) {
            Ok(t) if self.0 >= i64::MIN / 2 => write!(f, "{t}"),
            _ => f.write_str("the time of that write"),
        }
    }
}

/// A row fingerprint (32 hex digits, [`crate::pipeline::map::MappedLead::fingerprint`]) as a
/// number.
pub fn fp_key(fp: &str) -> u128 {
    u128::from_str_radix(fp, 16).unwrap_or_else(|_| key_hash(fp))
}

/// A row key (`settings.key` of the mapping) as 128 bits of its SHA-256: two different keys
/// sharing one is out of reach (a 64-bit hash would risk it near billions of rows).
pub fn key_hash(key: &str) -> u128 {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(key.as_bytes());
    u128::from_be_bytes(d[..16].try_into().expect("16 bytes"))
}

/// A person id in a [`Seen`] value (Krayin's ids start at 1: 0 is "none").
pub fn pack(person_id: Option<u64>) -> u64 {
    person_id.unwrap_or(0)
}

pub fn unpack(person_id: u64) -> Option<u64> {
    (person_id != 0).then_some(person_id)
}

pub struct Journal {
    path: PathBuf,
    file: File,
    lock: PathBuf,
    buffered: Vec<u8>,
}

/// `<state-dir>/<input file name>.journal`
pub fn journal_path(state_dir: &Path, input: &Path) -> PathBuf {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "input".into());
    state_dir.join(format!("{name}.journal"))
}

/// The default state directory: `.krayin-etl/` beside the input.
pub fn default_state_dir(input: &Path) -> PathBuf {
    input
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
        .join(".krayin-etl")
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Refused because another import holds the state directory.
#[derive(Debug, thiserror::Error)]
#[error(
    "another import (pid {pid}) is using {dir}: wait for it to finish, or use another --state-dir"
)]
pub struct Locked {
    pub pid: u32,
    pub dir: String,
}

impl Journal {
    /// Opens (creating) the journal and takes the lock; returns what earlier runs left
    /// (`written_at` only if `keep_written_at`).
    pub fn open(
        state_dir: &Path,
        input: &Path,
        keep_written_at: bool,
    ) -> anyhow::Result<(Journal, State)> {
        std::fs::create_dir_all(state_dir).with_context(|| {
            format!("cannot create the state directory {}", state_dir.display())
        })?;
        let path = journal_path(state_dir, input);
        let lock = path.with_extension("lock");
        take_lock(&lock, state_dir)?;
        let state = match File::open(&path) {
            Ok(f) => read_state(BufReader::new(f), keep_written_at)
                .with_context(|| format!("cannot read the journal {}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open the journal {}", path.display()))?;
        // A torn last line from a killed run: end it so the next entry starts clean.
        if file.metadata()?.len() > 0 && !ends_with_newline(&path)? {
            file.write_all(b"\n")?;
        }
        Ok((
            Journal {
                path,
                file,
                lock,
                buffered: Vec::new(),
            },
            state,
        ))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Queues an entry; written by the next [`Journal::sync`].
    pub fn push(&mut self, e: &Entry) {
        serde_json::to_writer(&mut self.buffered, e).expect("entries serialize");
        self.buffered.push(b'\n');
    }

    /// Writes the queued entries and makes them durable (one fsync per batch).
    pub fn sync(&mut self) -> anyhow::Result<()> {
        if self.buffered.is_empty() {
            return Ok(());
        }
        self.file
            .write_all(&self.buffered)
            .and_then(|_| self.file.sync_data())
            .with_context(|| format!("cannot write the journal {}", self.path.display()))?;
        self.buffered.clear();
        Ok(())
    }
}

impl Drop for Journal {
    fn drop(&mut self) {
        let _ = self.sync();
        let _ = std::fs::remove_file(&self.lock);
    }
}

fn ends_with_newline(path: &Path) -> anyhow::Result<bool> {
    use std::io::{Read, Seek, SeekFrom};
    let mut f = File::open(path)?;
    f.seek(SeekFrom::End(-1))?;
    let mut b = [0u8; 1];
    f.read_exact(&mut b)?;
    Ok(b[0] == b'\n')
}

fn take_lock(lock: &Path, dir: &Path) -> anyhow::Result<()> {
    for _ in 0..2 {
        match OpenOptions::new().write(true).create_new(true).open(lock) {
            Ok(mut f) => {
                write!(f, "{}", std::process::id())?;
                f.sync_all()?;
                return Ok(());
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let pid: Option<u32> = std::fs::read_to_string(lock)
                    .ok()
                    .and_then(|s| s.trim().parse().ok());
                match pid {
                    Some(pid) if pid != std::process::id() && pid_alive(pid) => {
                        return Err(Locked {
                            pid,
                            dir: dir.display().to_string(),
                        }
                        .into());
                    }
                    _ => {
                        tracing::warn!(lock = %lock.display(), "taking over a lock left by a stopped import");
                        std::fs::remove_file(lock)?;
                    }
                }
            }
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("cannot create the lock {}", lock.display()));
            }
        }
    }
    anyhow::bail!("cannot take the lock {}", lock.display())
}

fn read_state(r: impl BufRead, keep_written_at: bool) -> anyhow::Result<State> {
    let mut s = State::default();
    for line in r.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        // A torn line (the process was killed mid-write) carries nothing durable.
        let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
            continue;
        };
        match entry {
            Entry::Intent { fp, .. } => {
                if s.done.get(fp_key(&fp))?.is_none() {
                    s.pending.insert(fp);
                }
            }
            Entry::Done {
                fp,
                lead_id,
                person_id,
                updated_at,
                key,
                ..
            } => {
                s.pending.remove(&fp);
                let ids = (lead_id.unwrap_or(0), pack(person_id));
                s.done.insert_first(fp_key(&fp), ids)?;
                if let Some(k) = key
                    && lead_id.is_some()
                {
                    s.keys.insert_first(key_hash(&k), ids)?;
                }
                if keep_written_at && let (Some(id), Some(at)) = (lead_id, updated_at) {
                    s.written_at.insert(id, Stamp::of(&at))?;
                }
            }
            Entry::Cancel { fp } => {
                s.pending.remove(&fp);
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn done(fp: &str) -> Entry {
        Entry::Done {
            fp: fp.into(),
            row: 2,
            outcome: "created".into(),
            lead_id: Some(1),
            person_id: Some(2),
            updated_at: None,
            key: None,
        }
    }

    #[test]
    fn survives_a_torn_line_and_knows_what_was_in_flight() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("leads.csv");
        {
            let (mut j, s) = Journal::open(dir.path(), &input, false).unwrap();
            assert!(s.done.is_empty());
            j.push(&Entry::Intent {
                fp: "a".into(),
                row: 2,
            });
            j.push(&Entry::Intent {
                fp: "b".into(),
                row: 3,
            });
            j.push(&done("a"));
            j.sync().unwrap();
        }
        // A kill mid-write leaves half a line.
        let path = journal_path(dir.path(), &input);
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"t\":\"done\",\"fp\":\"b\",\"ro").unwrap();
        drop(f);
        let (mut j, s) = Journal::open(dir.path(), &input, false).unwrap();
        assert!(s.done.get(fp_key("a")).unwrap().is_some());
        assert!(s.pending.contains("b"), "b was sent but never answered");
        j.push(&done("b"));
        j.sync().unwrap();
        drop(j);
        let (_j, s) = Journal::open(dir.path(), &input, false).unwrap();
        assert!(
            s.done.get(fp_key("b")).unwrap().is_some(),
            "the entry after the torn line is read"
        );
        assert!(s.pending.is_empty());
    }

    #[test]
    fn keys_and_update_times_are_read_compactly() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("leads.csv");
        let fp = "0123456789abcdef0123456789abcdef";
        {
            let (mut j, _) = Journal::open(dir.path(), &input, false).unwrap();
            for (fp, at) in [
                (fp, "2026-01-01T00:00:00.000000Z"),
                ("ff", "2026-02-02T00:00:00.000000Z"),
            ] {
                j.push(&Entry::Done {
                    fp: fp.into(),
                    row: 2,
                    outcome: "created".into(),
                    lead_id: Some(7),
                    person_id: None,
                    updated_at: Some(at.into()),
                    key: Some("deal|jane@acme.test".into()),
                });
            }
            j.sync().unwrap();
        }
        let (j, s) = Journal::open(dir.path(), &input, true).unwrap();
        drop(j);
        assert_eq!(s.done.len(), 2);
        assert_eq!(s.done.get(fp_key(fp)).unwrap(), Some((7, 0)));
        assert_eq!(unpack(0), None);
        assert_eq!(
            s.keys.get(key_hash("deal|jane@acme.test")).unwrap(),
            Some((7, 0))
        );
        assert_eq!(s.keys.get(key_hash("deal|jane@acme.test ")).unwrap(), None);
        assert_eq!(
            s.written_at
                .get(7)
                .unwrap()
                .map(|s| s.to_string())
                .as_deref(),
            Some("2026-02-02T00:00:00Z"),
            "the last write's time wins"
        );
        assert_eq!(
            Stamp::of("2026-02-02T00:00:00.000000Z"),
            Stamp::of("2026-02-02T00:00:00Z")
        );
        assert_ne!(
            Stamp::of("2026-02-02T00:00:00.000001Z"),
            Stamp::of("2026-02-02T00:00:00Z")
        );
        assert_eq!(Stamp::of("yesterday"), Stamp::of("yesterday"));
        assert_ne!(Stamp::of("yesterday"), Stamp::of("today"));
        assert_eq!(Stamp::of("today").to_string(), "the time of that write");
        let (_j, s) = Journal::open(dir.path(), &input, false).unwrap();
        assert!(s.written_at.is_empty(), "not kept unless asked");
        assert_eq!(s.keys.len(), 1);
    }

    #[test]
    fn a_live_lock_refuses_a_second_import() {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("leads.csv");
        let lock = journal_path(dir.path(), &input).with_extension("lock");
        // PID 1 is always alive.
        std::fs::write(&lock, "1").unwrap();
        let err = Journal::open(dir.path(), &input, false).err().unwrap();
        assert!(err.downcast_ref::<Locked>().is_some(), "{err}");
        // A dead process's lock is taken over.
        std::fs::write(&lock, "999999999").unwrap();
        let (j, _) = Journal::open(dir.path(), &input, false).unwrap();
        drop(j);
        assert!(!lock.exists(), "the lock goes with the journal");
    }
}
