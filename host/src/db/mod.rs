//! The host's SQLite file (WAL): memory history, alerts and invocations. Writes go
//! through a channel to one background thread that batches them in
//! transactions, so no call ever waits on the disk. Schema changes are
//! versioned migrations keyed on `PRAGMA user_version`.

mod invocations;
mod jobs;
mod plugins;
mod recover;

pub use plugins::PluginRow;
pub use recover::Recovery;

use crate::observe::Call;
use rusqlite::{params, Connection};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::Mutex;
use std::time::Duration;

/// Migrations, applied in order; index + 1 is the schema version.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE memory_samples (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        used INTEGER NOT NULL,
        budget INTEGER NOT NULL,
        level TEXT NOT NULL,
        rss INTEGER NOT NULL,
        system_available INTEGER NOT NULL,
        plugins TEXT NOT NULL
     );
     CREATE INDEX memory_samples_ts ON memory_samples(ts_ms);
     CREATE TABLE memory_alerts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        from_level TEXT NOT NULL,
        to_level TEXT NOT NULL,
        used INTEGER NOT NULL,
        budget INTEGER NOT NULL
     );",
    invocations::MIGRATION,
    plugins::MIGRATION,
    jobs::MIGRATION,
];

/// A database error, with what was being done.
#[derive(Debug, thiserror::Error)]
#[error("database {path}: {message}")]
pub struct DbError {
    pub path: PathBuf,
    pub message: String,
}

/// One memory sample.
#[derive(Debug, Clone, Serialize)]
pub struct Sample {
    pub ts_ms: u64,
    pub used: u64,
    pub budget: u64,
    pub level: String,
    pub rss: u64,
    pub system_available: u64,
    /// Bytes per plugin (instances + compiled code).
    pub plugins: serde_json::Value,
}

/// A pressure level change.
#[derive(Debug, Clone, Serialize)]
pub struct Alert {
    pub id: i64,
    pub ts_ms: u64,
    pub from_level: String,
    pub to_level: String,
    pub used: u64,
    pub budget: u64,
}

enum Write {
    Sample(Sample),
    Alert(Alert),
    Invocation(Call),
    Job(crate::jobs::Job),
    /// A registry change; acknowledged with the commit's outcome.
    Plugin(plugins::PluginChange, mpsc::SyncSender<Result<(), String>>),
    Flush(mpsc::SyncSender<()>),
}

/// Handle to the database: a writer thread and a reader connection.
pub struct Db {
    path: PathBuf,
    /// `Sender` is `Sync`: callers on every worker send without a lock.
    tx: Sender<Write>,
    reader: Mutex<Connection>,
    recovery: Option<Recovery>,
    fresh: bool,
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

/// Applies the missing migrations; returns the version found (0: a new file).
fn migrate(conn: &mut Connection) -> rusqlite::Result<usize> {
    let version: usize = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "database migrated");
    }
    Ok(version)
}

impl Db {
    /// Opens (creating and migrating) the database at `path`, keeping at most
    /// `retention.0` memory samples and `retention.1` invocations.
    /// A damaged file is moved aside and replaced (see [`Db::recovery`]).
    pub fn open(path: &Path, retention: (u64, u64)) -> Result<Db, DbError> {
        let err = |e: rusqlite::Error| DbError { path: path.to_path_buf(), message: e.to_string() };
        // Everything a start reads or writes, so damage found anywhere in it is recovered.
        let prepare = || -> Result<(Connection, bool), recover::Failure> {
            let mut conn = open(path)?;
            recover::check(&conn)?;
            let fresh = migrate(&mut conn)? == 0;
            let interrupted = jobs::interrupt_unfinished(&conn)?;
            if interrupted > 0 {
                tracing::warn!(jobs = interrupted, "jobs left running by the previous process marked interrupted");
            }
            Ok((conn, fresh))
        };
        let ((writer, fresh), recovery) = match prepare() {
            Ok(opened) => (opened, None),
            Err(recover::Failure::Other(e)) => return Err(err(e)),
            Err(recover::Failure::Damaged(reason)) => {
                let (recovery, rows) = recover::quarantine(path, reason)?;
                let (mut conn, fresh) = match prepare() {
                    Ok(opened) => opened,
                    Err(recover::Failure::Other(e)) => return Err(err(e)),
                    Err(recover::Failure::Damaged(reason)) => return Err(DbError { path: path.to_path_buf(), message: reason }),
                };
                recover::restore(&mut conn, rows).map_err(err)?;
                tracing::error!(
                    damaged = %recovery.damaged.display(),
                    reason = %recovery.reason,
                    plugins_salvaged = ?recovery.plugins_salvaged,
                    "the database was damaged: moved aside and started afresh"
                );
                ((conn, fresh), Some(recovery))
            }
        };
        let reader = open(path).map_err(err)?;
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("hostel-db".into())
            .spawn(move || write_loop(writer, rx, retention))
            .map_err(|e| DbError { path: path.to_path_buf(), message: format!("writer thread: {e}") })?;
        Ok(Db { path: path.to_path_buf(), tx, reader: Mutex::new(reader), recovery, fresh })
    }

