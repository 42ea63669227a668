//! The owned directory on disk: read back, staged next to it, swapped in, restored.
//!
//! `<dir>.new/` is where a configuration is staged and tested; the swap renames `<dir>`
//! to `<dir>.prev/` and `<dir>.new/` to `<dir>`. When the directory cannot be renamed
//! (a mount point, as a bind-mounted folder in a container is), its files are replaced
//! one by one instead, each written to a temporary name and renamed over the old one.
//! Synchronous: the engine runs these on the blocking pool.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// `<dir><suffix>`: a sibling of `dir` (`/etc/nginx/holdfast.new`).
pub fn sibling(dir: &Path, suffix: &str) -> PathBuf {
    let mut name: OsString = dir.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The `*.conf` files of `dir` by file name; none when `dir` does not exist.
pub fn read_conf_files(dir: &Path) -> io::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.ends_with(".conf") || !entry.file_type()?.is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        out.insert(name, String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(out)
}

/// Writes `path` atomically: a temporary file in the same folder, synced, renamed.
pub fn write_atomic(path: &Path, text: &str) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)
}

fn remove_dir_if_exists(dir: &Path) -> io::Result<()> {
    match std::fs::remove_dir_all(dir) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// A fresh `dir` holding exactly `files`.
pub fn stage(dir: &Path, files: &BTreeMap<String, String>) -> io::Result<()> {
    remove_dir_if_exists(dir)?;
    std::fs::create_dir_all(dir)?;
    for (name, text) in files {
        write_atomic(&dir.join(name), text)?;
    }
    Ok(())
}

/// Removes a staged or refused folder (nothing when it is gone already).
pub fn discard(dir: &Path) -> io::Result<()> {
    remove_dir_if_exists(dir)
}

/// Makes `source` the content of `dir` and keeps the old content as `keep`. `source`
/// is gone afterwards.
pub fn swap_in(dir: &Path, source: &Path, keep: &Path) -> io::Result<()> {
    remove_dir_if_exists(keep)?;
    if !dir.exists() {
        return std::fs::rename(source, dir);
    }
    if std::fs::rename(dir, keep).is_ok() {
        return match std::fs::rename(source, dir) {
            Ok(()) => Ok(()),
            Err(e) => {
                // Put the old directory back before reporting.
                let _ = std::fs::rename(keep, dir);
                Err(e)
            }
        };
    }
    // `dir` cannot move (a mount point): copy the old files aside, replace them one
    // by one.
    let old = read_conf_files(dir)?;
    stage(keep, &old)?;
    let new = read_conf_files(source)?;
    for (name, text) in &new {
        write_atomic(&dir.join(name), text)?;
    }
    for name in old.keys().filter(|n| !new.contains_key(*n)) {
        std::fs::remove_file(dir.join(name))?;
    }
    remove_dir_if_exists(source)
}

/// Puts `prev` (the content before the last swap) back in `dir`; without `prev`,
/// `dir` is emptied. The refused content is removed.
pub fn restore(dir: &Path, prev: &Path) -> io::Result<()> {
    let refused = sibling(dir, ".refused");
    if !prev.exists() {
        std::fs::create_dir_all(prev)?;
    }
    swap_in(dir, prev, &refused)?;
    remove_dir_if_exists(&refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swap_and_restore_keep_the_previous_content() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("holdfast");
        let prev = sibling(&dir, ".prev");
        let new = sibling(&dir, ".new");
        let one = BTreeMap::from([("a.conf".to_string(), "one".to_string())]);
        let two = BTreeMap::from([("b.conf".to_string(), "two".to_string())]);
        stage(&new, &one).unwrap();
        swap_in(&dir, &new, &prev).unwrap();
        assert_eq!(read_conf_files(&dir).unwrap(), one);
        stage(&new, &two).unwrap();
        swap_in(&dir, &new, &prev).unwrap();
        assert_eq!(read_conf_files(&dir).unwrap(), two);
        assert_eq!(read_conf_files(&prev).unwrap(), one);
        assert!(!new.exists());
        restore(&dir, &prev).unwrap();
        assert_eq!(read_conf_files(&dir).unwrap(), one);
    }
}
