//! The state file of `export --incremental`: the watermark (the largest `updated_at` seen and
//! the ids changed at that very instant, since Krayin keeps whole seconds and many rows share
//! one) and the query it belongs to. It is replaced atomically, and only after the export file
//! was written: a run that fails or is interrupted leaves the last good watermark, so the next
//! run exports those changes again rather than losing them.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    pub version: u32,
    /// `leads` or `activities`.
    pub entity: String,
    /// The filters the watermark is valid for, as the user wrote them (canonical form).
    pub query: String,
    /// ISO-8601 UTC, as Krayin sent it.
    pub watermark: String,
    pub ids_at_watermark: BTreeSet<u64>,
    /// When that run finished (this machine's clock), and how many rows it wrote.
    pub last_run: String,
    pub last_rows: u64,
}

pub const VERSION: u32 = 1;

/// Reads the state file; `None` when there is none yet (the first run exports everything).
pub fn load(path: &Path) -> anyhow::Result<Option<State>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let s: State = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not an export state file (delete it to export everything again)",
            path.display()
        )
    })?;
    anyhow::ensure!(
        s.version == VERSION,
        "{}: state version {} is not supported (this tool writes {VERSION})",
        path.display(),
        s.version
    );
    Ok(Some(s))
}

pub fn save(path: &Path, state: &State) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(state)?;
    super::write::atomically(path, |w| {
        use std::io::Write;
        w.write_all(text.as_bytes())?;
        w.write_all(b"\n")?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.json");
        assert_eq!(load(&p).unwrap(), None);
        let s = State {
            version: VERSION,
            entity: "leads".into(),
            query: "stage=Won".into(),
            watermark: "2026-12-03T10:00:00.000000Z".into(),
            ids_at_watermark: [3, 1].into(),
            last_run: "2026-12-03T10:00:05Z".into(),
            last_rows: 2,
        };
        save(&p, &s).unwrap();
        assert_eq!(load(&p).unwrap(), Some(s));
        std::fs::write(&p, "{").unwrap();
        let e = load(&p).unwrap_err();
        assert!(
            format!("{e:#}").contains("not an export state file"),
            "{e:#}"
        );
    }
}
