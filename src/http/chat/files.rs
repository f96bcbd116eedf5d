//! `context.files` of `/api/chat`: inline `{path, content}` entries, or paths read from the
//! workspace's `filesRoot`. A path is refused unless it is relative, free of `..`, resolves (after
//! following symlinks) to a regular file under the canonical root, fits the size limits and is
//! UTF-8. Refusals name the entry and the reason, never the file's content or the server's paths.

use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::Deserialize;

use crate::http::error::ApiError;

/// Most files one request may carry.
pub const MAX_FILES: usize = 20;
/// Largest single file (bytes).
pub const MAX_FILE_BYTES: u64 = 256 * 1024;
/// Largest total of all files of one request (bytes).
pub const MAX_TOTAL_BYTES: u64 = 1024 * 1024;
const MAX_PATH_CHARS: usize = 1024;

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum FileRef {
    Path(String),
    Inline(InlineFile),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InlineFile {
    pub path: String,
    pub content: String,
}

/// A file as it goes into the prompt.
#[derive(Debug, Clone, PartialEq)]
pub struct ContextFile {
    pub path: String,
    pub content: String,
}

fn refuse(i: usize, reason: impl Into<String>) -> ApiError {
    let field = format!("context.files[{i}]");
    let reason = reason.into();
    ApiError::field(field.clone(), format!("{field}: {reason}"))
}

fn check_name(i: usize, path: &str) -> Result<(), ApiError> {
    if path.trim().is_empty() || path.chars().count() > MAX_PATH_CHARS || path.chars().any(char::is_control) {
        return Err(refuse(i, format!("path must be 1..={MAX_PATH_CHARS} characters without control characters")));
    }
    Ok(())
}

/// Resolves every entry (reading files off the request's thread) and enforces the limits.
pub async fn resolve(files: Vec<FileRef>, root: Option<String>) -> Result<Vec<ContextFile>, ApiError> {
    if files.len() > MAX_FILES {
        return Err(ApiError::field("context.files", format!("at most {MAX_FILES} files per request")));
    }
    tokio::task::spawn_blocking(move || resolve_blocking(files, root.as_deref())).await.map_err(ApiError::internal)?
}

fn resolve_blocking(files: Vec<FileRef>, root: Option<&str>) -> Result<Vec<ContextFile>, ApiError> {
    let mut total = 0u64;
    let mut canonical_root: Option<PathBuf> = None;
    let mut out = Vec::with_capacity(files.len());
    for (i, f) in files.into_iter().enumerate() {
        let file = match f {
            FileRef::Inline(InlineFile { path, content }) => {
                check_name(i, &path)?;
                if content.len() as u64 > MAX_FILE_BYTES {
                    return Err(refuse(i, format!("content exceeds the {MAX_FILE_BYTES}-byte limit per file")));
                }
                ContextFile { path, content }
            }
            FileRef::Path(path) => {
                check_name(i, &path)?;
                let Some(root) = root else {
                    return Err(refuse(
                        i,
                        "is a path, but this workspace has no filesRoot configured: send {path, content} inline, \
                         or set filesRoot in the workspace's runtime profile",
                    ));
                };
                let root = match &canonical_root {
                    Some(r) => r.clone(),
                    None => {
                        let r = std::fs::canonicalize(root)
                            .ok()
                            .filter(|r| r.is_dir())
                            .ok_or_else(|| refuse(i, "the workspace's filesRoot is not an accessible directory"))?;
                        canonical_root = Some(r.clone());
                        r
                    }
                };
                let content = read_under(i, &root, &path, MAX_FILE_BYTES.min(MAX_TOTAL_BYTES - total))?;
                ContextFile { path, content }
            }
        };
        total += file.content.len() as u64;
        if total > MAX_TOTAL_BYTES {
            return Err(refuse(i, format!("the files exceed the {MAX_TOTAL_BYTES}-byte limit per request")));
        }
        out.push(file);
    }
    Ok(out)
}

/// Reads `rel` under the canonical `root`, at most `limit` bytes.
fn read_under(i: usize, root: &Path, rel: &str, limit: u64) -> Result<String, ApiError> {
    let p = Path::new(rel);
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir => return Err(refuse(i, "path must not contain '..'")),
            Component::RootDir | Component::Prefix(_) => {
                return Err(refuse(i, "path must be relative to the workspace's filesRoot"))
            }
        }
    }
    let target = std::fs::canonicalize(root.join(p)).map_err(|_| refuse(i, "no such file under filesRoot"))?;
    if !target.starts_with(root) {
        return Err(refuse(i, "path resolves outside the workspace's filesRoot"));
    }
    // Non-blocking: opening a FIFO planted under the root must not park a thread forever.
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&target)
        .map_err(|_| refuse(i, "the file cannot be read"))?;
    // Check what was opened, not what the path named a moment ago: a directory swapped for a
    // symlink between the checks above and the open must not let the read escape the root.
    if let Some(opened) = opened_path(&file) {
        if !opened.starts_with(root) {
            return Err(refuse(i, "path resolves outside the workspace's filesRoot"));
        }
    }
    let meta = file.metadata().map_err(|_| refuse(i, "the file cannot be read"))?;
    if !meta.is_file() {
        return Err(refuse(i, "not a regular file"));
    }
    let too_big = || {
        if limit < MAX_FILE_BYTES {
            refuse(i, format!("the files exceed the {MAX_TOTAL_BYTES}-byte limit per request"))
        } else {
            refuse(i, format!("the file exceeds the {MAX_FILE_BYTES}-byte limit per file"))
        }
    };
    if meta.len() > limit {
        return Err(too_big());
    }
    // The file may grow after the size check: read one byte past the limit to notice.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    (&mut file).take(limit + 1).read_to_end(&mut bytes).map_err(|_| refuse(i, "the file cannot be read"))?;
    if bytes.len() as u64 > limit {
        return Err(too_big());
    }
    String::from_utf8(bytes).map_err(|_| refuse(i, "the file is not UTF-8 text"))
}

