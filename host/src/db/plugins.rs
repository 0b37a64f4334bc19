//! The `plugins` table: uploaded plugins (manifest text + the sha256 of their
//! content-addressed component), so the registry survives a restart. Writes
//! go through the writer thread and are acknowledged only once committed.

use super::{Db, DbError, Write};
use rusqlite::{params, Transaction};
use serde::Serialize;
use std::sync::mpsc;
use std::time::Duration;

pub(super) const MIGRATION: &str = "CREATE TABLE plugins (
        name TEXT PRIMARY KEY,
        version TEXT NOT NULL,
        kind TEXT NOT NULL,
        manifest TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        component_path TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
     );";

/// One registered upload.
#[derive(Debug, Clone, Serialize)]
pub struct PluginRow {
    pub name: String,
    pub version: String,
    pub kind: String,
    pub manifest: String,
    pub sha256: String,
    pub component_path: String,
    pub created_ms: u64,
    pub updated_ms: u64,
}

/// Every row of the table, by name.
pub(super) fn read_rows(conn: &rusqlite::Connection) -> rusqlite::Result<Vec<PluginRow>> {
    let mut stmt = conn.prepare_cached(
        "SELECT name, version, kind, manifest, sha256, component_path, created_ms, updated_ms FROM plugins ORDER BY name",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok(PluginRow {
            name: r.get(0)?,
            version: r.get(1)?,
            kind: r.get(2)?,
            manifest: r.get(3)?,
            sha256: r.get(4)?,
            component_path: r.get(5)?,
            created_ms: r.get::<_, i64>(6)? as u64,
            updated_ms: r.get::<_, i64>(7)? as u64,
        })
    })?;
    rows.collect()
}

/// A change to the table, applied by the writer thread.
pub(super) enum PluginChange {
    Upsert(PluginRow),
    Delete(String),
}

pub(super) fn apply(tx: &Transaction, change: &PluginChange) -> rusqlite::Result<()> {
    match change {
        PluginChange::Upsert(p) => {
            tx.prepare_cached(
                "INSERT INTO plugins (name, version, kind, manifest, sha256, component_path, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)
                 ON CONFLICT(name) DO UPDATE SET version = ?2, kind = ?3, manifest = ?4, sha256 = ?5,
                   component_path = ?6, updated_ms = ?7",
            )?
            .execute(params![p.name, p.version, p.kind, p.manifest, p.sha256, p.component_path, p.updated_ms as i64])?;
        }
        PluginChange::Delete(name) => {
            tx.execute("DELETE FROM plugins WHERE name = ?1", params![name])?;
        }
    }
    Ok(())
}

impl Db {
    /// Applies `change` and waits until it is committed.
    fn commit_plugin(&self, change: PluginChange) -> Result<(), DbError> {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(Write::Plugin(change, ack));
        match done.recv_timeout(Duration::from_secs(30)) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(message)) => Err(DbError { path: self.path.clone(), message }),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                Err(DbError { path: self.path.clone(), message: "the write failed and was rolled back (see the log)".into() })
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                Err(DbError { path: self.path.clone(), message: "the writer did not answer in 30 s".into() })
            }
        }
    }

    /// Records (or replaces) an uploaded plugin; returns once it is on disk.
    pub fn save_plugin(&self, row: PluginRow) -> Result<(), DbError> {
        self.commit_plugin(PluginChange::Upsert(row))
    }

    /// Forgets an uploaded plugin; returns once that is on disk.
    pub fn delete_plugin(&self, name: &str) -> Result<(), DbError> {
        self.commit_plugin(PluginChange::Delete(name.to_string()))
    }

    /// Every uploaded plugin, by name.
    pub fn plugins(&self) -> Result<Vec<PluginRow>, DbError> {
        let conn = self.reader.lock().unwrap();
        read_rows(&conn).map_err(|e| DbError { path: self.path.clone(), message: e.to_string() })
    }

    /// Whether another uploaded plugin still uses this component.
    pub fn component_in_use(&self, sha256: &str) -> Result<bool, DbError> {
        let conn = self.reader.lock().unwrap();
        conn.query_row("SELECT COUNT(*) FROM plugins WHERE sha256 = ?1", params![sha256], |r| r.get::<_, i64>(0))
            .map(|n| n > 0)
            .map_err(|e| DbError { path: self.path.clone(), message: e.to_string() })
    }
}
