//! The ingest hot path's second half: a bounded queue and one writer task that
//! commits queued requests in groups. A request is answered only after the group
//! holding it has committed, so every acknowledgement is durable.

use crate::clock::Clock;
use crate::domain::timeutil::month_key;
use crate::ingest::rollup::RollupState;
use crate::store::faults::Fault;
use crate::store::sqlite_file::FileIdentity;
use crate::store::{Db, DirectWriter, IngestWrite, WriteItem, WriteSummary, WriterConnection};
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};

/// One write of a request, with the units reserved for it against the quota.
pub struct Write {
    pub write: IngestWrite,
    pub reserved_units: i64,
}

/// What a queued request carries to the writer: its writes, committed together (a
/// Sentry envelope's event and sessions are stored all or none).
pub struct Job {
    pub project_id: String,
    pub key_id: Option<String>,
    pub writes: Vec<Write>,
    pub new_apps: Vec<String>,
    pub month: String,
    pub done: oneshot::Sender<Result<(), String>>,
    /// After this the request has been answered 503 and the job must not be written.
    pub deadline: Instant,
    /// The job's share of the queue's byte budget, given back when it is dropped.
    _budget: OwnedSemaphorePermit,
}

impl Job {
    fn items(&self) -> usize {
        self.writes
            .iter()
            .map(|w| match &w.write {
                IngestWrite::Events(list) => list.len().max(1),
                _ => 1,
            })
            .sum()
    }

    fn events_only(&self) -> bool {
        self.writes
            .iter()
            .all(|w| matches!(w.write, IngestWrite::Events(_)))
    }
}

/// One request's writes, as the service hands them to the writer.
pub struct Submission {
    pub project_id: String,
    pub key_id: Option<String>,
    pub writes: Vec<Write>,
    /// App labels it is the first to use.
    pub new_apps: Vec<String>,
}

#[derive(Debug)]
pub enum SubmitError {
    /// The queue is full: the server is overloaded.
    Full,
    /// The write failed (database fault); nothing was stored.
    Failed(String),
}

/// Counters exported on /metrics.
#[derive(Default)]
pub struct PipelineStats {
    pub depth: AtomicUsize,
    pub committed_items: AtomicU64,
    pub commits: AtomicU64,
    pub commit_micros_total: AtomicU64,
    pub failed_jobs: AtomicU64,
    pub refused_full: AtomicU64,
    /// Commits made through the SQLite writer's direct connection (a subset of
    /// `commits`); stays 0 on PostgreSQL.
    pub direct_commits: AtomicU64,
    /// Jobs dropped unwritten because their request's deadline passed first.
    pub expired_jobs: AtomicU64,
    /// When the last commit succeeded and failed (Unix ms; 0: never): `/health`
    /// reads the write path off them.
    pub last_commit_ok_ms: AtomicI64,
    pub last_commit_failed_ms: AtomicI64,
    /// What the last failed commit ran into, when the database was at fault.
    pub last_fault: std::sync::Mutex<Option<crate::store::faults::Fault>>,
    /// Since when work has been waiting for the writer (Unix ms; 0: none waits).
    pub waiting_since_ms: AtomicI64,
}

#[derive(Clone)]
pub struct IngestQueue {
    tx: mpsc::Sender<Job>,
    /// The writer's own database handle (see `Db::for_writer`).
    writer_db: Db,
    /// Kilobytes of payload that may be queued.
    budget: Arc<Semaphore>,
    pub stats: Arc<PipelineStats>,
}

pub type Notifier = Arc<dyn Fn(WriteSummary) + Send + Sync>;

pub struct WriterSettings {
    pub capacity: usize,
    pub max_bytes: usize,
    pub group_max: usize,
    pub group_wait: Duration,
}