#[cfg(target_os = "linux")]
fn opened_path(f: &std::fs::File) -> Option<PathBuf> {
    use std::os::fd::AsRawFd;
    std::fs::read_link(format!("/proc/self/fd/{}", f.as_raw_fd())).ok()
}

#[cfg(not(target_os = "linux"))]
fn opened_path(_: &std::fs::File) -> Option<PathBuf> {
    None
}

/// The files as one system message: each under a `File:` line in a fence longer than any run of
/// backticks inside it, so a file cannot close its own fence.
pub fn prompt_section(files: &[ContextFile]) -> String {
    let mut out = String::from("The user attached these files as context.\n");
    for f in files {
        let mut longest = 0;
        let mut run = 0;
        for ch in f.content.chars() {
            run = if ch == '`' { run + 1 } else { 0 };
            longest = longest.max(run);
        }
        let fence = "`".repeat((longest + 1).max(3));
        out.push_str(&format!("\nFile: {}\n{fence}\n{}\n{fence}\n", f.path, f.content.trim_end_matches('\n')));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_outgrows_backticks_in_the_file() {
        let s = prompt_section(&[ContextFile { path: "a.md".into(), content: "x ```` y\n".into() }]);
        assert!(s.contains("File: a.md\n`````\nx ```` y\n`````\n"), "{s}");
        let s = prompt_section(&[ContextFile { path: "b.rs".into(), content: "fn main() {}".into() }]);
        assert!(s.contains("File: b.rs\n```\nfn main() {}\n```\n"), "{s}");
    }

    #[test]
    fn paths_are_confined_to_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::write(root.join("src/a.txt"), "hello").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "top secret").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("link.txt")).unwrap();
        std::os::unix::fs::symlink(root.join("src/a.txt"), root.join("inside.txt")).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        assert_eq!(read_under(0, &root, "src/a.txt", MAX_FILE_BYTES).unwrap(), "hello");
        assert_eq!(read_under(0, &root, "./inside.txt", MAX_FILE_BYTES).unwrap(), "hello", "a symlink inside is fine");
        for (p, why) in [
            ("../secret.txt", "'..'"),
            ("src/../../secret.txt", "'..'"),
            ("/etc/passwd", "relative"),
            ("link.txt", "outside"),
            ("src", "regular file"),
            ("nope.txt", "no such file"),
        ] {
            let e = read_under(3, &root, p, MAX_FILE_BYTES).unwrap_err().to_string();
            assert!(e.starts_with("context.files[3]: ") && e.contains(why), "{p}: {e}");
            assert!(!e.contains("top secret") && !e.contains(dir.path().to_str().unwrap()), "{e}");
        }
        std::fs::write(root.join("big.txt"), "x".repeat(11)).unwrap();
        assert!(read_under(0, &root, "big.txt", 10).is_err());
        std::fs::write(root.join("bin.dat"), [0xff, 0xfe, 0x00]).unwrap();
        assert!(read_under(0, &root, "bin.dat", 10).unwrap_err().to_string().contains("UTF-8"));
    }
}
