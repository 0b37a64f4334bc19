//! `jobs` and `job_metrics`: staged pipelines and what each stage cost.
//! Rows are written by the writer thread as stages finish; a job still
//! running when the host stopped is marked `interrupted` at the next start.

use super::{Db, DbError};
use crate::jobs::{Job, JobState, StageReport};
use rusqlite::{params, Connection, Transaction};

pub(super) const MIGRATION: &str = "CREATE TABLE jobs (
        id INTEGER PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        finished_ms INTEGER,
        state TEXT NOT NULL,
        result TEXT,
        error TEXT
     );
     CREATE TABLE job_metrics (
        job_id INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
        stage INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        export TEXT NOT NULL,
        state TEXT NOT NULL,
        started_ms INTEGER,
        duration_ms INTEGER,
        memory_bytes INTEGER,
        error TEXT,
        PRIMARY KEY (job_id, stage)
     );";

/// Writes the whole job (its row and every stage's metrics row).
pub(super) fn save(tx: &Transaction, job: &Job) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO jobs (id, created_ms, finished_ms, state, result, error) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(id) DO UPDATE SET finished_ms = ?3, state = ?4, result = ?5, error = ?6",
    )?
    .execute(params![
        job.id as i64,
        job.created_ms as i64,
        job.finished_ms.map(|t| t as i64),
        job.state.as_str(),
        job.result.as_ref().map(|r| r.to_string()),
        job.error
    ])?;
    for (i, s) in job.stages.iter().enumerate() {
        tx.prepare_cached(
            "INSERT INTO job_metrics (job_id, stage, plugin, export, state, started_ms, duration_ms, memory_bytes, error)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT(job_id, stage) DO UPDATE SET state = ?5, started_ms = ?6, duration_ms = ?7, memory_bytes = ?8, error = ?9",
        )?
        .execute(params![
            job.id as i64,
            i as i64,
            s.plugin,
            s.export,
            s.state.as_str(),
            s.started_ms.map(|t| t as i64),
            s.duration_ms.map(|t| t as i64),
            s.memory_bytes.map(|t| t as i64),
            s.error
        ])?;
    }
    Ok(())
}

/// Marks jobs left running by a previous process (called at open).
pub(super) fn interrupt_unfinished(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE job_metrics SET state = 'interrupted' WHERE state IN ('pending', 'running')
           AND job_id IN (SELECT id FROM jobs WHERE state IN ('queued', 'running'))",
        [],
    )?;
    conn.execute("UPDATE jobs SET state = 'interrupted', error = 'the host stopped while the job ran' WHERE state IN ('queued', 'running')", [])
}

impl Db {
    /// The highest job id stored (new ids continue after it).
    pub fn last_job_id(&self) -> Result<u64, DbError> {
        let conn = self.reader.lock().unwrap();
        conn.query_row("SELECT COALESCE(MAX(id), 0) FROM jobs", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| DbError { path: self.path.clone(), message: e.to_string() })
    }

    /// One job with its stages.
    pub fn job(&self, id: u64) -> Result<Option<Job>, DbError> {
        Ok(self.jobs_where("WHERE id = ?1", params![id as i64])?.pop())
    }

    /// Jobs newest first, `limit` of them, with ids below `before`.
    pub fn jobs(&self, before: Option<u64>, limit: u32) -> Result<Vec<Job>, DbError> {
        self.jobs_where("WHERE id < ?1 ORDER BY id DESC LIMIT ?2", params![before.unwrap_or(i64::MAX as u64) as i64, limit])
    }

    fn jobs_where(&self, clause: &str, args: impl rusqlite::Params) -> Result<Vec<Job>, DbError> {
        let conn = self.reader.lock().unwrap();
        let err = |e: rusqlite::Error| DbError { path: self.path.clone(), message: e.to_string() };
        let mut stmt = conn
            .prepare(&format!("SELECT id, created_ms, finished_ms, state, result, error FROM jobs {clause}"))
            .map_err(err)?;
        let mut jobs: Vec<Job> = stmt
            .query_map(args, |r| {
                let result: Option<String> = r.get(4)?;
                Ok(Job {
                    id: r.get::<_, i64>(0)? as u64,
                    created_ms: r.get::<_, i64>(1)? as u64,
                    finished_ms: r.get::<_, Option<i64>>(2)?.map(|t| t as u64),
                    state: JobState::parse(&r.get::<_, String>(3)?),
                    result: result.and_then(|t| serde_json::from_str(&t).ok()),
                    error: r.get(5)?,
                    stages: Vec::new(),
                })
            })
            .map_err(err)?
            .collect::<Result<_, _>>()
            .map_err(err)?;
        let mut stages = conn
            .prepare_cached(
                "SELECT plugin, export, state, started_ms, duration_ms, memory_bytes, error FROM job_metrics
                 WHERE job_id = ?1 ORDER BY stage",
            )
            .map_err(err)?;
        for job in &mut jobs {
            job.stages = stages
                .query_map(params![job.id as i64], |r| {
                    Ok(StageReport {
                        plugin: r.get(0)?,
                        export: r.get(1)?,
                        state: JobState::parse(&r.get::<_, String>(2)?),
                        started_ms: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
                        duration_ms: r.get::<_, Option<i64>>(4)?.map(|t| t as u64),
                        memory_bytes: r.get::<_, Option<i64>>(5)?.map(|t| t as u64),
                        error: r.get(6)?,
                    })
                })
                .map_err(err)?
                .collect::<Result<_, _>>()
                .map_err(err)?;
        }
        Ok(jobs)
    }
}