impl IngestQueue {
    /// Starts the writer task and returns the queue feeding it.
    pub fn start(db: Db, clock: Clock, settings: WriterSettings, notify: Notifier) -> IngestQueue {
        let (tx, rx) = mpsc::channel(settings.capacity);
        let stats = Arc::new(PipelineStats::default());
        let budget = Arc::new(Semaphore::new((settings.max_bytes / 1024).max(1)));
        tokio::spawn(checkpointer(db.clone()));
        let db = db.for_writer();
        let writer_db = db.clone();
        let writer_stats = stats.clone();
        // The writer is a task of the server's runtime, not a thread of its own: a
        // request handing its write over and being answered are then wake-ups within
        // the runtime, where a separate thread cost two thread wake-ups per commit —
        // more CPU than the commit itself when single events arrive one by one.
        tokio::spawn(writer(db, clock, rx, settings, writer_stats, notify));
        IngestQueue {
            tx,
            writer_db,
            budget,
            stats,
        }
    }

    /// Closes the writer's database connections; later writes fail with 503.
    pub async fn close(&self) {
        self.writer_db.close().await;
    }

    /// Queues a request's writes and waits for their commit, at most until `deadline`.
    pub async fn submit(
        &self,
        s: Submission,
        now_ms: i64,
        deadline: Instant,
    ) -> Result<(), SubmitError> {
        let Submission {
            project_id,
            key_id,
            writes,
            new_apps,
        } = s;
        let bytes: usize = writes.iter().map(|w| w.write.approx_bytes()).sum();
        let kib = (bytes / 1024 + 1).min(u32::MAX as usize) as u32;
        let Ok(budget) = self.budget.clone().try_acquire_many_owned(kib) else {
            self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            return Err(SubmitError::Full);
        };
        let (done, wait) = oneshot::channel();
        let job = Job {
            project_id,
            key_id,
            writes,
            new_apps,
            month: month_key(now_ms),
            done,
            deadline,
            _budget: budget,
        };
        if let Err(e) = self.tx.try_send(job) {
            if matches!(e, mpsc::error::TrySendError::Full(_)) {
                self.stats.refused_full.fetch_add(1, Ordering::Relaxed);
            }
            return Err(SubmitError::Full);
        }
        if self.stats.depth.fetch_add(1, Ordering::Relaxed) == 0 {
            self.stats.waiting_since_ms.store(now_ms, Ordering::Relaxed);
        }
        // Past the deadline the writer drops the job unwritten: the client's retry
        // then cannot make a duplicate.
        match tokio::time::timeout_at(deadline.into(), wait).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(msg))) => Err(SubmitError::Failed(msg)),
            Ok(Err(_)) => Err(SubmitError::Failed("the writer stopped".into())),
            Err(_) => Err(SubmitError::Failed(
                "not written within the request deadline".into(),
            )),
        }
    }
}

/// How often the writer makes sure its SQLite file is still there.
const FILE_CHECK: Duration = Duration::from_millis(100);

/// How often the SQLite WAL is checkpointed beside the writer: often enough that
/// the checkpoint the writer runs itself (see `Db::for_writer`) finds little left
/// to copy.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// Checkpoints the SQLite WAL beside the writer, copying pages back to the database
/// while ingest goes on. Stops when the database is closed.
async fn checkpointer(db: Db) {
    if !matches!(db, Db::Sqlite(_)) {
        return;
    }
    let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = db.checkpoint().await {
            if db.is_closed() {
                return;
            }
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }
}

/// `last_used_at` of a key is written at most this often, not on every commit.
const KEY_TOUCH_INTERVAL_MS: i64 = 60_000;

/// The next group: the first job to arrive, and whatever queued up behind it (while
/// the previous group was committing), up to the group limits. `None` once the
/// queue is closed.
async fn next_group(
    rx: &mut mpsc::Receiver<Job>,
    settings: &WriterSettings,
    direct: bool,
) -> Option<Vec<Job>> {
    let first = rx.recv().await?;
    // The first request of a group wakes the writer at once, ahead of the other
    // requests the runtime has ready. When the commit is to run right here (events
    // on the direct connection), letting those run first hands their writes over
    // too, so that one commit carries them all. A commit on the pool's thread runs
    // beside the request tasks instead, so it starts at once.
    if direct && first.events_only() {
        tokio::task::yield_now().await;
    }
    let mut items = first.items();
    let mut group = vec![first];
    let deadline = Instant::now() + settings.group_wait;
    while items < settings.group_max {
        let next = match rx.try_recv() {
            Ok(job) => Some(job),
            Err(_) if settings.group_wait.is_zero() => None,
            Err(_) => tokio::time::timeout_at(deadline.into(), rx.recv())
                .await
                .ok()
                .flatten(),
        };
        let Some(job) = next else { break };
        items += job.items();
        group.push(job);
    }
    Some(group)
}

