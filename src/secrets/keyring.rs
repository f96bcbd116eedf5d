//! The versioned master keys and the envelope: each stored secret has its own random data key,
//! which encrypts the value; the data key is wrapped (encrypted) by a master key. A master key is
//! named by its id (`mk-` and 16 hex digits of a domain-separated SHA-256 of the key), which rows
//! and events record; the key itself stays in this module, in memory only.
//!
//! Where the keys come from, current first:
//! - `LAYERR_MASTER_KEY` (64 hex characters) and `LAYERR_MASTER_KEY_PREVIOUS` (older keys, comma
//!   separated), fixed for the life of the process; or
//! - the key file `data_dir/master.key` (mode 0600): one key per line, the current one first, then
//!   older ones; blank lines and `#` comments are ignored. Created on first start. A master-key
//!   rotation writes a new key at its top (atomically, by rename) and re-reads it; other nodes
//!   re-read it when they see the rotation's event.
//!
//! Ciphertexts are bound to their row (associated data: the row id, and the master key id for a
//! wrap), so a row's ciphertext copied onto another row does not open.

use std::path::{Path, PathBuf};

use anyhow::Context;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretBox as Sealed};
use sha2::{Digest, Sha256};

pub const MASTER_KEY_ENV: &str = "LAYERR_MASTER_KEY";
pub const PREVIOUS_KEYS_ENV: &str = "LAYERR_MASTER_KEY_PREVIOUS";
pub const KEY_FILE: &str = "master.key";

/// Where the master keys come from (what a rotation can change).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `LAYERR_MASTER_KEY` (+ `_PREVIOUS`): a rotation re-wraps onto the current key only.
    Environment,
    /// The key file: a rotation adds a new key at its top.
    File(PathBuf),
}

impl KeySource {
    pub fn as_str(&self) -> &'static str {
        match self {
            KeySource::Environment => "environment",
            KeySource::File(_) => "file",
        }
    }
}

struct MasterKey {
    id: String,
    key: Sealed<[u8; 32]>,
}

/// The master keys, current first.
pub struct Keyring {
    keys: Vec<MasterKey>,
    pub source: KeySource,
}

/// A value sealed for one row: the value under its data key, the data key under a master key.
pub struct SealedRow {
    pub nonce: String,
    pub ciphertext: String,
    pub key_id: String,
    pub wrap_nonce: String,
    pub wrapped_key: String,
}

/// What a row of the `secrets` table holds. `key_id: None`: written before envelopes, the value
/// encrypted directly under a master key (whichever of the ring opens it).
pub struct StoredRow {
    pub id: String,
    pub nonce: String,
    pub ciphertext: String,
    pub key_id: Option<String>,
    pub wrap_nonce: Option<String>,
    pub wrapped_key: Option<String>,
}

pub fn key_id(key: &[u8; 32]) -> String {
    let mut h = Sha256::new();
    h.update(b"layerr master key id v1\0");
    h.update(key);
    format!("mk-{}", hex::encode(&h.finalize()[..8]))
}

fn parse_key(hex_key: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = Zeroizing::new(hex::decode(hex_key.trim()).context("not hex")?);
    bytes.as_slice().try_into().map_err(|_| anyhow::anyhow!("the key must be 32 bytes (64 hex characters)"))
}

fn value_aad(row: &str) -> Vec<u8> {
    format!("layerr secret v1\0{row}").into_bytes()
}

fn wrap_aad(row: &str, key_id: &str) -> Vec<u8> {
    format!("layerr data key v1\0{row}\0{key_id}").into_bytes()
}

fn nonce_from(hex_nonce: &str) -> Option<XNonce> {
    let n = hex::decode(hex_nonce).ok()?;
    (n.len() == 24).then(|| *XNonce::from_slice(&n))
}

