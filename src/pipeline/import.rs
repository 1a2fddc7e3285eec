//! `import`: the whole chain, read → map → validate → write → report.
//!
//! 1. look-ups from Krayin (one request each), then the input opened and the mapping compiled
//!    against its header: any refusal happens before a row is read;
//! 2. the journal opened (and locked): rows a previous run wrote are skipped for free;
//! 3. a blocking reader thread reads, maps and validates rows and sends them through a bounded
//!    channel (back-pressure: memory stays flat whatever the file's size);
//! 4. the writer takes them in batches (default 50): intents are made durable, the batch's
//!    rows are grouped by person and written with up to `concurrency` groups in flight under
//!    the client's shared rate limiter; outcomes are journalled (one fsync per batch);
//! 5. reports: the error report (every stage), the success file, the JSON run report.
//!
//! Ctrl-C (or the error threshold) stops taking rows, lets requests in flight finish, writes
//! the journal and the reports, and ends with exit code 3.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use serde::Serialize;

use super::journal::{self, Entry, Journal};
use super::write::{self, Item, Mode, Outcome, Writer, Written};
use super::{Job, Prepared, prepare, report, validate};
use crate::krayin::Client;
use crate::krayin::metrics::EndpointReport;
use crate::record::Rejection;

/// `--max-errors`: stop when more rows than this failed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    Count(u64),
    /// A share of the rows read so far (checked once 20 rows were read).
    Percent(f64),
}

impl std::str::FromStr for Threshold {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim();
        if let Some(p) = t.strip_suffix('%') {
            let v: f64 = p
                .trim()
                .parse()
                .map_err(|_| format!("bad percentage {t:?}"))?;
            if !(0.0..=100.0).contains(&v) {
                return Err(format!("{t:?} is not between 0% and 100%"));
            }
            return Ok(Threshold::Percent(v));
        }
        t.parse()
            .map(Threshold::Count)
            .map_err(|_| format!("bad threshold {t:?}: a count (10) or a percentage (5%)"))
    }
}

