//! A desired-state file on local disk, watched for changes.
//!
//! The watcher follows the file's folder, not the file: editors and `git checkout`
//! replace the file (a new inode), which a watch on the file itself would miss. Every
//! notification only says "look again"; the controller re-reads the file and acts only
//! when its content changed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

/// Keeps the watcher alive; dropping it stops watching.
pub struct FileWatch {
    _watcher: notify::RecommendedWatcher,
}

impl std::fmt::Debug for FileWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FileWatch")
    }
}

/// Watches `path`'s folder and sends `()` on `tx` (coalesced) whenever something there
/// may have changed the file.
pub fn watch(path: &Path, tx: mpsc::Sender<()>) -> Result<FileWatch, notify::Error> {
    let file: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let folder = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let name = file.file_name().map(|n| n.to_os_string());
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let Ok(event) = event else { return };
        let touches_file = event
            .paths
            .iter()
            .any(|p| p.file_name().map(|n| n.to_os_string()) == name);
        if touches_file {
            // A full channel already holds a pending "look again".
            let _ = tx.try_send(());
        }
    })?;
    watcher.watch(&folder, RecursiveMode::NonRecursive)?;
    Ok(FileWatch { _watcher: watcher })
}

/// Waits for the first signal, then for a quiet `window`, so that an editor's burst of
/// writes leads to one reload.
pub async fn debounced(rx: &mut mpsc::Receiver<()>, window: Duration) -> Option<()> {
    rx.recv().await?;
    loop {
        match tokio::time::timeout(window, rx.recv()).await {
            Ok(Some(())) => continue,
            Ok(None) => return Some(()),
            Err(_) => return Some(()),
        }
    }
}