impl Keyring {
    pub fn from_keys(keys: Vec<[u8; 32]>, source: KeySource) -> anyhow::Result<Keyring> {
        anyhow::ensure!(!keys.is_empty(), "no master key");
        let mut ring = Keyring { keys: Vec::new(), source };
        for k in keys {
            let id = key_id(&k);
            if !ring.keys.iter().any(|m| m.id == id) {
                ring.keys.push(MasterKey { id, key: Sealed::new(Box::new(k)) });
            }
        }
        Ok(ring)
    }

    /// The keys from the environment when `LAYERR_MASTER_KEY` is set, else from (or newly into)
    /// the key file in `data_dir`.
    pub fn load(current: Option<&str>, previous: Option<&str>, data_dir: &Path) -> anyhow::Result<Keyring> {
        if let Some(v) = current {
            let mut keys = vec![parse_key(v).with_context(|| format!("{MASTER_KEY_ENV} must be 64 hex characters"))?];
            for (i, p) in previous.unwrap_or_default().split(',').map(str::trim).filter(|p| !p.is_empty()).enumerate() {
                keys.push(
                    parse_key(p)
                        .with_context(|| format!("{PREVIOUS_KEYS_ENV}: key {} is not 64 hex characters", i + 1))?,
                );
            }
            return Keyring::from_keys(keys, KeySource::Environment);
        }
        let path = data_dir.join(KEY_FILE);
        if !path.exists() {
            std::fs::create_dir_all(data_dir)?;
            let key = Zeroizing::new(hex::encode(XChaCha20Poly1305::generate_key(&mut OsRng).as_slice()));
            write_private(&path, &format!("{}\n", key.as_str()), false)?;
            tracing::info!(path = %path.display(), "created a new master key for secrets at rest");
        }
        Keyring::read_file(&path)
    }