async fn writer(
    db: Db,
    clock: Clock,
    mut rx: mpsc::Receiver<Job>,
    settings: WriterSettings,
    stats: Arc<PipelineStats>,
    notify: Notifier,
) {
    let mut touched: HashMap<String, i64> = HashMap::new();
    let mut committer = match Committer::start(db, stats.clone()).await {
        Ok(committer) => committer,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the ingest writer");
            return;
        }
    };
    while let Some(group) = next_group(&mut rx, &settings, committer.direct.is_some()).await {
        let now = clock.now_ms();
        let waiting = stats.depth.fetch_sub(group.len(), Ordering::Relaxed) > group.len();
        stats
            .waiting_since_ms
            .store(if waiting { now } else { 0 }, Ordering::Relaxed);
        // A job whose request has been answered (503 at its deadline) is not written.
        let started = Instant::now();
        let (group, expired): (Vec<Job>, Vec<Job>) =
            group.into_iter().partition(|j| j.deadline > started);
        for job in expired {
            stats.expired_jobs.fetch_add(1, Ordering::Relaxed);
            let _ = job
                .done
                .send(Err("not written within the request deadline".into()));
        }
        if group.is_empty() {
            continue;
        }
        let items: usize = group.iter().map(Job::items).sum();
        let mut used_keys: Vec<String> = group
            .iter()
            .filter_map(|j| j.key_id.as_deref())
            .filter(|k| {
                touched
                    .get(*k)
                    .is_none_or(|t| now - t >= KEY_TOUCH_INTERVAL_MS)
            })
            .map(str::to_string)
            .collect();
        used_keys.sort_unstable();
        used_keys.dedup();
        let (group, outcome) = committer.commit(now, group, &used_keys).await;
        if outcome.is_ok() {
            for k in used_keys {
                touched.insert(k, now);
            }
        }
        match outcome {
            Ok(summary) => {
                record(&stats, items, started);
                stats
                    .last_commit_ok_ms
                    .store(clock.now_ms(), Ordering::Relaxed);
                for job in group {
                    let _ = job.done.send(Ok(()));
                }
                notify(summary);
            }
            Err(group_err) if group_err.fault.is_some() => {
                // The database is unavailable: every request of the group is answered
                // at once (retrying them one by one would hold the last for N times
                // the timeout).
                if let Ok(mut last) = stats.last_fault.lock() {
                    *last = group_err.fault;
                }
                stats
                    .last_commit_failed_ms
                    .store(clock.now_ms(), Ordering::Relaxed);
                tracing::warn!(error = %group_err.message, jobs = group.len(), "group commit failed; nothing of it was stored");
                for job in group {
                    stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
                    let _ = job.done.send(Err(group_err.message.clone()));
                }
            }
            Err(group_err) => {
                // One bad request must not sink the others: retry each on its own.
                tracing::warn!(error = %group_err.message, jobs = group.len(), "group commit failed; retrying one by one");
                for job in group {
                    let n = job.items();
                    let started = Instant::now();
                    let (single, outcome) = committer.commit(clock.now_ms(), vec![job], &[]).await;
                    for job in single {
                        match &outcome {
                            Ok(_) => {
                                record(&stats, n, started);
                                stats
                                    .last_commit_ok_ms
                                    .store(clock.now_ms(), Ordering::Relaxed);
                                let _ = job.done.send(Ok(()));
                            }
                            Err(e) => {
                                tracing::error!(error = %e.message, project = %job.project_id, "ingest write failed");
                                stats.failed_jobs.fetch_add(1, Ordering::Relaxed);
                                let _ = job.done.send(Err(e.message.clone()));
                            }
                        }
                    }
                    if let Ok(summary) = outcome {
                        notify(summary);
                    }
                }
            }
        }
    }
}

