//! Container records in SQLite (WAL, synchronous=FULL): one row per container, the record as JSON
//! beside the columns that need uniqueness or lookup.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};

use crate::container::model::Container;
use crate::error::{Error, Result};

/// The container table. All methods are short synchronous transactions.
pub struct ContainerStore {
    db: Mutex<Connection>,
}

impl ContainerStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<ContainerStore> {
        let db = Connection::open(path)?;
        // WAL keeps readers off the writer's back; FULL makes every committed state change
        // survive a power cut, which the restart logic relies on.
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS containers (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 record TEXT NOT NULL
             );",
        )?;
        Ok(ContainerStore { db: Mutex::new(db) })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.db
            .lock()
            .map_err(|_| Error::internal("container store lock poisoned"))
    }

    /// Inserts a new record; a taken name is a conflict with Docker's message.
    pub fn insert(&self, container: &Container) -> Result<()> {
        let record = encode(container)?;
        let db = self.conn()?;
        let existing: Option<String> = db
            .query_row(
                "SELECT id FROM containers WHERE name = ?1",
                [&container.name],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(id) = existing {
            return Err(Error::conflict(format!(
                "Conflict. The container name \"/{}\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.",
                container.name
            )));
        }
        db.execute(
            "INSERT INTO containers (id, name, record) VALUES (?1, ?2, ?3)",
            params![container.id, container.name, record],
        )?;
        Ok(())
    }

    /// Replaces a record (same ID). Renames go through here too; the name must be free.
    pub fn update(&self, container: &Container) -> Result<()> {
        let record = encode(container)?;
        let db = self.conn()?;
        db.execute(
            "UPDATE containers SET name = ?2, record = ?3 WHERE id = ?1",
            params![container.id, container.name, record],
        )?;
        Ok(())
    }

    /// Deletes a record; deleting a missing one is not an error.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM containers WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Every record, oldest first.
    pub fn load_all(&self) -> Result<Vec<Container>> {
        let db = self.conn()?;
        let mut stmt = db.prepare("SELECT record FROM containers ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            let text = row?;
            match serde_json::from_str::<Container>(&text) {
                Ok(c) => out.push(c),
                Err(e) => tracing::error!(error = %e, "skipping unreadable container record"),
            }
        }
        Ok(out)
    }
}

fn encode(container: &Container) -> Result<String> {
    serde_json::to_string(container)
        .map_err(|e| Error::internal(format!("encode container record: {e}")))
}