impl Threshold {
    fn exceeded(self, errors: u64, rows: u64) -> bool {
        match self {
            Threshold::Count(n) => errors > n,
            Threshold::Percent(p) => rows >= 20 && (errors as f64) * 100.0 / (rows as f64) > p,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Options {
    pub job: Job,
    pub mode: Mode,
    pub concurrency: usize,
    pub batch_size: usize,
    pub max_errors: Option<Threshold>,
    pub success: Option<PathBuf>,
    pub report: Option<PathBuf>,
    pub state_dir: Option<PathBuf>,
    pub progress: bool,
    /// `--overwrite`: upsert even leads changed in Krayin since our last write.
    pub overwrite: bool,
}

/// Why a run ended before the end of the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stopped {
    Interrupted,
    ErrorThreshold,
    AuthFailed,
}

/// The JSON run report.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub input: String,
    pub rows: u64,
    pub blank_rows: u64,
    pub created: u64,
    pub reused_person: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// Refused before any request (read, map, validate).
    pub rejected: u64,
    pub warnings: u64,
    pub recovered: u64,
    pub duration_secs: f64,
    pub leads_per_sec: f64,
    pub requests: u64,
    pub retries: u64,
    pub throttled: u64,
    pub limiter_wait_secs: f64,
    pub stopped: Option<Stopped>,
    pub error_report: Option<String>,
    pub success_file: Option<String>,
    pub journal: Option<String>,
    pub endpoints: std::collections::BTreeMap<String, EndpointReport>,
}

impl Summary {
    pub fn errors(&self) -> u64 {
        self.failed + self.rejected
    }
}

/// What the reader thread sends.
enum Msg {
    Item(Box<Item>),
    Rejected(Rejection),
    /// Same content as an earlier row of this file: written once.
    Duplicate(Box<Item>, u64),
}

/// Outcomes counted as they arrive.
struct Tally {
    summary: Summary,
    /// Kept to be written sorted by row at the end: they are the bad rows, usually few.
    rejections: report::Rejections,
    /// Written as outcomes arrive, so memory does not grow with the file.
    successes: SuccessFile,
    done_since_sync: usize,
    stopped: Option<Stopped>,
}

impl Tally {
    fn handle(&mut self, written: Vec<Written>, journal: &mut Journal) -> anyhow::Result<()> {
        for w in written {
            let row = w.item.row.provenance.row;
            let title = w.item.lead.title.clone();
            let mut ids = None;
            let mut updated_at = None;
            match &w.outcome {
                Outcome::Created {
                    lead_id,
                    person_id,
                    reused_person,
                    recovered,
                    updated_at: at,
                } => {
                    updated_at = at.clone();
                    if *reused_person {
                        self.summary.reused_person += 1;
                    } else {
                        self.summary.created += 1;
                    }
                    self.summary.recovered += u64::from(*recovered);
                    ids = Some((*lead_id, *person_id));
                    self.successes.push(&SuccessLine {
                        row,
                        outcome: w.outcome.label(),
                        lead_id: Some(*lead_id),
                        person_id: *person_id,
                        title,
                        note: if *recovered {
                            "found in Krayin after an unknown outcome".into()
                        } else {
                            String::new()
                        },
                    });
                }
                Outcome::Updated {
                    lead_id,
                    person_id,
                    updated_at: at,
                } => {
                    self.summary.updated += 1;
                    ids = Some((*lead_id, *person_id));
                    updated_at = at.clone();
                    self.successes.push(&SuccessLine {
                        row,
                        outcome: "updated",
                        lead_id: Some(*lead_id),
                        person_id: *person_id,
                        title,
                        note: String::new(),
                    });
                }
                Outcome::Skipped {
                    reason,
                    lead_id,
                    person_id,
                } => {
                    self.summary.skipped += 1;
                    // Not journalled: the row wrote nothing, and a later run in another mode
                    // (upsert after skip-existing) must still see it as not done.
                    self.successes.push(&SuccessLine {
                        row,
                        outcome: "skipped",
                        lead_id: *lead_id,
                        person_id: *person_id,
                        title,
                        note: reason.clone(),
                    });
                }
                Outcome::Failed(r) => {
                    self.summary.failed += 1;
                    if r.problems
                        .iter()
                        .any(|p| p.message.contains("authentication failed"))
                    {
                        // Every next request would fail the same way.
                        self.stopped = Some(Stopped::AuthFailed);
                    }
                    self.rejections.push(r)?;
                }
            }
            // Only a settled fate is journalled: an unsettled row keeps its intent, so the
            // next run looks it up before sending. A row Krayin refused for good wrote
            // nothing: the next run may send it straight away.
            if w.settled && ids.is_none() && matches!(w.outcome, Outcome::Failed(_)) {
                journal.push(&Entry::Cancel {
                    fp: w.item.fp.clone(),
                });
            }
            if w.settled
                && let Some((lead_id, person_id)) = ids
            {
                journal.push(&Entry::Done {
                    fp: w.item.fp.clone(),
                    row,
                    outcome: w.outcome.label().to_string(),
                    lead_id: Some(lead_id),
                    person_id,
                    updated_at,
                    key: w.item.lead_key.clone(),
                });
                self.done_since_sync += 1;
            }
        }
        Ok(())
    }
}

/// One line of the success file.
struct SuccessLine {
    row: u64,
    outcome: &'static str,
    lead_id: Option<u64>,
    person_id: Option<u64>,
    title: String,
    note: String,
}

pub async fn run(
    opts: Options,
    client: Client,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let lookups = client
        .lookups()
        .await
        .context("cannot fetch Krayin's look-up tables")?;
    let Prepared {
        source,
        mapper,
        headers,
        spreadsheet,
    } = prepare(&opts.job, Some(&lookups))?;
    let state_dir = opts
        .state_dir
        .clone()
        .unwrap_or_else(|| journal::default_state_dir(&opts.job.input));
    let (mut journal, state) = Journal::open(
        &state_dir,
        &opts.job.input,
        opts.mode == Mode::Upsert && !opts.overwrite,
    )?;
    if !state.done.is_empty() || !state.pending.is_empty() {
        tracing::info!(
            done = state.done.len(),
            in_flight = state.pending.len(),
            journal = %journal.path().display(),
            "resuming: rows already written are skipped"
        );
    }
    let mapper_activity_count: u32 = mapper.spec.activities.iter().map(|a| a.repeat.max(1)).sum();
    let activities = mapper
        .spec
        .activities
        .iter()
        .map(|a| write::Activity::compile(a, &headers))
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)?;
    let attribute_targets: Vec<String> = mapper
        .spec
        .attributes
        .keys()
        .map(|c| format!("attributes.{c}"))
        .collect();
    let columns: HashMap<String, String> = super::map::spec::TARGETS
        .iter()
        .map(|t| t.to_string())
        .chain(attribute_targets)
        .filter_map(|t| mapper.column_of(&t).map(|c| (t.clone(), c.to_string())))
        .collect();
    let key_fields = mapper.settings.key.clone();
    let journal::State {
        done,
        keys,
        written_at,
        pending,
    } = state;
    let key_in_krayin = key_fields.is_empty()
        || key_fields
            .iter()
            .all(|k| matches!(k.as_str(), "title" | "person.emails" | "person.name"));
    let writer = Arc::new(Writer::new(
        client.clone(),
        write::Settings {
            mode: opts.mode,
            label: mapper.settings.contact_label.clone(),
            tz: mapper.time_zone().clone(),
            activities,
            columns,
            pending,
            written_at,
            keys,
            key_in_krayin,
            overwrite: opts.overwrite,
            stage_mapped: mapper.column_of("lead.stage").is_some()
                || mapper.spec.lead.stage.is_some(),
        },
    ));
    let today = crate::sandbox::store::today(mapper.time_zone());
    let blank = source.blank_rows.clone();
    let rows_read = Arc::new(AtomicU64::new(0));
    let warnings = Arc::new(AtomicU64::new(0));