    fn read_file(path: &Path) -> anyhow::Result<Keyring> {
        let text =
            Zeroizing::new(std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?);
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            keys.push(parse_key(line).with_context(|| format!("{} line {}: not a valid key", path.display(), n + 1))?);
        }
        Keyring::from_keys(keys, KeySource::File(path.to_path_buf()))
            .with_context(|| format!("{} holds no key", path.display()))
    }

    /// The key file read again (another node may have rotated it); the environment's keys stay.
    pub fn reload(&self) -> anyhow::Result<Option<Keyring>> {
        match &self.source {
            KeySource::Environment => Ok(None),
            KeySource::File(path) => Keyring::read_file(path).map(Some),
        }
    }

    /// A new random key in front of the file's keys (written atomically); `None` with keys from
    /// the environment, which a running process cannot change.
    pub fn with_new_key(&self) -> anyhow::Result<Option<Keyring>> {
        let KeySource::File(path) = &self.source else { return Ok(None) };
        // Read again first: never drop a key another node added meanwhile.
        let on_disk = Keyring::read_file(path)?;
        let new: [u8; 32] = XChaCha20Poly1305::generate_key(&mut OsRng).into();
        let mut text = Zeroizing::new(format!("# layerr master keys: the current one first\n{}\n", hex::encode(new)));
        for k in on_disk.keys.iter().chain(self.keys.iter()) {
            let line = hex::encode(k.key.expose_secret());
            if !text.contains(&line) {
                text.push_str(&line);
                text.push('\n');
            }
        }
        write_private(path, &text, true)?;
        Keyring::read_file(path).map(Some)
    }

    pub fn current_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn ids(&self) -> Vec<String> {
        self.keys.iter().map(|k| k.id.clone()).collect()
    }

    pub fn has(&self, id: &str) -> bool {
        self.keys.iter().any(|k| k.id == id)
    }

    fn cipher(&self, id: &str) -> Option<XChaCha20Poly1305> {
        self.keys.iter().find(|k| k.id == id).map(|k| XChaCha20Poly1305::new(k.key.expose_secret().into()))
    }

    /// Seals `plaintext` for row `row`: a fresh data key, wrapped by the current master key.
    pub fn seal(&self, row: &str, plaintext: &[u8]) -> Option<SealedRow> {
        let data_key: Zeroizing<[u8; 32]> = Zeroizing::new(XChaCha20Poly1305::generate_key(&mut OsRng).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ciphertext = XChaCha20Poly1305::new(data_key.as_ref().into())
            .encrypt(&nonce, Payload { msg: plaintext, aad: &value_aad(row) })
            .ok()?;
        let (key_id, wrap_nonce, wrapped_key) = self.wrap(row, data_key.as_ref())?;
        Some(SealedRow {
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ciphertext),
            key_id,
            wrap_nonce,
            wrapped_key,
        })
    }

    /// The data key wrapped by the current master key: (key id, nonce, wrapped key), hex.
    fn wrap(&self, row: &str, data_key: &[u8]) -> Option<(String, String, String)> {
        let id = self.current_id().to_string();
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let wrapped = self.cipher(&id)?.encrypt(&nonce, Payload { msg: data_key, aad: &wrap_aad(row, &id) }).ok()?;
        Some((id, hex::encode(nonce), hex::encode(wrapped)))
    }

    fn data_key(&self, row: &StoredRow) -> Option<Zeroizing<Vec<u8>>> {
        let (Some(id), Some(n), Some(w)) = (&row.key_id, &row.wrap_nonce, &row.wrapped_key) else { return None };
        let wrapped = hex::decode(w).ok()?;
        let key =
            self.cipher(id)?.decrypt(&nonce_from(n)?, Payload { msg: &wrapped, aad: &wrap_aad(&row.id, id) }).ok()?;
        (key.len() == 32).then(|| Zeroizing::new(key))
    }

    /// The row's plaintext; `None` when no key of the ring opens it or it was tampered with.
    pub fn open(&self, row: &StoredRow) -> Option<Zeroizing<Vec<u8>>> {
        let nonce = nonce_from(&row.nonce)?;
        let ct = hex::decode(&row.ciphertext).ok()?;
        if row.key_id.is_none() {
            // Before envelopes: the value under a master key, without associated data.
            return self
                .keys
                .iter()
                .find_map(|k| XChaCha20Poly1305::new(k.key.expose_secret().into()).decrypt(&nonce, ct.as_slice()).ok())
                .map(Zeroizing::new);
        }
        let key = self.data_key(row)?;
        XChaCha20Poly1305::new_from_slice(&key)
            .ok()?
            .decrypt(&nonce, Payload { msg: &ct, aad: &value_aad(&row.id) })
            .ok()
            .map(Zeroizing::new)
    }

    /// The row with its data key wrapped by the current master key (the value's ciphertext
    /// unchanged); a row from before envelopes is sealed afresh. `None` when it does not open.
    pub fn rewrap(&self, row: &StoredRow) -> Option<SealedRow> {
        if row.key_id.is_none() {
            let plain = self.open(row)?;
            return self.seal(&row.id, &plain);
        }
        let data_key = self.data_key(row)?;
        let (key_id, wrap_nonce, wrapped_key) = self.wrap(&row.id, &data_key)?;
        Some(SealedRow {
            nonce: row.nonce.clone(),
            ciphertext: row.ciphertext.clone(),
            key_id,
            wrap_nonce,
            wrapped_key,
        })
    }
}

