//! Secrets at rest: provider credentials encrypted with XChaCha20-Poly1305 under the master key
//! (`LAYERR_MASTER_KEY`, 64 hex characters, or a key file created once in the data directory with
//! mode 0600). Events carry a secret's id and fingerprint only; plaintext lives in memory as
//! `SecretString` and never reaches a log, an event or a response.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use parking_lot::RwLock;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use sqlx::Row;

use layerr_domain::provider::CredentialRef;
use layerr_projections::{Db, DbError};

pub const MASTER_KEY_ENV: &str = "LAYERR_MASTER_KEY";

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// Decrypted secrets by id: filled when stored here or loaded from the table.
    cache: RwLock<HashMap<String, SecretString>>,
}

/// A short, non-reversible tag of a secret: shows a rotation without revealing anything.
pub fn fingerprint(plaintext: &str) -> String {
    hex::encode(&Sha256::digest(plaintext.as_bytes())[..6])
}

impl SecretBox {
    pub fn new(key: [u8; 32]) -> SecretBox {
        SecretBox { cipher: XChaCha20Poly1305::new(&key.into()), cache: RwLock::new(HashMap::new()) }
    }

    /// The master key from the environment, else from (or newly into) `data_dir/master.key`.
    pub fn load_or_create(env_value: Option<&str>, data_dir: &Path) -> anyhow::Result<SecretBox> {
        if let Some(v) = env_value {
            return Ok(SecretBox::new(parse_key(v).context("LAYERR_MASTER_KEY must be 64 hex characters")?));
        }
        let path = data_dir.join("master.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
            return Ok(SecretBox::new(
                parse_key(text.trim()).with_context(|| format!("{} is not a valid key", path.display()))?,
            ));
        }
        std::fs::create_dir_all(data_dir)?;
        let key: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        write_private(&path, &hex::encode(key))?;
        tracing::info!(path = %path.display(), "created a new master key for secrets at rest");
        Ok(SecretBox::new(key))
    }

    /// Encrypts and stores a secret; returns the reference events may carry.
    pub async fn store(&self, db: &Db, plaintext: &str, workspace: Option<&str>) -> Result<CredentialRef, DbError> {
        let id = format!("sec_{}", uuid::Uuid::now_v7().simple());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext =
            self.cipher.encrypt(&nonce, plaintext.as_bytes()).map_err(|_| DbError::Data("encryption failed".into()))?;
        let fp = fingerprint(plaintext);
        sqlx::query(
            "INSERT INTO secrets (id, workspace, nonce, ciphertext, fingerprint, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&id)
        .bind(workspace.map(str::to_string))
        .bind(hex::encode(nonce))
        .bind(hex::encode(ciphertext))
        .bind(&fp)
        .bind(chrono::Utc::now().timestamp_millis())
        .execute(&db.any)
        .await?;
        self.cache.write().insert(id.clone(), SecretString::from(plaintext.to_string()));
        Ok(CredentialRef { secret_id: id, fingerprint: fp })
    }

    /// Deletes secrets at rest and from this node's memory: those no provider references any
    /// more (a removed provider's, a rotated-away key). Other nodes drop theirs at restart; no
    /// live provider points at them meanwhile.
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

    /// Loads (and decrypts) any of `ids` not yet in memory.
    pub async fn ensure_loaded(&self, db: &Db, ids: &[String]) -> Result<(), DbError> {
        for id in ids {
            if self.cache.read().contains_key(id) {
                continue;
            }
            let row = sqlx::query("SELECT nonce, ciphertext FROM secrets WHERE id = $1")
                .bind(id)
                .fetch_optional(&db.any)
                .await?;
            let Some(row) = row else {
                tracing::warn!(secret = %id, "secret referenced by a provider is missing");
                continue;
            };
            let nonce: String = row.try_get("nonce")?;
            let ct: String = row.try_get("ciphertext")?;
            let plain = self.decrypt(&nonce, &ct).ok_or_else(|| {
                DbError::Data(format!(
                    "secret {id} does not decrypt with this master key (was LAYERR_MASTER_KEY changed?)"
                ))
            })?;
            self.cache.write().insert(id.clone(), plain);
        }
        Ok(())
    }

    fn decrypt(&self, nonce_hex: &str, ct_hex: &str) -> Option<SecretString> {
        let nonce = hex::decode(nonce_hex).ok()?;
        if nonce.len() != 24 {
            return None;
        }
        let ct = hex::decode(ct_hex).ok()?;
        let plain = self.cipher.decrypt(XNonce::from_slice(&nonce), ct.as_slice()).ok()?;
        String::from_utf8(plain).ok().map(SecretString::from)
    }

    pub fn expose(s: &SecretString) -> &str {
        s.expose_secret()
    }
}

fn parse_key(hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).context("not hex")?;
    bytes.try_into().map_err(|_| anyhow::anyhow!("the key must be 32 bytes"))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let b = SecretBox::new([7u8; 32]);
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = b.cipher.encrypt(&nonce, b"sk-live-123".as_ref()).unwrap();
        let (n, c) = (hex::encode(nonce), hex::encode(&ct));
        assert_eq!(b.decrypt(&n, &c).unwrap().expose_secret(), "sk-live-123");
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(b.decrypt(&n, &hex::encode(bad)).is_none());
        assert!(SecretBox::new([8u8; 32]).decrypt(&n, &c).is_none());
        assert_ne!(fingerprint("sk-live-123"), fingerprint("sk-live-124"));
        assert!(!fingerprint("sk-live-123").contains("sk-live"));
    }

    #[test]
    fn key_file_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        SecretBox::load_or_create(None, dir.path()).unwrap();
        let first = std::fs::read_to_string(dir.path().join("master.key")).unwrap();
        SecretBox::load_or_create(None, dir.path()).unwrap();
        assert_eq!(first, std::fs::read_to_string(dir.path().join("master.key")).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("master.key")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert!(SecretBox::load_or_create(Some("zz"), dir.path()).is_err());
    }
}
