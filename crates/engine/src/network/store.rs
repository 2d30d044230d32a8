//! Network records in SQLite (the engine's database): one row per network, the record as
//! JSON beside the unique name.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use crate::error::{Error, Result};
use crate::network::model::Network;

/// The network table. All methods are short synchronous transactions.
pub(crate) struct NetworkStore {
    db: Mutex<Connection>,
}

impl NetworkStore {
    /// Opens (creating if needed) the `networks` table in the database at `path`.
    pub fn open(path: &Path) -> Result<NetworkStore> {
        let db = Connection::open(path)?;
        db.pragma_update(None, "journal_mode", "WAL")?;
        db.pragma_update(None, "synchronous", "FULL")?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS networks (
                 id TEXT PRIMARY KEY,
                 name TEXT NOT NULL UNIQUE,
                 record TEXT NOT NULL
             );",
        )?;
        Ok(NetworkStore { db: Mutex::new(db) })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.db
            .lock()
            .map_err(|_| Error::internal("network store lock poisoned"))
    }

    /// Inserts a new record (the caller checked the name).
    pub fn insert(&self, network: &Network) -> Result<()> {
        let record = serde_json::to_string(network)
            .map_err(|e| Error::internal(format!("encode network record: {e}")))?;
        self.conn()?.execute(
            "INSERT INTO networks (id, name, record) VALUES (?1, ?2, ?3)",
            params![network.id, network.name, record],
        )?;
        Ok(())
    }

    /// Deletes a record; deleting a missing one is not an error.
    pub fn delete(&self, id: &str) -> Result<()> {
        self.conn()?
            .execute("DELETE FROM networks WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Every record, oldest first.
    pub fn load_all(&self) -> Result<Vec<Network>> {
        let db = self.conn()?;
        let mut stmt = db.prepare("SELECT record FROM networks ORDER BY rowid")?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for row in rows {
            match serde_json::from_str::<Network>(&row?) {
                Ok(n) => out.push(n),
                Err(e) => tracing::error!(error = %e, "skipping unreadable network record"),
            }
        }
        Ok(out)
    }
}
