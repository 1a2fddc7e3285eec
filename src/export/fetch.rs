//! Reading a whole list endpoint (leads or activities) through the client, page by page.
//!
//! Two ways to read (contract §6):
//! - **everything**, sorted by `id` ascending: page 1 tells the page count (`meta.last_page`),
//!   then the other pages are fetched several at a time (all under the client's one limiter);
//! - **changed since a cutoff**, sorted by `updated_at` descending: pages are read in order
//!   (a window of several at a time) until one reaches a row older than the cutoff. With nothing
//!   changed that is one request.
//!
//! Page URLs are built here (Krayin's `links` drop `limit` and the filters). Offset paging over
//! a live table can shift: a row deleted or added while we read moves the rows after it by one.
//! Rows are keyed by id (a row read twice is kept once), a changed `meta.total` between pages
//! (or, in id order, fewer distinct ids than the total) is noticed and the listing read again,
//! up to [`MAX_PASSES`] times, keeping the pass that saw it hold still; and in `updated_at`
//! order, where many rows share one second, a page boundary falling inside such a tie is
//! closed by reading that instant whole with an exact `updated_at` filter.

use std::collections::{BTreeMap, HashSet};

use futures::{StreamExt, TryStreamExt};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::krayin::model::{Activity, Lead, Page};
use crate::krayin::{Client, Error, PageQuery};

/// A record of a list endpoint that can be exported.
pub trait Listed: Sized + Send + 'static {
    const NAME: &'static str;
    fn id(&self) -> u64;
    fn updated_at(&self) -> Option<&str>;
    fn page(
        client: &Client,
        q: &PageQuery,
    ) -> impl std::future::Future<Output = Result<Page<Self>, Error>> + Send;
}

impl Listed for Lead {
    const NAME: &'static str = "leads";
    fn id(&self) -> u64 {
        self.id
    }
    fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }
    async fn page(client: &Client, q: &PageQuery) -> Result<Page<Self>, Error> {
        client.leads_page(q).await
    }
}

impl Listed for Activity {
    const NAME: &'static str = "activities";
    fn id(&self) -> u64 {
        self.id
    }
    fn updated_at(&self) -> Option<&str> {
        self.updated_at.as_deref()
    }
    async fn page(client: &Client, q: &PageQuery) -> Result<Page<Self>, Error> {
        client.activities_page(q).await
    }
}

/// Where an `updated_at`-ordered read stops: rows changed after `after`, plus rows changed at
/// exactly `after` whose ids are not in `seen` (those were exported by the last run).
#[derive(Debug, Clone)]
pub struct Cutoff {
    pub after: Timestamp,
    pub seen: HashSet<u64>,
}

impl Cutoff {
    fn keeps(&self, id: u64, at: Option<Timestamp>) -> bool {
        match at {
            // A row without a change time cannot be placed: keep it rather than lose it.
            None => true,
            Some(t) if t > self.after => true,
            Some(t) if t == self.after => !self.seen.contains(&id),
            Some(_) => false,
        }
    }
}

/// How to read.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Exact column filters sent to the API (§6).
    pub filters: Vec<(String, String)>,
    pub page_size: u64,
    /// Pages in flight at once.
    pub concurrency: usize,
    /// `None`: everything. `Some`: changed since the cutoff.
    pub cutoff: Option<Cutoff>,
    /// Krayin's APP_TIMEZONE: `updated_at` filters are wall times in it (§12).
    pub server_tz: TimeZone,
    /// A full read that starts an incremental series: take the watermark from the newest
    /// change *before* reading (one small request), not from the newest row read, which could
    /// pass over a change made meanwhile to a row already read.
    pub pin_watermark: bool,
}

/// What a read gave.
#[derive(Debug)]
pub struct Fetched<T> {
    /// By id, each once.
    pub rows: BTreeMap<u64, T>,
    /// Rows the server counted when reading began (`meta.total`, filters applied).
    pub total: u64,
    pub pages: u64,
    /// The largest `updated_at` among every row read (kept or not), and the ids at it.
    pub newest: Option<(Timestamp, HashSet<u64>)>,
    /// The listing changed under this pass (rows added or deleted): not a snapshot, to be read
    /// again.
    pub reread: bool,
}

/// Progress callback: rows read so far, the server's total (0 when not known ahead).
pub type OnPage<'a> = &'a (dyn Fn(u64, u64) + Send + Sync);

pub fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse::<Timestamp>().ok()
}