    // Read, map and validate on a blocking thread; the bounded channel is the back-pressure.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Msg>(opts.batch_size.max(1) * 4);
    let reader = {
        let rows_read = rows_read.clone();
        let warnings = warnings.clone();
        tokio::task::spawn_blocking(move || {
            let mut checks = validate::FileChecks::new(
                mapper.column_of("person.emails"),
                mapper.column_of("person.phones"),
            );
            // Fingerprints as numbers (16 bytes, not a 32-character string), in sorted runs on
            // disk every half a million rows.
            let mut seen: crate::pipeline::seen::Seen<u128> = Default::default();
            for item in source.rows {
                rows_read.fetch_add(1, Ordering::Relaxed);
                let msg = match item {
                    Err(r) => Msg::Rejected(r),
                    Ok(row) => match mapper.map(&row, today) {
                        Err(r) => Msg::Rejected(r),
                        Ok(lead) => match checks.check(&row, &lead)? {
                            Err(r) => Msg::Rejected(r),
                            Ok(key) => {
                                warnings.fetch_add(lead.warnings.len() as u64, Ordering::Relaxed);
                                for w in &lead.warnings {
                                    tracing::warn!(row = row.provenance.row, field = %w.field, value = %w.value, "{}", w.message);
                                }
                                let fp = lead.fingerprint();
                                let lead_key = lead.key(&key_fields);
                                let item = Box::new(Item {
                                    lead_key,
                                    row,
                                    lead,
                                    key,
                                    fp: fp.clone(),
                                });
                                let n = journal::fp_key(&fp);
                                match seen.get(n)? {
                                    Some((first, _)) => Msg::Duplicate(item, first),
                                    None => {
                                        seen.insert_absent(n, (item.row.provenance.row, 0))?;
                                        Msg::Item(item)
                                    }
                                }
                            }
                        },
                    },
                };
                if tx.blocking_send(msg).is_err() {
                    // The writer stopped (interrupted, or the threshold): stop reading.
                    break;
                }
            }
            anyhow::Ok(())
        })
    };

