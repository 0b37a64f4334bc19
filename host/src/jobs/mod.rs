//! Jobs: staged pipelines, e.g. extract a PDF's text, then caption it. Each
//! stage checks out an instance of its plugin at its start and gives it back
//! at its end (the ordinary call path), so a pipeline never pins memory
//! across stages; each stage's duration and instance memory are recorded in
//! `job_metrics`. A stage's arguments may use the previous stage's output:
//! the string `"$prev"` is its whole JSON result, `"$prev.text"` its text (a
//! string result, or every `text` field in it joined by newlines).

use crate::error::{Error, Result};
use crate::host::{millis, Host};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Instant, SystemTime};

/// Most stages in one job.
const MAX_STAGES: usize = 16;
/// Jobs running at once; more are refused with 429 until some finish.
const MAX_RUNNING: u64 = 64;
/// Finished jobs kept in memory (all are in SQLite when there is a data dir).
const KEEP_FINISHED: usize = 200;

/// One stage as submitted.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageSpec {
    pub plugin: String,
    pub export: String,
    #[serde(default)]
    pub args: Value,
}

/// Where a job or a stage is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Pending,
    Running,
    Succeeded,
    Failed,
    Skipped,
    Interrupted,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Pending => "pending",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Skipped => "skipped",
            JobState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> JobState {
        match s {
            "queued" => JobState::Queued,
            "pending" => JobState::Pending,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "skipped" => JobState::Skipped,
            _ => JobState::Interrupted,
        }
    }
}

/// One stage's outcome and cost.
#[derive(Debug, Clone, Serialize)]
pub struct StageReport {
    pub plugin: String,
    pub export: String,
    pub state: JobState,
    pub started_ms: Option<u64>,
    pub duration_ms: Option<u64>,
    /// Memory of the instance that ran the stage, measured by its limiter.
    pub memory_bytes: Option<u64>,
    pub error: Option<String>,
}

/// A job and its stages.
#[derive(Debug, Clone, Serialize)]
pub struct Job {
    pub id: u64,
    pub created_ms: u64,
    pub finished_ms: Option<u64>,
    pub state: JobState,
    pub stages: Vec<StageReport>,
    /// The last stage's output, once the job succeeded.
    pub result: Option<Value>,
    pub error: Option<String>,
}

/// Jobs of one host: ids and the ones in memory.
pub struct Jobs {
    last: AtomicU64,
    running: AtomicU64,
    live: Mutex<BTreeMap<u64, Job>>,
}

impl Jobs {
    /// New ids continue after `last` (the highest id stored).
    pub fn after(last: u64) -> Jobs {
        Jobs { last: AtomicU64::new(last), running: AtomicU64::new(0), live: Mutex::new(BTreeMap::new()) }
    }
}

impl Host {
    /// Queues a job and starts it in the background; returns it as queued.
    pub async fn submit_job(&self, stages: Vec<StageSpec>) -> Result<Job> {
        if stages.is_empty() || stages.len() > MAX_STAGES {
            return Err(Error::InvalidRequest(format!("a job has 1 to {MAX_STAGES} stages")));
        }
        for s in &stages {
            self.plugin(&s.plugin)?;
        }
        let running = &self.inner.jobs.running;
        if running.fetch_add(1, Ordering::SeqCst) >= MAX_RUNNING {
            running.fetch_sub(1, Ordering::SeqCst);
            return Err(Error::TooManyJobs(MAX_RUNNING));
        }
        let id = self.inner.jobs.last.fetch_add(1, Ordering::SeqCst) + 1;
        let job = Job {
            id,
            created_ms: millis(SystemTime::now()),
            finished_ms: None,
            state: JobState::Queued,
            stages: stages
                .iter()
                .map(|s| StageReport {
                    plugin: s.plugin.clone(),
                    export: s.export.clone(),
                    state: JobState::Pending,
                    started_ms: None,
                    duration_ms: None,
                    memory_bytes: None,
                    error: None,
                })
                .collect(),
            result: None,
            error: None,
        };
        self.update_job(job.clone());
        let host = self.clone();
        tokio::spawn(async move {
            // The slot is given back however the job ends, a panic included.
            struct Slot(Host);
            impl Drop for Slot {
                fn drop(&mut self) {
                    self.0.inner.jobs.running.fetch_sub(1, Ordering::SeqCst);
                }
            }
            let _slot = Slot(host.clone());
            host.run_job(id, stages).await;
        });
        Ok(job)
    }

