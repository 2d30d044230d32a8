//! SQLite schema and small query helpers. All functions take a connection or transaction held
//! under the image store's lock.

use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Error, Result};

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS images (
    id       TEXT PRIMARY KEY,              -- sha256:<hex> of the config blob
    created  TEXT NOT NULL,                 -- RFC 3339
    parent   TEXT NOT NULL DEFAULT '',
    comment  TEXT NOT NULL DEFAULT '',
    size     INTEGER NOT NULL               -- sum of unpacked layer sizes
);
CREATE TABLE IF NOT EXISTS layers (
    chain_id TEXT PRIMARY KEY,              -- sha256:<hex>
    diff_id  TEXT NOT NULL,
    parent   TEXT,                          -- chain id of the layer below, NULL for the base
    size     INTEGER NOT NULL,              -- bytes of regular files unpacked
    blob     TEXT                           -- digest of the blob it came from, if stored
);
CREATE TABLE IF NOT EXISTS image_layers (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,              -- 0 = base layer
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (image_id, idx)
);
CREATE INDEX IF NOT EXISTS image_layers_chain ON image_layers(chain_id);
CREATE TABLE IF NOT EXISTS tags (
    reference TEXT PRIMARY KEY,             -- canonical: docker.io/library/busybox:latest
    image_id  TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS tags_image ON tags(image_id);
CREATE TABLE IF NOT EXISTS digests (
    reference TEXT PRIMARY KEY,             -- canonical: docker.io/library/busybox@sha256:...
    image_id  TEXT NOT NULL REFERENCES images(id)
);
CREATE INDEX IF NOT EXISTS digests_image ON digests(image_id);
CREATE TABLE IF NOT EXISTS snapshots (
    key      TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,                 -- informational: the image may be deleted (rmi -f)
    kind     TEXT NOT NULL,                 -- overlay | vfs
    created  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshot_layers (
    key      TEXT NOT NULL REFERENCES snapshots(key) ON DELETE CASCADE,
    idx      INTEGER NOT NULL,
    chain_id TEXT NOT NULL REFERENCES layers(chain_id),
    PRIMARY KEY (key, idx)
);
CREATE INDEX IF NOT EXISTS snapshot_layers_chain ON snapshot_layers(chain_id);
-- registry: compressed blobs known for a layer (pulled, or compressed for a push)
CREATE TABLE IF NOT EXISTS layer_blobs (
    diff_id    TEXT NOT NULL,
    digest     TEXT NOT NULL,               -- the compressed (or plain) blob's digest
    media_type TEXT NOT NULL,
    size       INTEGER NOT NULL,
    PRIMARY KEY (diff_id, digest)
);
-- registry: the image manifest an image was pulled as / pushed as, per repository
CREATE TABLE IF NOT EXISTS image_manifests (
    image_id   TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    repository TEXT NOT NULL,               -- canonical: docker.io/library/busybox
    digest     TEXT NOT NULL,               -- image manifest digest (blob kept in the store)
    PRIMARY KEY (image_id, repository)
);
-- registry: repositories known to hold a blob (for cross-repository mounts on push)
CREATE TABLE IF NOT EXISTS blob_sources (
    digest     TEXT NOT NULL,
    repository TEXT NOT NULL,               -- canonical: registry/repo
    PRIMARY KEY (digest, repository)
);
"#;

pub(crate) fn open(path: &std::path::Path) -> Result<Connection> {
    let conn = Connection::open(path).map_err(Error::db("open"))?;
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(Error::db("set journal_mode"))?;
    conn.pragma_update(None, "synchronous", "FULL")
        .map_err(Error::db("set synchronous"))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(Error::db("set foreign_keys"))?;
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(Error::db("set busy_timeout"))?;
    conn.execute_batch(SCHEMA)
        .map_err(Error::db("create schema"))?;
    Ok(conn)
}

pub(crate) fn layer_exists(conn: &Connection, chain_id: &str) -> Result<bool> {
    conn.query_row(
        "SELECT 1 FROM layers WHERE chain_id = ?1",
        [chain_id],
        |_| Ok(()),
    )
    .optional()
    .map(|o| o.is_some())
    .map_err(Error::db("query layer"))
}

pub(crate) fn strings(conn: &Connection, sql: &str, arg: &str) -> Result<Vec<String>> {
    let mut stmt = conn.prepare_cached(sql).map_err(Error::db("prepare"))?;
    let rows = stmt
        .query_map([arg], |r| r.get::<_, String>(0))
        .map_err(Error::db("query"))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(Error::db("read rows"))
}

pub(crate) fn tags_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    strings(
        conn,
        "SELECT reference FROM tags WHERE image_id = ?1 ORDER BY reference",
        id,
    )
}

pub(crate) fn digests_of(conn: &Connection, id: &str) -> Result<Vec<String>> {
    strings(
        conn,
        "SELECT reference FROM digests WHERE image_id = ?1 ORDER BY reference",
        id,
    )
}

/// Chain ids of an image, base first.
pub(crate) fn image_chains(conn: &Connection, id: &str) -> Result<Vec<String>> {
    strings(
        conn,
        "SELECT chain_id FROM image_layers WHERE image_id = ?1 ORDER BY idx",
        id,
    )
}

/// Chain ids of a snapshot, base first.
pub(crate) fn snapshot_chains(conn: &Connection, key: &str) -> Result<Vec<String>> {
    strings(
        conn,
        "SELECT chain_id FROM snapshot_layers WHERE key = ?1 ORDER BY idx",
        key,
    )
}

/// A layer is in use while an image, a snapshot or a layer above it references it.
pub(crate) fn layer_in_use(conn: &Connection, chain_id: &str) -> Result<bool> {
    conn.query_row(
        "SELECT EXISTS(SELECT 1 FROM image_layers WHERE chain_id = ?1)
             OR EXISTS(SELECT 1 FROM snapshot_layers WHERE chain_id = ?1)
             OR EXISTS(SELECT 1 FROM layers WHERE parent = ?1)",
        params![chain_id],
        |r| r.get::<_, bool>(0),
    )
    .map_err(Error::db("query layer use"))
}