    // ETA from the real quota: each new lead costs one request, plus one per follow-up.
    let per_lead: u32 = 1 + mapper_activity_count;
    let secs_per_row = client
        .rate()
        .map(|r| f64::from(per_lead) / (r.per_second() * crate::krayin::limit::SAFETY));
    let progress = Progress::new(
        opts.progress,
        estimate_rows(&opts.job.input, spreadsheet),
        secs_per_row,
    );
    let success_path = opts.success.clone().unwrap_or_else(|| {
        let stem = opts
            .job
            .input
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        opts.job.input.with_file_name(format!("{stem}.success.csv"))
    });
    let mut tally = Tally {
        summary: Summary {
            input: opts.job.input.display().to_string(),
            ..Summary::default()
        },
        rejections: report::Rejections::default(),
        successes: SuccessFile::create(&success_path)?,
        done_since_sync: 0,
        stopped: None,
    };
    let mut in_flight = FuturesUnordered::new();
    let mut batch: Vec<Msg> = Vec::with_capacity(opts.batch_size);

    'rows: loop {
        if tally.stopped.is_some() {
            break;
        }
        batch.clear();
        let n = tokio::select! {
            biased;
            _ = shutdown.changed() => {
                tally.stopped = Some(Stopped::Interrupted);
                0
            }
            n = rx.recv_many(&mut batch, opts.batch_size.max(1)) => n,
        };
        if n == 0 {
            break;
        }
        // Sort the batch: journal hits and file rejections need no request.
        let mut valid: Vec<Item> = Vec::new();
        for msg in batch.drain(..) {
            match msg {
                Msg::Rejected(r) => {
                    tally.summary.rejected += 1;
                    tally.rejections.push(&r)?;
                }
                Msg::Duplicate(item, first) => {
                    tally.summary.skipped += 1;
                    tally.successes.push(&SuccessLine {
                        row: item.row.provenance.row,
                        outcome: "skipped",
                        lead_id: None,
                        person_id: None,
                        title: item.lead.title.clone(),
                        note: format!("same content as row {first}: written once"),
                    });
                }
                Msg::Item(item) => match done.get(journal::fp_key(&item.fp))? {
                    Some((lead_id, person_id)) => {
                        tally.summary.skipped += 1;
                        tally.successes.push(&SuccessLine {
                            row: item.row.provenance.row,
                            outcome: "skipped",
                            lead_id: Some(lead_id),
                            person_id: journal::unpack(person_id),
                            title: item.lead.title.clone(),
                            note: "already imported by an earlier run".into(),
                        });
                    }
                    _ => valid.push(*item),
                },
            }
        }
        // Intents are durable before anything is sent.
        for item in &valid {
            journal.push(&Entry::Intent {
                fp: item.fp.clone(),
                row: item.row.provenance.row,
            });
        }
        journal.sync()?;
        let mut groups = group_by_person(valid).into_iter();
        while let Some(group) = groups.next() {
            while in_flight.len() >= opts.concurrency.max(1) {
                if let Some(written) = in_flight.next().await {
                    tally.handle(written, &mut journal)?;
                    progress.update(rows_read.load(Ordering::Relaxed), &tally.summary);
                }
            }
            if *shutdown.borrow() {
                // Interrupted: what was not sent is marked so, so the next run sends it
                // without looking it up first.
                tally.stopped = Some(Stopped::Interrupted);
                for item in std::iter::once(group).chain(groups.by_ref()).flatten() {
                    journal.push(&Entry::Cancel { fp: item.fp });
                }
                break;
            }
            let w = writer.clone();
            in_flight.push(async move { w.write_group(group).await });
        }
        if tally.done_since_sync >= opts.batch_size {
            journal.sync()?;
            tally.done_since_sync = 0;
        }
        let rows = rows_read.load(Ordering::Relaxed);
        progress.update(rows, &tally.summary);
        if let Some(t) = opts.max_errors
            && tally.stopped.is_none()
            && t.exceeded(tally.summary.errors(), rows)
        {
            tracing::warn!(
                errors = tally.summary.errors(),
                "error threshold exceeded: stopping after the requests in flight"
            );
            tally.stopped = Some(Stopped::ErrorThreshold);
            break 'rows;
        }
    }
    // Stop the reader (if still going) and let what was sent finish.
    drop(rx);
    while let Some(written) = in_flight.next().await {
        tally.handle(written, &mut journal)?;
    }
    journal.sync()?;
    // The reader failing (its checks' temporary storage, not a bad row) stops the run after
    // what was sent is journalled: the next run continues from the journal.
    reader.await.context("the reader stopped unexpectedly")??;
    progress.finish();
    let Tally {
        mut summary,
        mut rejections,
        successes,
        stopped,
        ..
    } = tally;

    summary.rows = rows_read.load(Ordering::Relaxed);
    summary.blank_rows = blank.load(Ordering::Relaxed);
    summary.warnings = warnings.load(Ordering::Relaxed);
    summary.stopped = stopped;
    summary.journal = Some(journal.path().display().to_string());
    let elapsed = started.elapsed();
    summary.duration_secs = elapsed.as_secs_f64();
    let written = summary.created + summary.reused_person;
    summary.leads_per_sec = if elapsed > Duration::ZERO {
        written as f64 / elapsed.as_secs_f64()
    } else {
        0.0
    };
    summary.endpoints = client.metrics().report();
    summary.requests = summary.endpoints.values().map(|e| e.requests).sum();
    summary.retries = summary.endpoints.values().map(|e| e.retries).sum();
    summary.throttled = summary.endpoints.values().map(|e| e.throttled).sum();
    summary.limiter_wait_secs = summary
        .endpoints
        .values()
        .map(|e| e.limiter_wait_secs)
        .sum();

    if !rejections.is_empty() {
        let path = opts
            .job
            .errors
            .clone()
            .unwrap_or_else(|| report::default_error_path(&opts.job.input, spreadsheet));
        report::write_error_report(&path, &headers, &mut rejections)?;
        summary.error_report = Some(path.display().to_string());
    }
    successes.finish(&success_path)?;
    summary.success_file = Some(success_path.display().to_string());
    let report_path = opts.report.clone().unwrap_or_else(|| {
        journal::journal_path(&state_dir, &opts.job.input).with_extension("report.json")
    });
    let json = serde_json::to_vec_pretty(&summary)?;
    std::fs::write(&report_path, json)
        .with_context(|| format!("cannot write {}", report_path.display()))?;
    Ok(summary)
}

