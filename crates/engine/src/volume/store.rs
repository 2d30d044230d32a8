//! Volume records in SQLite, in the engine's database beside the containers table.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use super::Volume;
use crate::error::{Error, Result};

/// The volumes table: one row per volume, the record as JSON. Short synchronous transactions.
pub(crate) struct VolumeStore {
    db: Mutex<Connection>,
}

impl VolumeStore {
    /// Opens (creating if needed) the table in the database at `path`.
    pub(crate) fn open(path: &Path) -> Result<VolumeStore> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        // Why: the containers connection may hold the write lock for a moment.
        db.busy_timeout(std::time::Duration::from_secs(5))?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS volumes (
                 name TEXT PRIMARY KEY,
                 record TEXT NOT NULL
             );",
        )?;
        Ok(VolumeStore { db: Mutex::new(db) })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.db
            .lock()
            .map_err(|_| Error::internal("volume store lock poisoned"))
    }

    /// Inserts a record; the caller checked the name is free.
    pub(crate) fn insert(&self, volume: &Volume) -> Result<()> {
        let record = serde_json::to_string(volume)
            .map_err(|e| Error::internal(format!("encode volume record: {e}")))?;
        self.conn()?.execute(
            "INSERT INTO volumes (name, record) VALUES (?1, ?2)",
            params![volume.name, record],
        )?;
        Ok(())
    }

    /// The record named `name`, if any.
    pub(crate) fn get(&self, name: &str) -> Result<Option<Volume>> {
        let text: Option<String> = self
            .conn()?
            .query_row("SELECT record FROM volumes WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?;
        text.map(|t| {
            serde_json::from_str(&t)
                .map_err(|e| Error::internal(format!("unreadable record of volume {name}: {e}")))
        })
        .transpose()
    }

    /// Deletes a record; deleting a missing one is not an error.
    pub(crate) fn delete(&self, name: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM volumes WHERE name = ?1", [name])?;
        Ok(())
    }

    /// Every record, oldest first.
    pub(crate) fn load_all(&self) -> Result<Vec<Volume>> {
        let db = self.conn()?;
        let mut stmt = db.prepare("SELECT record FROM volumes ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            match serde_json::from_str::<Volume>(&row?) {
                Ok(v) => out.push(v),
                Err(e) => tracing::error!(error = %e, "skipping unreadable volume record"),
            }
        }
        Ok(out)
    }
}