    /// One job (running ones from memory, older ones from SQLite).
    pub fn job(&self, id: u64) -> Result<Job> {
        if let Some(job) = self.inner.jobs.live.lock().unwrap().get(&id) {
            return Ok(job.clone());
        }
        let stored = match &self.inner.db {
            Some(db) => db.job(id).map_err(|e| Error::Internal(e.to_string()))?,
            None => None,
        };
        stored.ok_or(Error::UnknownJob(id))
    }

    /// Jobs newest first; `before` (a job id) pages backwards.
    pub fn jobs(&self, before: Option<u64>, limit: u32) -> Result<Vec<Job>> {
        if let Some(db) = &self.inner.db {
            self.flush_history();
            return db.jobs(before, limit).map_err(|e| Error::Internal(e.to_string()));
        }
        let live = self.inner.jobs.live.lock().unwrap();
        Ok(live.values().rev().filter(|j| before.is_none_or(|b| j.id < b)).take(limit as usize).cloned().collect())
    }

    async fn run_job(&self, id: u64, stages: Vec<StageSpec>) {
        let mut job = match self.job(id) {
            Ok(job) => job,
            Err(_) => return,
        };
        job.state = JobState::Running;
        let mut previous = Value::Null;
        for (i, stage) in stages.iter().enumerate() {
            job.stages[i].state = JobState::Running;
            job.stages[i].started_ms = Some(millis(SystemTime::now()));
            self.update_job(job.clone());
            let started = Instant::now();
            let args = substitute(&stage.args, &previous);
            let outcome = crate::invoke::unpanicked(self.invoke_json_measured(&stage.plugin, &stage.export, &args)).await;
            let report = &mut job.stages[i];
            report.duration_ms = Some(started.elapsed().as_millis() as u64);
            match outcome {
                Ok((value, memory)) => {
                    report.state = JobState::Succeeded;
                    report.memory_bytes = Some(memory);
                    previous = value;
                }
                Err(e) => {
                    report.state = JobState::Failed;
                    report.error = Some(e.to_string());
                    job.error = Some(format!("stage {} ({} {}) failed: {e}", i + 1, stage.plugin, stage.export));
                    for later in &mut job.stages[i + 1..] {
                        later.state = JobState::Skipped;
                    }
                    break;
                }
            }
        }
        job.state = if job.error.is_some() { JobState::Failed } else { JobState::Succeeded };
        if job.error.is_none() {
            job.result = Some(previous);
        }
        job.finished_ms = Some(millis(SystemTime::now()));
        tracing::info!(job = id, state = job.state.as_str(), "job finished");
        self.update_job(job);
    }

    /// Keeps the job's latest state in memory and queues it for SQLite.
    fn update_job(&self, job: Job) {
        if let Some(db) = &self.inner.db {
            db.record_job(job.clone());
        }
        let mut live = self.inner.jobs.live.lock().unwrap();
        live.insert(job.id, job);
        let finished: Vec<u64> = live.values().filter(|j| j.finished_ms.is_some()).map(|j| j.id).collect();
        for id in finished.iter().take(finished.len().saturating_sub(KEEP_FINISHED)) {
            live.remove(id);
        }
    }
}

/// Replaces `"$prev"` and `"$prev.text"` strings in `args`.
fn substitute(args: &Value, previous: &Value) -> Value {
    match args {
        Value::String(s) if s == "$prev" => previous.clone(),
        Value::String(s) if s == "$prev.text" => Value::String(text_of(previous)),
        Value::Array(items) => Value::Array(items.iter().map(|v| substitute(v, previous)).collect()),
        Value::Object(map) => Value::Object(map.iter().map(|(k, v)| (k.clone(), substitute(v, previous))).collect()),
        other => other.clone(),
    }
}

/// A string result, or every `text` field in it, joined by newlines.
fn text_of(v: &Value) -> String {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("text", Value::String(s)) => out.push(s.clone()),
                        _ => walk(v, out),
                    }
                }
            }
            _ => {}
        }
    }
    if let Value::String(s) = v {
        return s.clone();
    }
    let mut parts = Vec::new();
    walk(v, &mut parts);
    parts.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn previous_output_is_substituted() {
        let pages = json!([{"page": 1, "text": "first"}, {"page": 2, "text": "second"}]);
        let args = json!({"request": {"description": "$prev.text", "n": 3}, "raw": ["$prev"]});
        let out = substitute(&args, &pages);
        assert_eq!(out["request"]["description"], "first\nsecond");
        assert_eq!(out["raw"][0], pages);
        assert_eq!(out["request"]["n"], 3);
        assert_eq!(text_of(&json!("plain")), "plain");
    }
}