/// Rows of one person together, in first-appearance order (each group is written in order).
fn group_by_person(items: Vec<Item>) -> Vec<Vec<Item>> {
    let mut order: Vec<validate::PersonKey> = Vec::new();
    let mut groups: HashMap<validate::PersonKey, Vec<Item>> = HashMap::new();
    for item in items {
        if !groups.contains_key(&item.key) {
            order.push(item.key);
        }
        groups.entry(item.key).or_default().push(item);
    }
    order
        .into_iter()
        .filter_map(|k| groups.remove(&k))
        .collect()
}

/// The success file, written line by line (in the order rows are settled) to a temporary file
/// that replaces the previous one only when the run ends.
struct SuccessFile {
    writer: csv::Writer<tempfile::NamedTempFile>,
    error: Option<csv::Error>,
}

impl SuccessFile {
    fn create(path: &std::path::Path) -> anyhow::Result<SuccessFile> {
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        let tmp = crate::output::temp_in(dir)
            .with_context(|| format!("cannot write the success file in {}", dir.display()))?;
        let mut writer = csv::Writer::from_writer(tmp);
        writer.write_record([
            "source_row",
            "outcome",
            "lead_id",
            "person_id",
            "title",
            "note",
        ])?;
        Ok(SuccessFile {
            writer,
            error: None,
        })
    }

    fn push(&mut self, l: &SuccessLine) {
        let opt = |v: Option<u64>| v.map(|x| x.to_string()).unwrap_or_default();
        let r = self.writer.write_record([
            l.row.to_string(),
            l.outcome.to_string(),
            opt(l.lead_id),
            opt(l.person_id),
            report::neutralize(&l.title),
            report::neutralize(&l.note),
        ]);
        if let Err(e) = r {
            // Reported when the run ends; the journal is what guarantees the outcome.
            self.error.get_or_insert(e);
        }
    }

    fn finish(self, path: &std::path::Path) -> anyhow::Result<()> {
        if let Some(e) = self.error {
            return Err(e).with_context(|| format!("cannot write {}", path.display()));
        }
        let tmp = self
            .writer
            .into_inner()
            .map_err(|e| anyhow::anyhow!("cannot write {}: {}", path.display(), e.error()))?;
        tmp.persist(path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }
}

/// Rows in a CSV, estimated by counting line ends (a quoted newline counts twice: an ETA, not
/// an account); `None` for spreadsheets.
fn estimate_rows(input: &std::path::Path, spreadsheet: bool) -> Option<u64> {
    use std::io::Read;
    if spreadsheet {
        return None;
    }
    let mut f = std::fs::File::open(input).ok()?;
    let mut buf = vec![0u8; 1 << 16];
    let mut lines = 0u64;
    loop {
        let n = f.read(&mut buf).ok()?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|b| **b == b'\n').count() as u64;
    }
    Some(lines.saturating_sub(1))
}

