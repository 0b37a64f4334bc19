//! A damaged database file at start. The host must come up rather than
//! crash-loop under its supervisor: the damaged file is moved aside (kept for
//! inspection), a fresh one takes its place, and the uploaded plugins' rows
//! are carried over whenever they can still be read.

use super::plugins::{self, PluginRow};
use super::DbError;
use rusqlite::{params, Connection, ErrorCode, OpenFlags};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// What happened to a damaged database at start.
#[derive(Debug, Clone, Serialize)]
pub struct Recovery {
    /// Where the damaged file now is.
    pub damaged: PathBuf,
    /// What SQLite said was wrong.
    pub reason: String,
    /// Uploaded plugins carried over, or `None` when their table was unreadable.
    pub plugins_salvaged: Option<usize>,
}

/// Why a database could not be opened.
pub(super) enum Failure {
    /// Not a database, or corrupt: recoverable by starting afresh.
    Damaged(String),
    /// Anything else (permissions, a full disk): the operator must act.
    Other(rusqlite::Error),
}

impl From<rusqlite::Error> for Failure {
    // SQLITE_NOTADB and SQLITE_CORRUPT mean the file, not the machine, is at fault.
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => Failure::Damaged(e.to_string()),
            _ => Failure::Other(e),
        }
    }
}

/// `PRAGMA quick_check`: a scan of every page, cheap enough for each start.
pub(super) fn check(conn: &Connection) -> Result<(), Failure> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)")?;
    let rows: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
    if rows == ["ok"] {
        Ok(())
    } else {
        Err(Failure::Damaged(format!("integrity check failed: {}", rows.join("; "))))
    }
}

/// Reads what can be saved, then moves `path` (and its WAL files) aside.
pub(super) fn quarantine(path: &Path, reason: String) -> Result<(Recovery, Vec<PluginRow>), DbError> {
    // Read-only first, so the kept copy stays as it was found.
    let salvaged = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .or_else(|_| Connection::open(path))
        .and_then(|c| plugins::read_rows(&c))
        .ok();
    let stamp = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    // Never over an earlier damaged file (two starts within one second).
    let damaged = (0..)
        .map(|n| path.with_file_name(if n == 0 { format!("{name}.damaged-{stamp}") } else { format!("{name}.damaged-{stamp}-{n}") }))
        .find(|p| !p.exists() && !PathBuf::from(format!("{}.components", p.display())).exists())
        .expect("an unused name");
    // The main file last: if a rename fails, the next start still finds it damaged.
    for suffix in ["-wal", "-shm", ""] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", damaged.display()));
            std::fs::rename(&from, &to).map_err(|e| DbError {
                path: path.to_path_buf(),
                message: format!("damaged ({reason}) and cannot be moved aside to {}: {e}", to.display()),
            })?;
        }
    }
    let plugins_salvaged = salvaged.as_ref().map(Vec::len);
    Ok((Recovery { damaged, reason, plugins_salvaged }, salvaged.unwrap_or_default()))
}

/// Writes the salvaged upload rows, as they were, into the fresh database.
pub(super) fn restore(conn: &mut Connection, rows: Vec<PluginRow>) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for p in rows {
        tx.execute(
            "INSERT INTO plugins (name, version, kind, manifest, sha256, component_path, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![p.name, p.version, p.kind, p.manifest, p.sha256, p.component_path, p.created_ms as i64, p.updated_ms as i64],
        )?;
    }
    tx.commit()
}