/// Writes `contents` to `path` readable by the owner only. `replace`: through a temporary file
/// renamed over the old one, so a reader never sees a half-written key file.
fn write_private(path: &Path, contents: &str, replace: bool) -> anyhow::Result<()> {
    use std::io::Write;
    let target =
        if replace { path.with_extension(format!("tmp-{}", uuid::Uuid::now_v7().simple())) } else { path.into() };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(&target).with_context(|| format!("cannot create {}", target.display()))?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    if replace {
        std::fs::rename(&target, path).with_context(|| format!("cannot replace {}", path.display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(id: &str, s: &SealedRow) -> StoredRow {
        StoredRow {
            id: id.into(),
            nonce: s.nonce.clone(),
            ciphertext: s.ciphertext.clone(),
            key_id: Some(s.key_id.clone()),
            wrap_nonce: Some(s.wrap_nonce.clone()),
            wrapped_key: Some(s.wrapped_key.clone()),
        }
    }

    #[test]
    fn envelope_round_trip_rewrap_and_binding() {
        let old = Keyring::from_keys(vec![[1u8; 32]], KeySource::Environment).unwrap();
        let s = old.seal("r1", b"sk-live-123").unwrap();
        assert_eq!(s.key_id, key_id(&[1u8; 32]));
        assert!(!s.key_id.contains("0101"), "the id reveals nothing of the key");
        assert_eq!(old.open(&row("r1", &s)).unwrap().as_slice(), b"sk-live-123");
        // Bound to its row.
        assert!(old.open(&row("r2", &s)).is_none());
        // Tampering is detected.
        let mut bad = row("r1", &s);
        bad.ciphertext.replace_range(0..2, if bad.ciphertext.starts_with("00") { "01" } else { "00" });
        assert!(old.open(&bad).is_none());
        // A new current key with the old one kept: old wraps open, re-wrapped ones too.
        let new = Keyring::from_keys(vec![[2u8; 32], [1u8; 32]], KeySource::Environment).unwrap();
        assert_eq!(new.open(&row("r1", &s)).unwrap().as_slice(), b"sk-live-123");
        let moved = new.rewrap(&row("r1", &s)).unwrap();
        assert_eq!(moved.key_id, new.current_id());
        assert_eq!(moved.ciphertext, s.ciphertext, "the value's ciphertext is kept: only the data key moves");
        let only_new = Keyring::from_keys(vec![[2u8; 32]], KeySource::Environment).unwrap();
        assert_eq!(only_new.open(&row("r1", &moved)).unwrap().as_slice(), b"sk-live-123");
        assert!(only_new.open(&row("r1", &s)).is_none(), "the old wrap needs the old key");
    }

    #[test]
    fn rows_from_before_envelopes_open_and_are_sealed_afresh() {
        let k = [7u8; 32];
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let ct = XChaCha20Poly1305::new(&k.into()).encrypt(&nonce, b"legacy".as_ref()).unwrap();
        let legacy = StoredRow {
            id: "sec_1".into(),
            nonce: hex::encode(nonce),
            ciphertext: hex::encode(ct),
            key_id: None,
            wrap_nonce: None,
            wrapped_key: None,
        };
        let ring = Keyring::from_keys(vec![[8u8; 32], k], KeySource::Environment).unwrap();
        assert_eq!(ring.open(&legacy).unwrap().as_slice(), b"legacy");
        let s = ring.rewrap(&legacy).unwrap();
        assert_eq!(s.key_id, ring.current_id());
        let only_new = Keyring::from_keys(vec![[8u8; 32]], KeySource::Environment).unwrap();
        assert_eq!(only_new.open(&row("sec_1", &s)).unwrap().as_slice(), b"legacy");
    }

    #[test]
    fn key_file_is_created_once_private_and_rotated_in_front() {
        let dir = tempfile::tempdir().unwrap();
        let first = Keyring::load(None, None, dir.path()).unwrap();
        let again = Keyring::load(None, None, dir.path()).unwrap();
        assert_eq!(first.current_id(), again.current_id());
        let mode = || {
            use std::os::unix::fs::PermissionsExt;
            std::fs::metadata(dir.path().join(KEY_FILE)).unwrap().permissions().mode() & 0o777
        };
        assert_eq!(mode(), 0o600);
        let rotated = first.with_new_key().unwrap().unwrap();
        assert_ne!(rotated.current_id(), first.current_id());
        assert_eq!(rotated.ids()[1], first.current_id());
        assert_eq!(mode(), 0o600);
        assert_eq!(first.reload().unwrap().unwrap().current_id(), rotated.current_id());
        assert!(Keyring::load(Some("zz"), None, dir.path()).is_err());
        assert!(Keyring::load(Some(&"ab".repeat(32)), Some("nothex"), dir.path()).is_err());
        let env = Keyring::load(Some(&"ab".repeat(32)), Some(&format!("{}, ", "cd".repeat(32))), dir.path()).unwrap();
        assert_eq!(env.ids().len(), 2);
        assert!(env.with_new_key().unwrap().is_none());
    }
}