fn record(stats: &PipelineStats, items: usize, started: Instant) {
    stats.commits.fetch_add(1, Ordering::Relaxed);
    stats
        .committed_items
        .fetch_add(items as u64, Ordering::Relaxed);
    stats
        .commit_micros_total
        .fetch_add(started.elapsed().as_micros() as u64, Ordering::Relaxed);
}

/// Why a commit failed, and whether the database itself is at fault (unavailable,
/// full, read-only: retrying item by item cannot help).
struct CommitError {
    message: String,
    fault: Option<crate::store::faults::Fault>,
}

impl From<crate::store::StoreError> for CommitError {
    fn from(e: crate::store::StoreError) -> Self {
        CommitError {
            fault: e.fault(),
            message: e.to_string(),
        }
    }
}

/// The group back, and its summary or why it failed.
type CommitOutcome = (Vec<Job>, Result<WriteSummary, CommitError>);

/// Commits groups, keeping what the writer needs between them: the roll-up state, the
/// direct SQLite connection, and on SQLite a thread for commits through the pool.
struct Committer {
    db: Db,
    direct: Option<DirectWriter>,
    rollups: RollupState,
    stats: Arc<PipelineStats>,
    /// The SQLite file, checked before commits (at most every `FILE_CHECK`): one
    /// deleted or replaced is never written again.
    file: Option<(FileIdentity, Instant, bool)>,
    /// On SQLite, a runtime on a thread of its own for groups holding errors or
    /// sessions, which go through the writer's sqlx connection: each statement is a
    /// round trip to that connection's thread, and answered within the busy server
    /// runtime every one would wait behind request tasks. (PostgreSQL connections are
    /// shared with the server and bound to its runtime, so they are used from there.)
    /// The thread ends when the committer is dropped.
    pool_runtime: Option<(tokio::runtime::Handle, oneshot::Sender<()>)>,
    /// On PostgreSQL, the connection kept from one commit to the next.
    held: WriterConnection,
}

impl Committer {
    async fn start(db: Db, stats: Arc<PipelineStats>) -> std::io::Result<Committer> {
        let direct = match db.direct_writer().await {
            Ok(direct) => direct,
            Err(e) => {
                tracing::warn!(error = %e, "no direct SQLite connection for the ingest writer; writing through the pool");
                None
            }
        };
        let pool_runtime = match db {
            Db::Sqlite(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()?;
                let handle = runtime.handle().clone();
                let (stop, stopped) = oneshot::channel::<()>();
                std::thread::Builder::new()
                    .name("ingest-pool-writer".into())
                    .spawn(move || {
                        let _ = runtime.block_on(stopped);
                    })?;
                Some((handle, stop))
            }
            Db::Postgres(_) => None,
        };
        let file = db
            .sqlite_file()
            .await
            .ok()
            .flatten()
            .map(|f| (f, Instant::now(), false));
        Ok(Committer {
            db,
            direct,
            rollups: RollupState::default(),
            stats,
            file,
            pool_runtime,
            held: WriterConnection::default(),
        })
    }

    /// Whether the database file is still the one opened (checked now and then).
    fn file_lost(&mut self) -> bool {
        let Some((file, checked, lost)) = self.file.as_mut() else {
            return false;
        };
        if !*lost && checked.elapsed() >= FILE_CHECK {
            *checked = Instant::now();
            *lost = file.check().is_err();
        }
        *lost
    }

    /// Asks the database which new property values their days keep (the cap holds
    /// for all processes together), within what is left of the group's deadline.
    async fn reserve_prop_values(
        &mut self,
        writes: &[(&str, &IngestWrite)],
        budget: Option<Duration>,
    ) -> Result<(), CommitError> {
        let reserve = self.rollups.reserve(&self.db, writes);
        match budget {
            Some(budget) => {
                tokio::time::timeout(budget, reserve)
                    .await
                    .map_err(|_| CommitError {
                        message: "the database did not answer within the request deadline".into(),
                        fault: Some(Fault::Unreachable),
                    })??
            }
            None => reserve.await?,
        }
        Ok(())
    }

