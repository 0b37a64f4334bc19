//! The `invocations` table: one row per call, written in batches by the
//! writer thread, read newest first a page at a time.

use super::{Db, DbError};
use crate::observe::{Call, CallPage};
use rusqlite::{params, Transaction};

pub(super) const MIGRATION: &str = "CREATE TABLE invocations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        ts_ms INTEGER NOT NULL,
        plugin TEXT NOT NULL,
        export TEXT NOT NULL,
        duration_us INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        message TEXT,
        reused INTEGER NOT NULL
     );
     CREATE INDEX invocations_plugin ON invocations(plugin, id);";

pub(super) fn insert(tx: &Transaction, c: &Call) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO invocations (ts_ms, plugin, export, duration_us, outcome, message, reused)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![c.ts_ms as i64, c.plugin, c.export, c.duration_us as i64, c.outcome, c.message, c.reused])?;
    Ok(())
}

/// Keeps the newest `retention` rows.
pub(super) fn trim(tx: &Transaction, retention: u64) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM invocations WHERE id <= (SELECT MAX(id) FROM invocations) - ?1", params![retention as i64])?;
    Ok(())
}

impl Db {
    /// Page `page` (1-based) of `page_size` calls, newest first, of one plugin or all.
    pub fn invocations(&self, plugin: Option<&str>, page: u32, page_size: u32) -> Result<CallPage, DbError> {
        let conn = self.reader.lock().unwrap();
        let err = |e: rusqlite::Error| DbError { path: self.path.clone(), message: e.to_string() };
        let total: i64 = conn
            .prepare_cached("SELECT COUNT(*) FROM invocations WHERE ?1 IS NULL OR plugin = ?1")
            .and_then(|mut s| s.query_row(params![plugin], |r| r.get(0)))
            .map_err(err)?;
        let offset = (page.max(1) as i64 - 1) * page_size as i64;
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, ts_ms, plugin, export, duration_us, outcome, message, reused FROM invocations
                 WHERE ?1 IS NULL OR plugin = ?1 ORDER BY id DESC LIMIT ?2 OFFSET ?3",
            )
            .map_err(err)?;
        let rows = stmt
            .query_map(params![plugin, page_size, offset], |r| {
                Ok(Call {
                    id: r.get(0)?,
                    ts_ms: r.get::<_, i64>(1)? as u64,
                    plugin: r.get(2)?,
                    export: r.get(3)?,
                    duration_us: r.get::<_, i64>(4)? as u64,
                    outcome: r.get(5)?,
                    message: r.get(6)?,
                    reused: r.get(7)?,
                })
            })
            .map_err(err)?;
        let invocations: Vec<Call> = rows.collect::<Result<_, _>>().map_err(err)?;
        let has_next = offset + (invocations.len() as i64) < total;
        Ok(CallPage { invocations, page: page.max(1), page_size, total: total as u64, has_next })
    }
}
