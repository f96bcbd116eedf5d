//! Secrets at rest: provider keys and named secrets (`/api/admin/secrets`), each in a row of the
//! `secrets` table under envelope encryption (`keyring`: a data key per row, wrapped by a
//! versioned master key). Plaintext lives in memory only, as `SecretString`, loaded off the
//! request path (at start, by the feed follower, or by the command that stored it) and never
//! reaches a log, an event or a response; events carry ids, fingerprints and master key ids.
//!
//! A named secret's current value is found through a pointer (secret id -> row), moved when the
//! in-memory state shows a rotation: the next request after it uses the new value, a request
//! already under way keeps the one it read, and none finds no value.

pub mod keyring;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use layerr_domain::provider::CredentialRef;
use layerr_projections::{Db, DbError};

use crate::state::SecretPointer;
pub use keyring::{KeySource, Keyring, MASTER_KEY_ENV, PREVIOUS_KEYS_ENV};
use keyring::{SealedRow, StoredRow};

pub struct SecretBox {
    keyring: RwLock<Arc<Keyring>>,
    /// Decrypted values by row id: filled when stored here or loaded from the table.
    cache: RwLock<HashMap<String, SecretString>>,
    /// Named secret id -> (version, the row of its value; `None` once deleted).
    named: RwLock<HashMap<String, (u32, Option<String>)>>,
    /// The last master key [`SecretBox::follow_master`] was asked for, and whether it is held.
    followed: RwLock<Option<(String, bool)>>,
    /// One master-key rotation at a time on this node.
    rotation: tokio::sync::Mutex<()>,
}

/// A short, non-reversible tag of a secret: shows a rotation without revealing anything.
pub fn fingerprint(plaintext: &str) -> String {
    hex::encode(&Sha256::digest(plaintext.as_bytes())[..6])
}

/// A value stored for a named secret: where, and under which master key.
pub struct Stored {
    pub storage_id: String,
    pub fingerprint: String,
    pub master_key_id: String,
}

/// What a master-key rotation did.
#[derive(Debug, Clone)]
pub struct Rewrapped {
    /// The master keys rows were wrapped by before (`legacy` for rows from before envelopes).
    pub from: Vec<String>,
    pub to: String,
    /// Rows moved to `to`.
    pub rows: Vec<String>,
    /// Rows no key of the ring opens (left as they are, reported).
    pub unreadable: Vec<String>,
    /// A new key was generated (key file) rather than the current one reused (environment).
    pub generated: bool,
}

fn new_row_id() -> String {
    format!("sec_{}", uuid::Uuid::now_v7().simple())
}

fn enc_failed() -> DbError {
    DbError::Data("encryption failed".into())
}

impl SecretBox {
    pub fn new(keyring: Keyring) -> SecretBox {
        SecretBox {
            keyring: RwLock::new(Arc::new(keyring)),
            cache: RwLock::new(HashMap::new()),
            named: RwLock::new(HashMap::new()),
            followed: RwLock::new(None),
            rotation: tokio::sync::Mutex::new(()),
        }
    }

    /// The master keys from the environment, else from (or newly into) `data_dir/master.key`.
    pub fn load(current: Option<&str>, previous: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretBox> {
        Ok(SecretBox::new(Keyring::load(current, previous, data_dir)?))
    }

    fn ring(&self) -> Arc<Keyring> {
        self.keyring.read().clone()
    }

    pub fn current_key_id(&self) -> String {
        self.ring().current_id().to_string()
    }

    pub fn key_ids(&self) -> Vec<String> {
        self.ring().ids()
    }

    pub fn key_source(&self) -> &'static str {
        self.ring().source.as_str()
    }