pub async fn read<T: Listed>(
    client: &Client,
    plan: &Plan,
    on_page: OnPage<'_>,
) -> Result<Fetched<T>, Error> {
    let pinned = match (&plan.cutoff, plan.pin_watermark) {
        (None, true) => {
            let q = PageQuery {
                limit: 1,
                ..query(plan, 1, "updated_at", "desc")
            };
            let top = T::page(client, &q).await?;
            Some(
                top.data
                    .first()
                    .and_then(|r| r.updated_at())
                    .and_then(parse_ts),
            )
        }
        _ => None,
    };
    let once = || async {
        match &plan.cutoff {
            None => read_all::<T>(client, plan, on_page).await,
            Some(cutoff) => read_changed::<T>(client, plan, cutoff, on_page).await,
        }
    };
    let mut out = stable(T::NAME, once).await?;
    if let Some(top) = pinned {
        out.pages += 1;
        out.newest = top.map(|t| {
            let ids = out
                .rows
                .values()
                .filter(|r| r.updated_at().and_then(parse_ts) == Some(t))
                .map(Listed::id)
                .collect();
            (t, ids)
        });
    }
    Ok(out)
}

/// Reads of a listing that keeps changing under us, at most: past that the export stops with
/// an error rather than hand out a file that may miss rows.
pub const MAX_PASSES: u32 = 4;

/// Runs `pass` until one pass sees the listing hold still, and keeps that pass (not a union:
/// a row deleted meanwhile must not come back). The pages of every pass are counted.
async fn stable<T, F, Fut>(what: &str, mut pass: F) -> Result<Fetched<T>, Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Fetched<T>, Error>>,
{
    let mut pages = 0;
    for n in 1..=MAX_PASSES {
        let mut out = pass().await?;
        pages += out.pages;
        if !out.reread {
            out.pages = pages;
            return Ok(out);
        }
        if n < MAX_PASSES {
            tracing::warn!(
                what,
                pass = n,
                "the listing changed while it was read (rows added or deleted): reading it again"
            );
        }
    }
    Err(Error::Config(format!(
        "the {what} changed while they were read, {MAX_PASSES} times in a row (rows added or \
         deleted between pages), so no complete snapshot could be taken; nothing was written. \
         Run the export again when fewer changes are being made (e.g. after the nightly import)"
    )))
}

fn query(plan: &Plan, page: u64, sort: &str, order: &str) -> PageQuery {
    PageQuery {
        page,
        limit: plan.page_size,
        sort: Some(sort.into()),
        order: Some(order.into()),
        filters: plan.filters.clone(),
    }
}

fn note_newest<T: Listed>(newest: &mut Option<(Timestamp, HashSet<u64>)>, row: &T) {
    let Some(t) = row.updated_at().and_then(parse_ts) else {
        return;
    };
    match newest {
        Some((n, ids)) if *n == t => {
            ids.insert(row.id());
        }
        Some((n, _)) if *n > t => {}
        _ => *newest = Some((t, HashSet::from([row.id()]))),
    }
}

fn merge_newest(
    a: Option<(Timestamp, HashSet<u64>)>,
    b: Option<(Timestamp, HashSet<u64>)>,
) -> Option<(Timestamp, HashSet<u64>)> {
    match (a, b) {
        (None, x) | (x, None) => x,
        (Some((ta, ia)), Some((tb, ib))) => match ta.cmp(&tb) {
            std::cmp::Ordering::Greater => Some((ta, ia)),
            std::cmp::Ordering::Less => Some((tb, ib)),
            std::cmp::Ordering::Equal => Some((ta, ia.union(&ib).copied().collect())),
        },
    }
}

async fn read_all<T: Listed>(
    client: &Client,
    plan: &Plan,
    on_page: OnPage<'_>,
) -> Result<Fetched<T>, Error> {
    let first = T::page(client, &query(plan, 1, "id", "asc")).await?;
    let total = first.meta.total;
    let last = first.meta.last_page.max(1);
    let mut out = Fetched {
        rows: BTreeMap::new(),
        total,
        pages: 1,
        newest: None,
        reread: false,
    };
    let take = |page: Page<T>, out: &mut Fetched<T>| {
        if page.meta.total != total {
            out.reread = true;
        }
        for row in page.data {
            note_newest(&mut out.newest, &row);
            out.rows.insert(row.id(), row);
        }
        on_page(out.rows.len() as u64, total);
    };
    take(first, &mut out);
    let mut rest = futures::stream::iter(2..=last)
        .map(|p| {
            let q = query(plan, p, "id", "asc");
            async move { T::page(client, &q).await }
        })
        .buffered(plan.concurrency.max(1));
    while let Some(page) = rest.try_next().await? {
        out.pages += 1;
        take(page, &mut out);
    }
    // A deletion and an addition between pages leave `meta.total` as it was but shift a row
    // past a page boundary unread: the distinct ids read must be the total.
    if out.rows.len() as u64 != total {
        out.reread = true;
    }
    Ok(out)
}