    /// Whether this start created the schema: a new file, or one whose rows
    /// were lost (damaged, truncated to nothing, replaced).
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Set when this start found the file damaged and replaced it.
    pub fn recovery(&self) -> Option<&Recovery> {
        self.recovery.as_ref()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn send(&self, w: Write) {
        if self.tx.send(w).is_err() {
            tracing::error!("database writer has stopped; a write was dropped");
        }
    }

    pub fn record_sample(&self, s: Sample) {
        self.send(Write::Sample(s))
    }

    pub fn record_alert(&self, a: Alert) {
        self.send(Write::Alert(a))
    }

    pub fn record_invocation(&self, c: Call) {
        self.send(Write::Invocation(c))
    }

    pub fn record_job(&self, job: crate::jobs::Job) {
        self.send(Write::Job(job))
    }

    /// A cheap query on the reader connection, for readiness.
    pub fn check(&self) -> Result<(), DbError> {
        let conn = self.reader.lock().unwrap();
        conn.query_row("SELECT COUNT(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))
            .map(|_| ())
            .map_err(|e| DbError { path: self.path.clone(), message: e.to_string() })
    }

    /// Waits until everything sent so far is committed.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(Write::Flush(tx));
        let _ = rx.recv_timeout(Duration::from_secs(10));
    }

    /// Samples with `ts_ms > since`, oldest first, at most `limit`.
    pub fn samples(&self, since: u64, limit: u32) -> Result<Vec<Sample>, DbError> {
        let conn = self.reader.lock().unwrap();
        let err = |e: rusqlite::Error| DbError { path: self.path.clone(), message: e.to_string() };
        let mut stmt = conn
            .prepare_cached(
                "SELECT ts_ms, used, budget, level, rss, system_available, plugins FROM memory_samples
                 WHERE ts_ms > ?1 ORDER BY ts_ms, id LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![since as i64, limit], |r| {
                let plugins: String = r.get(6)?;
                Ok(Sample {
                    ts_ms: r.get::<_, i64>(0)? as u64,
                    used: r.get::<_, i64>(1)? as u64,
                    budget: r.get::<_, i64>(2)? as u64,
                    level: r.get(3)?,
                    rss: r.get::<_, i64>(4)? as u64,
                    system_available: r.get::<_, i64>(5)? as u64,
                    plugins: serde_json::from_str(&plugins).unwrap_or(serde_json::Value::Null),
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Alerts newest first; `before` (an alert id) pages backwards.
    pub fn alerts(&self, before: Option<i64>, limit: u32) -> Result<Vec<Alert>, DbError> {
        let conn = self.reader.lock().unwrap();
        let err = |e: rusqlite::Error| DbError { path: self.path.clone(), message: e.to_string() };
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, ts_ms, from_level, to_level, used, budget FROM memory_alerts
                 WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![before.unwrap_or(i64::MAX), limit], |r| {
                Ok(Alert {
                    id: r.get(0)?,
                    ts_ms: r.get::<_, i64>(1)? as u64,
                    from_level: r.get(2)?,
                    to_level: r.get(3)?,
                    used: r.get::<_, i64>(4)? as u64,
                    budget: r.get::<_, i64>(5)? as u64,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }
}

/// How long a history write waits for others to share its transaction.
const GATHER: Duration = Duration::from_millis(10);

/// Batches writes: waits for one (history waits [`GATHER`] more for
/// company), takes whatever else is queued, commits all in one transaction,
/// then acknowledges flushes and registry changes.
fn write_loop(mut conn: Connection, rx: Receiver<Write>, (retention, invocation_retention): (u64, u64)) {
    let mut batches: u64 = 0;
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(w) => w,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // History and samples wait 10 ms for company: under load one
        // transaction then holds hundreds of calls instead of a few, and the
        // writer sleeps instead of being woken by every call's send (a futex
        // wake per request, measured). Registry changes and flushes, whose
        // senders wait for the commit, go at once.
        if matches!(first, Write::Invocation(_) | Write::Sample(_) | Write::Alert(_) | Write::Job(_)) {
            std::thread::sleep(GATHER);
        }
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        let mut acks = Vec::new();
        let mut committed = Vec::new();
        let result = (|| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            for w in batch {
                match w {
                    Write::Sample(s) => {
                        tx.prepare_cached(
                            "INSERT INTO memory_samples (ts_ms, used, budget, level, rss, system_available, plugins)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        )?
                        .execute(params![
                            s.ts_ms as i64,
                            s.used as i64,
                            s.budget as i64,
                            s.level,
                            s.rss as i64,
                            s.system_available as i64,
                            s.plugins.to_string()
                        ])?;
                    }
                    Write::Alert(a) => {
                        tx.prepare_cached(
                            "INSERT INTO memory_alerts (ts_ms, from_level, to_level, used, budget) VALUES (?1, ?2, ?3, ?4, ?5)",
                        )?
                        .execute(params![a.ts_ms as i64, a.from_level, a.to_level, a.used as i64, a.budget as i64])?;
                    }
                    Write::Invocation(c) => invocations::insert(&tx, &c)?,
                    Write::Job(job) => jobs::save(&tx, &job)?,
                    Write::Plugin(change, ack) => {
                        plugins::apply(&tx, &change)?;
                        committed.push(ack);
                    }
                    Write::Flush(ack) => acks.push(ack),
                }
            }
            batches += 1;
            if batches % 64 == 0 {
                tx.execute(
                    "DELETE FROM memory_samples WHERE id <= (SELECT MAX(id) FROM memory_samples) - ?1",
                    params![retention as i64],
                )?;
                invocations::trim(&tx, invocation_retention)?;
            }
            tx.commit()
        })();
        if let Err(e) = &result {
            tracing::error!("database write failed: {e}");
        }
        for ack in committed {
            let _ = ack.send(result.as_ref().map(|_| ()).map_err(|e| e.to_string()));
        }
        for ack in acks {
            let _ = ack.send(());
        }
    }
}