/// A progress bar on a terminal; a log line every ten seconds otherwise (cron).
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    last_log: std::sync::Mutex<Instant>,
    started: Instant,
    total: Option<u64>,
    /// Seconds per written row at the quota, when a quota is known.
    secs_per_row: Option<f64>,
}

impl Progress {
    fn new(terminal: bool, total: Option<u64>, secs_per_row: Option<f64>) -> Progress {
        let bar = terminal.then(|| {
            let b = indicatif::ProgressBar::new_spinner();
            b.set_style(
                indicatif::ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("static template"),
            );
            b.enable_steady_tick(Duration::from_millis(200));
            b
        });
        Progress {
            bar,
            last_log: std::sync::Mutex::new(Instant::now()),
            started: Instant::now(),
            total,
            secs_per_row,
        }
    }

    /// Time left: rows not yet accounted for, at the quota (or the rate seen so far).
    fn eta(&self, s: &Summary) -> Option<Duration> {
        let done = s.created + s.reused_person + s.updated + s.skipped + s.rejected + s.failed;
        let left = self.total?.saturating_sub(done);
        let per_row = match self.secs_per_row {
            Some(p) => p,
            None => {
                let written = (s.created + s.reused_person + s.updated).max(1) as f64;
                self.started.elapsed().as_secs_f64() / written
            }
        };
        Some(Duration::from_secs_f64(left as f64 * per_row))
    }

    fn update(&self, rows: u64, s: &Summary) {
        let written = s.created + s.reused_person + s.updated;
        let rate = written as f64 / self.started.elapsed().as_secs_f64().max(0.001);
        let eta = self.eta(s);
        let eta_text = eta
            .map(|d| format!("  ETA {}m{:02}s", d.as_secs() / 60, d.as_secs() % 60))
            .unwrap_or_default();
        let total = self.total.map(|t| format!("/~{t}")).unwrap_or_default();
        let msg = format!(
            "read {rows}{total}  written {written}  skipped {}  rejected {}  failed {}  {rate:.1} leads/s{eta_text}",
            s.skipped, s.rejected, s.failed
        );
        match &self.bar {
            Some(b) => b.set_message(msg),
            None => {
                let mut last = self.last_log.lock().unwrap_or_else(|p| p.into_inner());
                if last.elapsed() >= Duration::from_secs(10) {
                    *last = Instant::now();
                    tracing::info!(
                        rows,
                        written,
                        skipped = s.skipped,
                        rejected = s.rejected,
                        failed = s.failed,
                        eta_secs = eta.map(|d| d.as_secs()),
                        "progress"
                    );
                }
            }
        }
    }

    fn finish(&self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds() {
        assert_eq!("10".parse::<Threshold>().unwrap(), Threshold::Count(10));
        assert_eq!("5%".parse::<Threshold>().unwrap(), Threshold::Percent(5.0));
        assert!("x".parse::<Threshold>().is_err());
        assert!("150%".parse::<Threshold>().is_err());
        assert!(Threshold::Count(2).exceeded(3, 10));
        assert!(!Threshold::Count(2).exceeded(2, 10));
        assert!(
            !Threshold::Percent(10.0).exceeded(5, 10),
            "too few rows to judge"
        );
        assert!(Threshold::Percent(10.0).exceeded(5, 40));
    }

    #[test]
    fn eta_follows_the_quota() {
        let p = Progress::new(false, Some(100), Some(1.0));
        let s = Summary {
            created: 30,
            rejected: 10,
            ..Summary::default()
        };
        assert_eq!(
            p.eta(&s),
            Some(Duration::from_secs(60)),
            "60 rows left at one a second"
        );
        assert_eq!(Progress::new(false, None, Some(1.0)).eta(&s), None);
    }
}