    /// Commits a group in one transaction; hands the group back with the outcome.
    async fn commit(&mut self, now: i64, group: Vec<Job>, used_keys: &[String]) -> CommitOutcome {
        if self.file_lost() {
            let e = CommitError {
                message: "the database file was deleted or replaced; nothing is written".into(),
                fault: Some(Fault::Missing),
            };
            return (group, Err(e));
        }
        // What is left of the earliest deadline: the database gets no longer.
        let budget = group.iter().map(|j| j.deadline).min().map(|d| {
            d.saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1))
        });
        let writes: Vec<(&str, &IngestWrite)> = group
            .iter()
            .flat_map(|j| j.writes.iter().map(|w| (j.project_id.as_str(), &w.write)))
            .collect();
        if let Err(e) = self.reserve_prop_values(&writes, budget).await {
            drop(writes);
            return (group, Err(e));
        }
        let increments = self.rollups.build(&writes);
        let events_only = group.iter().all(Job::events_only);
        // Once the database is closed (shutdown), nothing is written any more.
        let (group, increments, outcome) = match self.direct.as_mut() {
            Some(direct) if events_only && !self.db.is_closed() => {
                let keys: Vec<&str> = used_keys.iter().map(String::as_str).collect();
                let items = write_items(&group);
                let new_apps = new_apps_of(&group);
                // First without waiting for the write lock. When another connection
                // holds it, the wait (bounded by the deadline) happens off the
                // runtime's worker: blocking it would hold up the tasks queued there,
                // requests that have nothing to do with the database among them.
                let mut outcome = direct
                    .wait_at_most(Duration::ZERO)
                    .and_then(|()| direct.write_events(&items, &new_apps, &keys, &increments, now));
                if matches!(&outcome, Err(e) if e.fault() == Some(Fault::Busy)) {
                    if let Err(e) = direct.wait_at_most(budget.unwrap_or(Duration::MAX)) {
                        tracing::warn!(error = %e, "cannot bound the direct writer's lock wait");
                    }
                    outcome = off_the_runtime(|| {
                        direct.write_events(&items, &new_apps, &keys, &increments, now)
                    });
                }
                drop(items);
                if outcome.is_ok() {
                    self.stats.direct_commits.fetch_add(1, Ordering::Relaxed);
                }
                (group, increments, outcome)
            }
            _ => {
                let db = self.db.clone();
                let used_keys = used_keys.to_vec();
                let mut held = std::mem::take(&mut self.held);
                let write = async move {
                    let items = write_items(&group);
                    let new_apps = new_apps_of(&group);
                    let keys: Vec<&str> = used_keys.iter().map(String::as_str).collect();
                    let outcome = db
                        .write_ingest_group_within(
                            &mut held,
                            &items,
                            &new_apps,
                            &keys,
                            &increments,
                            now,
                            budget,
                        )
                        .await;
                    drop(items);
                    (group, increments, outcome, held)
                };
                let (group, increments, outcome, held) = match &self.pool_runtime {
                    Some((runtime, _)) => match runtime.spawn(write).await {
                        Ok(done) => done,
                        // The group went down with the task; its requests learn that
                        // their answer channel closed.
                        Err(e) => {
                            let e = CommitError {
                                message: format!("the ingest writer failed: {e}"),
                                fault: None,
                            };
                            return (Vec::new(), Err(e));
                        }
                    },
                    None => write.await,
                };
                self.held = held;
                (group, increments, outcome)
            }
        };
        if outcome.is_ok() {
            self.rollups.committed(&increments);
        }
        (group, outcome.map_err(CommitError::from))
    }
}

/// Runs `f`, which may block, without holding up the other tasks of the runtime's
/// worker it is called on (where the runtime allows: not on a current-thread one).
fn off_the_runtime<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(f)
        }
        _ => f(),
    }
}

fn write_items(group: &[Job]) -> Vec<WriteItem<'_>> {
    group
        .iter()
        .flat_map(|j| {
            j.writes.iter().map(|w| WriteItem {
                project_id: &j.project_id,
                write: &w.write,
                reserved_units: w.reserved_units,
                month: &j.month,
            })
        })
        .collect()
}

fn new_apps_of(group: &[Job]) -> Vec<(String, String)> {
    group
        .iter()
        .flat_map(|j| j.new_apps.iter().map(|a| (j.project_id.clone(), a.clone())))
        .collect()
}