    async fn insert_row(&self, db: &Db, id: &str, plaintext: &str, workspace: Option<&str>) -> Result<String, DbError> {
        let ring = self.ring();
        let s = ring.seal(id, plaintext.as_bytes()).ok_or_else(enc_failed)?;
        sqlx::query(
            "INSERT INTO secrets (id, workspace, nonce, ciphertext, fingerprint, created_at_ms, key_id, wrap_nonce, \
             wrapped_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(id)
        .bind(workspace.map(str::to_string))
        .bind(&s.nonce)
        .bind(&s.ciphertext)
        .bind(fingerprint(plaintext))
        .bind(chrono::Utc::now().timestamp_millis())
        .bind(&s.key_id)
        .bind(&s.wrap_nonce)
        .bind(&s.wrapped_key)
        .execute(&db.any)
        .await?;
        self.cache.write().insert(id.to_string(), SecretString::from(plaintext.to_string()));
        Ok(s.key_id)
    }

    /// Encrypts and stores a provider's own key; returns the reference events may carry.
    pub async fn store(&self, db: &Db, plaintext: &str, workspace: Option<&str>) -> Result<CredentialRef, DbError> {
        let id = new_row_id();
        self.insert_row(db, &id, plaintext, workspace).await?;
        Ok(CredentialRef { secret_id: id, fingerprint: fingerprint(plaintext), named: false })
    }

    /// Encrypts and stores a value of a named secret (installation-level: no workspace). The
    /// pointer moves when the in-memory state shows the event ([`SecretBox::sync_named`]).
    pub async fn store_named(&self, db: &Db, plaintext: &str) -> Result<Stored, DbError> {
        let storage_id = new_row_id();
        let master_key_id = self.insert_row(db, &storage_id, plaintext, None).await?;
        Ok(Stored { storage_id, fingerprint: fingerprint(plaintext), master_key_id })
    }

    /// Deletes secrets at rest and from this node's memory: those nothing references any more (a
    /// removed provider's, a rotated-away key or value). Other nodes drop theirs at restart, or
    /// (named secrets' values) when they follow the rotation; nothing points at them meanwhile.
    pub async fn delete(&self, db: &Db, ids: &[String]) -> Result<(), DbError> {
        for id in ids {
            sqlx::query("DELETE FROM secrets WHERE id = $1").bind(id).execute(&db.any).await?;
            self.cache.write().remove(id);
        }
        Ok(())
    }

    /// Deletes the secrets stored for `workspace` before `before_ms` (its deletion, or the sweep
    /// when the slug is created again): its providers' keys and any rotated away. Returns how many.
    pub async fn delete_workspace(&self, db: &Db, workspace: &str, before_ms: i64) -> Result<usize, DbError> {
        let rows = sqlx::query("SELECT id FROM secrets WHERE workspace = $1 AND created_at_ms < $2")
            .bind(workspace)
            .bind(before_ms)
            .fetch_all(&db.any)
            .await?;
        let ids: Vec<String> = rows.iter().map(|r| r.try_get("id")).collect::<Result<_, _>>()?;
        self.delete(db, &ids).await?;
        Ok(ids.len())
    }

    /// From memory only: the request path never reads SQL.
    pub fn get(&self, id: &str) -> Option<SecretString> {
        self.cache.read().get(id).cloned()
    }

    /// A provider's credential, from memory: its own key, or a named secret's current value.
    pub fn resolve(&self, c: &CredentialRef) -> Option<SecretString> {
        if !c.named {
            return self.get(&c.secret_id);
        }
        let row = self.named.read().get(&c.secret_id).and_then(|(_, r)| r.clone())?;
        self.get(&row)
    }

    async fn read_row(db: &Db, id: &str) -> Result<Option<StoredRow>, DbError> {
        let row =
            sqlx::query("SELECT id, nonce, ciphertext, key_id, wrap_nonce, wrapped_key FROM secrets WHERE id = $1")
                .bind(id)
                .fetch_optional(&db.any)
                .await?;
        row.map(|r| stored_row(&r)).transpose()
    }

    /// Loads (and decrypts) any of `ids` not yet in memory.
    pub async fn ensure_loaded(&self, db: &Db, ids: &[String]) -> Result<(), DbError> {
        for id in ids {
            if self.cache.read().contains_key(id) {
                continue;
            }
            let Some(row) = Self::read_row(db, id).await? else {
                tracing::warn!(secret = %id, "a referenced secret is missing at rest");
                continue;
            };
            let plain = self.ring().open(&row).ok_or_else(|| {
                DbError::Data(format!(
                    "secret {id} does not open with any master key held here (is the key that wraps it missing \
                     from LAYERR_MASTER_KEY / LAYERR_MASTER_KEY_PREVIOUS or the key file?)"
                ))
            })?;
            let text =
                String::from_utf8(plain.to_vec()).map_err(|_| DbError::Data(format!("secret {id} is not text")))?;
            self.cache.write().insert(id.clone(), SecretString::from(text));
        }
        Ok(())
    }

    /// Points each named secret at the row of its current value (from the in-memory state),
    /// loading rows not yet held; a deleted secret's pointer goes. A pointer only moves to a
    /// higher version (or the same version's deletion), so a caller holding an older copy of the
    /// list (the feed follower, racing a rotation's own command) never moves it back. A row is
    /// loaded before the pointer moves, so a lookup always finds a value.
    pub async fn sync_named(&self, db: &Db, current: &[SecretPointer]) -> Result<(), DbError> {
        let mut first_error = None;
        for p in current {
            let held = self.named.read().get(&p.id).cloned();
            if held.as_ref().is_some_and(|(v, r)| *v > p.version || (*v == p.version && r.as_ref() == p.row.as_ref())) {
                continue;
            }
            if let Some(row) = &p.row {
                if let Err(e) = self.ensure_loaded(db, std::slice::from_ref(row)).await {
                    first_error.get_or_insert(e);
                    continue;
                }
                if !self.cache.read().contains_key(row) {
                    continue;
                }
            }
            let replaced = {
                let mut named = self.named.write();
                match named.get(&p.id) {
                    Some((v, _)) if *v > p.version => None,
                    _ => named.insert(p.id.clone(), (p.version, p.row.clone())),
                }
            };
            if let Some((_, Some(old))) = replaced.filter(|(_, r)| r.as_ref() != p.row.as_ref()) {
                self.cache.write().remove(&old);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Follows another node's master-key rotation: the key file read again when `wanted` is not
    /// the current key here. Returns whether `wanted` is now held.
    /// Asked again for the same key, it answers from memory (the feed follower asks each round).
    pub fn follow_master(&self, wanted: &str) -> anyhow::Result<bool> {
        if let Some((id, held)) = self.followed.read().as_ref() {
            if id == wanted {
                return Ok(*held);
            }
        }
        let ring = self.ring();
        let mut held = ring.has(wanted);
        if ring.current_id() != wanted {
            if let Some(fresh) = ring.reload()? {
                if fresh.has(wanted) {
                    *self.keyring.write() = Arc::new(fresh);
                    held = true;
                }
            }
        }
        *self.followed.write() = Some((wanted.to_string(), held));
        Ok(held)
    }

    /// A master-key rotation: with the key file, a new key is generated and put first; with keys
    /// from the environment, the current one stays. Then every row whose data key another key
    /// wraps is re-wrapped by the current key (rows from before envelopes are sealed afresh), one
    /// row per statement: a reader meanwhile finds either wrap, and both open, since the old key
    /// stays in the ring. Values in memory do not change.
    pub async fn rotate_master(&self, db: &Db) -> anyhow::Result<Rewrapped> {
        let _one = self.rotation.lock().await;
        let generated = match self.ring().with_new_key()? {
            Some(fresh) => {
                *self.keyring.write() = Arc::new(fresh);
                true
            }
            None => false,
        };
        let ring = self.ring();
        let to = ring.current_id().to_string();
        *self.followed.write() = Some((to.clone(), true));
        let ids = sqlx::query("SELECT id FROM secrets WHERE key_id IS NULL OR key_id <> $1 ORDER BY id")
            .bind(&to)
            .fetch_all(&db.any)
            .await?;
        let mut done =
            Rewrapped { from: Vec::new(), to: to.clone(), rows: Vec::new(), unreadable: Vec::new(), generated };
        for r in ids {
            let id: String = r.try_get("id")?;
            let Some(row) = Self::read_row(db, &id).await? else { continue };
            let Some(s) = ring.rewrap(&row) else {
                tracing::error!(secret = %id, "a stored secret opens with no master key held here; left as it is");
                done.unreadable.push(id);
                continue;
            };
            let from = row.key_id.clone().unwrap_or_else(|| "legacy".into());
            if write_rewrap(db, &row, &s).await? {
                if !done.from.contains(&from) {
                    done.from.push(from);
                }
                done.rows.push(id);
            }
        }
        Ok(done)
    }

    pub fn expose(s: &SecretString) -> &str {
        s.expose_secret()
    }
}

fn stored_row(r: &sqlx::any::AnyRow) -> Result<StoredRow, DbError> {
    Ok(StoredRow {
        id: r.try_get("id")?,
        nonce: r.try_get("nonce")?,
        ciphertext: r.try_get("ciphertext")?,
        key_id: r.try_get("key_id")?,
        wrap_nonce: r.try_get("wrap_nonce")?,
        wrapped_key: r.try_get("wrapped_key")?,
    })
}

/// Replaces a row's envelope if the row is still as it was read (another node's rotation may
/// have moved it first). Returns whether it was written.
async fn write_rewrap(db: &Db, old: &StoredRow, s: &SealedRow) -> Result<bool, DbError> {
    let done = sqlx::query(
        "UPDATE secrets SET nonce = $2, ciphertext = $3, key_id = $4, wrap_nonce = $5, wrapped_key = $6 \
         WHERE id = $1 AND ciphertext = $7",
    )
    .bind(&old.id)
    .bind(&s.nonce)
    .bind(&s.ciphertext)
    .bind(&s.key_id)
    .bind(&s.wrap_nonce)
    .bind(&s.wrapped_key)
    .bind(&old.ciphertext)
    .execute(&db.any)
    .await?;
    Ok(done.rows_affected() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ptr(id: &str, version: u32, row: Option<&str>) -> SecretPointer {
        SecretPointer { id: id.into(), version, row: row.map(str::to_string) }
    }

    fn named(b: &SecretBox, c: &str) -> Option<String> {
        let r = CredentialRef { secret_id: c.into(), fingerprint: String::new(), named: true };
        b.resolve(&r).map(|v| v.expose_secret().to_string())
    }

    /// A stale copy of the pointers (the feed follower's, racing a rotation's own command) never
    /// moves a pointer back, and a list without a secret leaves it alone; its deletion removes it.
    #[tokio::test]
    async fn named_pointers_only_move_forward() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.path().join("t.db").display())).await.unwrap();
        db.migrate().await.unwrap();
        let b = SecretBox::load(None, None, dir.path()).unwrap();
        let v1 = b.store_named(&db, "value-one").await.unwrap();
        let v2 = b.store_named(&db, "value-two").await.unwrap();
        b.sync_named(&db, &[ptr("k", 1, Some(&v1.storage_id))]).await.unwrap();
        assert_eq!(named(&b, "k").as_deref(), Some("value-one"));
        b.sync_named(&db, &[ptr("k", 2, Some(&v2.storage_id))]).await.unwrap();
        assert_eq!(named(&b, "k").as_deref(), Some("value-two"));
        assert!(b.get(&v1.storage_id).is_none(), "the replaced value leaves memory");
        b.sync_named(&db, &[ptr("k", 1, Some(&v1.storage_id))]).await.unwrap();
        assert_eq!(named(&b, "k").as_deref(), Some("value-two"), "a stale list does not move it back");
        b.sync_named(&db, &[]).await.unwrap();
        assert_eq!(named(&b, "k").as_deref(), Some("value-two"));
        b.sync_named(&db, &[ptr("k", 2, None)]).await.unwrap();
        assert_eq!(named(&b, "k"), None, "deleted");
        // Another node's box loads the row from the table (and opens it with the same key file).
        let other = SecretBox::load(None, None, dir.path()).unwrap();
        other.sync_named(&db, &[ptr("k", 2, Some(&v2.storage_id))]).await.unwrap();
        assert_eq!(named(&other, "k").as_deref(), Some("value-two"));
    }

    #[test]
    fn fingerprints_differ_and_reveal_nothing() {
        assert_ne!(fingerprint("sk-live-123"), fingerprint("sk-live-124"));
        assert!(!fingerprint("sk-live-123").contains("sk-live"));
        assert_eq!(fingerprint("x").len(), 12);
    }
}
