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

/// Debounces `rx` in a task of its own: the returned receiver gets one signal per burst
/// of signals on `rx` that is followed by a quiet `window`. Receiving from it is
/// cancel-safe, so it can sit in a `tokio::select!` beside other branches: a burst
/// half-way through its window when another branch wins is not lost (awaiting
/// [`debounced`] there directly would drop it).
pub fn debounce(mut rx: mpsc::Receiver<()>, window: Duration) -> mpsc::Receiver<()> {
    let (tx, out) = mpsc::channel(1);
    tokio::spawn(async move {
        while debounced(&mut rx, window).await.is_some() {
            // A signal already waiting says the same: look again.
            match tx.try_send(()) {
                Ok(()) | Err(mpsc::error::TrySendError::Full(())) => {}
                Err(mpsc::error::TrySendError::Closed(())) => return,
            }
        }
    });
    out
}

/// Waits for the first signal, then for a quiet `window`, so that an editor's burst of
/// writes leads to one reload. Not cancel-safe: see [`debounce`].
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_not_lost_when_the_receiver_is_cancelled_half_way() {
        let (tx, rx) = mpsc::channel(16);
        let mut out = debounce(rx, Duration::from_millis(100));
        tx.send(()).await.unwrap();
        // Another select! branch wins while the burst's quiet window is running.
        tokio::select! {
            _ = out.recv() => panic!("signalled before the quiet window"),
            _ = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
        tx.send(()).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_secs(1), out.recv()).await;
        assert_eq!(waited.unwrap(), Some(()));
        // One signal for the whole burst.
        let more = tokio::time::timeout(Duration::from_secs(1), out.recv()).await;
        assert!(more.is_err(), "a second signal for the same burst");
    }
}