async fn read_changed<T: Listed>(
    client: &Client,
    plan: &Plan,
    cutoff: &Cutoff,
    on_page: OnPage<'_>,
) -> Result<Fetched<T>, Error> {
    let first = T::page(client, &query(plan, 1, "updated_at", "desc")).await?;
    let total = first.meta.total;
    let last = first.meta.last_page.max(1);
    let mut out = Fetched {
        rows: BTreeMap::new(),
        total,
        pages: 1,
        newest: None,
        reread: false,
    };
    // The change time of the last row of the previous page, to spot a tie cut by a boundary.
    let mut previous_tail: Option<Timestamp> = None;
    let mut ties: Vec<Timestamp> = Vec::new();
    // Every id read at each change time, to check a tie's re-read against.
    let mut seen_at: BTreeMap<Timestamp, HashSet<u64>> = BTreeMap::new();
    let mut take = |page: Page<T>, out: &mut Fetched<T>, tail: &mut Option<Timestamp>| -> bool {
        let mut reached = false;
        if page.meta.total != total {
            out.reread = true;
        }
        if let (Some(t), Some(head)) = (
            *tail,
            page.data
                .first()
                .and_then(|r| r.updated_at())
                .and_then(parse_ts),
        ) && t == head
            && cutoff.keeps(u64::MAX, Some(t))
        {
            ties.push(t);
        }
        for row in page.data {
            let at = row.updated_at().and_then(parse_ts);
            note_newest(&mut out.newest, &row);
            if let Some(t) = at {
                seen_at.entry(t).or_default().insert(row.id());
            }
            if cutoff.keeps(row.id(), at) {
                out.rows.insert(row.id(), row);
            } else if at.is_some_and(|t| t < cutoff.after) {
                reached = true;
            }
            *tail = at;
        }
        // How many changed is not known ahead (`meta.total` counts them all): no total.
        on_page(out.rows.len() as u64, 0);
        reached
    };
    let mut reached = take(first, &mut out, &mut previous_tail);
    let mut next = 2;
    while !reached && next <= last {
        let window_end = (next + plan.concurrency.max(1) as u64 - 1).min(last);
        let pages: Vec<Page<T>> = futures::stream::iter(next..=window_end)
            .map(|p| {
                let q = query(plan, p, "updated_at", "desc");
                async move { T::page(client, &q).await }
            })
            .buffered(plan.concurrency.max(1))
            .try_collect()
            .await?;
        for page in pages {
            out.pages += 1;
            if take(page, &mut out, &mut previous_tail) {
                reached = true;
            }
        }
        next = window_end + 1;
    }
    // Close the ties cut by page boundaries: every row changed at that instant.
    ties.dedup();
    for t in ties {
        let wall = t
            .to_zoned_datetime(plan.server_tz.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string();
        let mut filters = plan.filters.clone();
        filters.push(("updated_at".into(), wall.clone()));
        let tie_plan = Plan {
            filters,
            cutoff: None,
            ..plan.clone()
        };
        let group = stable(T::NAME, || read_all::<T>(client, &tie_plan, &|_, _| {})).await?;
        out.pages += group.pages;
        // The re-read must hold every row already read at that second; if it does not, the
        // wall time sent was not the server's (a wrong --server-timezone), and rows could be
        // missed silently.
        let missing = seen_at.get(&t).map_or(0, |ids| {
            ids.iter().filter(|id| !group.rows.contains_key(id)).count()
        });
        if missing > 0 {
            return Err(Error::Config(format!(
                "reading the {} changed at {wall} (server time) did not return {missing} of \
                 them: is --server-timezone Krayin's APP_TIMEZONE ({})?",
                T::NAME,
                plan.server_tz.iana_name().unwrap_or("the zone given")
            )));
        }
        for (id, row) in group.rows {
            let at = row.updated_at().and_then(parse_ts);
            note_newest(&mut out.newest, &row);
            if cutoff.keeps(id, at) {
                out.rows.insert(id, row);
            }
        }
    }
    out.newest = merge_newest(
        out.newest,
        Some((cutoff.after, cutoff.seen.clone())).filter(|_| cutoff.after > Timestamp::MIN),
    );
    Ok(out)
}
