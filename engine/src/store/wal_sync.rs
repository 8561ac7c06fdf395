//! Group commit for SQLite: a write is acknowledged once its WAL frames are on disk, and one
//! fsync serves every commit waiting at the time.
//!
//! SQLite runs in WAL mode with `synchronous=NORMAL`, so its COMMIT writes the transaction's
//! frames into the `-wal` file (the page cache) without syncing. `Tx::commit` then hands its
//! turn to the next writer and waits here for a sync of that file that *began after* its
//! COMMIT returned. One syncer thread takes every commit registered so far, syncs once and
//! answers them all; commits registered during a sync wait for the next one, and meanwhile the
//! next writers' statements run. docs/architecture.md argues why this makes every acknowledged
//! write as durable as `synchronous=FULL` would.
//!
//! One difference remains: other connections see a commit from its COMMIT on, a sync before it
//! is durable. A reader that hands what it read beyond the database (the change-event feed)
//! first waits the same way for what it saw ([`WalSyncer::visible_now`]).

use std::fs::File;
use std::io;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use tokio::sync::oneshot;

/// One sync of the WAL: [`WalFile::sync`] in service, something slower or failing in tests.
pub(crate) type SyncWal = Box<dyn FnMut() -> io::Result<()> + Send>;

/// What the syncer has done since the database was opened, for `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WalSyncStats {
    /// Syncs that succeeded.
    pub syncs: u64,
    /// Commits those syncs made durable: above `syncs` when commits shared them.
    pub commits_synced: u64,
    /// Syncs that failed; their commits were answered with an error.
    pub failed_syncs: u64,
}

/// A failed sync as each of its waiters receives it (an `io::Error` cannot be cloned).
#[derive(Debug, Clone)]
struct SyncFailure {
    kind: io::ErrorKind,
    message: String,
}

type Answer = oneshot::Sender<Result<(), SyncFailure>>;

/// Who waits for a sync: a commit (counted in the stats) or a reader of committed writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waiter {
    Commit,
    Reader,
}

#[derive(Default)]
struct Waiting {
    answers: Vec<(Answer, Waiter)>,
    closed: bool,
}

#[derive(Default)]
struct Shared {
    waiting: Mutex<Waiting>,
    wake: Condvar,
    syncs: AtomicU64,
    commits_synced: AtomicU64,
    failed_syncs: AtomicU64,
}

fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    // Nothing panics while holding it; a poisoned lock still holds a consistent queue.
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The syncer of one database: a thread that sleeps until a commit waits.
pub(crate) struct WalSyncer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for WalSyncer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WalSyncer")
            .field("stats", &self.stats())
            .finish()
    }
}

impl WalSyncer {
    /// Starts the syncer thread; it ends when the syncer is dropped and no commit waits.
    pub(crate) fn start(sync: SyncWal) -> io::Result<WalSyncer> {
        let shared = Arc::new(Shared::default());
        let worker = Arc::clone(&shared);
        std::thread::Builder::new()
            .name("kangdao-wal-sync".into())
            .spawn(move || worker.run(sync))?;
        Ok(WalSyncer { shared })
    }

    /// Registers a commit whose COMMIT has returned. The ticket is answered after a sync that
    /// begins from now on, so it covers the commit's frames.
    pub(crate) fn committed(&self) -> DurableTicket {
        self.wait(Waiter::Commit)
    }

    /// A ticket answered once every commit visible now is durable: each wrote its frames to the
    /// WAL before it became visible, so a sync that begins from now on covers them.
    pub(crate) fn visible_now(&self) -> DurableTicket {
        self.wait(Waiter::Reader)
    }

    fn wait(&self, waiter: Waiter) -> DurableTicket {
        let (answer, ticket) = oneshot::channel();
        lock(&self.shared.waiting).answers.push((answer, waiter));
        self.shared.wake.notify_one();
        DurableTicket(ticket)
    }

    pub(crate) fn stats(&self) -> WalSyncStats {
        WalSyncStats {
            syncs: self.shared.syncs.load(Ordering::Relaxed),
            commits_synced: self.shared.commits_synced.load(Ordering::Relaxed),
            failed_syncs: self.shared.failed_syncs.load(Ordering::Relaxed),
        }
    }
}

impl Drop for WalSyncer {
    fn drop(&mut self) {
        lock(&self.shared.waiting).closed = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn run(&self, mut sync: SyncWal) {
        loop {
            let batch = {
                let mut waiting = lock(&self.waiting);
                while waiting.answers.is_empty() && !waiting.closed {
                    waiting = self
                        .wake
                        .wait(waiting)
                        .unwrap_or_else(PoisonError::into_inner);
                }
                if waiting.answers.is_empty() {
                    return;
                }
                // Each commit here returned from COMMIT before it was registered, so before the
                // sync below begins.
                std::mem::take(&mut waiting.answers)
            };
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(&mut sync))
                .unwrap_or_else(|_| Err(io::Error::other("the WAL sync panicked")));
            match outcome {
                Ok(()) => {
                    self.syncs.fetch_add(1, Ordering::Relaxed);
                    let commits = batch.iter().filter(|(_, w)| *w == Waiter::Commit).count();
                    self.commits_synced
                        .fetch_add(commits as u64, Ordering::Relaxed);
                    for (answer, _) in batch {
                        let _ = answer.send(Ok(()));
                    }
                }
                Err(e) => {
                    self.failed_syncs.fetch_add(1, Ordering::Relaxed);
                    tracing::error!(
                        error = %e,
                        waiting = batch.len(),
                        "syncing the SQLite WAL failed: the waiting commits are not known to be on disk"
                    );
                    let failure = SyncFailure {
                        kind: e.kind(),
                        message: e.to_string(),
                    };
                    for (answer, _) in batch {
                        let _ = answer.send(Err(failure.clone()));
                    }
                }
            }
        }
    }
}

/// A commit waiting to be durable.
pub(crate) struct DurableTicket(oneshot::Receiver<Result<(), SyncFailure>>);

impl DurableTicket {
    /// Returns once a sync that began after the commit succeeded; an error when it failed.
    pub(crate) async fn durable(self) -> io::Result<()> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(failure)) => Err(io::Error::new(
                failure.kind,
                format!(
                    "the commit is not known to be on disk: syncing the WAL failed: {}",
                    failure.message
                ),
            )),
            Err(_) => Err(io::Error::other(
                "the commit is not known to be on disk: the WAL syncer stopped",
            )),
        }
    }
}

/// The `-wal` file of one database, synced through a handle of our own. fsync acts on the
/// file, not the handle, so it makes SQLite's own writes to it durable.
///
/// Only the `-wal` file and its folder are ever opened here, never the database or `-shm`
/// file: SQLite holds POSIX locks on those, and closing any handle of a file drops every lock
/// the process holds on it.
pub(crate) struct WalFile {
    path: PathBuf,
    folder: PathBuf,
    /// The handle kept since the last sync and the file it was opened on. Keeping it means a
    /// write-back error the kernel meets in between is reported to our next sync.
    open: Option<(File, FileId)>,
}

impl WalFile {
    /// The WAL of the database file `database`, as SQLite names it (`<database>-wal`).
    pub(crate) fn of(database: &Path) -> WalFile {
        let mut path = database.as_os_str().to_owned();
        path.push("-wal");
        let folder = match database.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        WalFile {
            path: PathBuf::from(path),
            folder,
            open: None,
        }
    }

    /// Makes everything written to the WAL before this call durable.
    ///
    /// The file found at the path now holds every commit made before this call, or else those
    /// commits were checkpointed into the database file: SQLite deletes, truncates or restarts
    /// its WAL only after a complete checkpoint, which syncs the database file. So no file (the
    /// last connection closed and removed it) means nothing to sync, and a file other than the
    /// one last synced is a new WAL, whose folder entry is synced with it.
    pub(crate) fn sync(&mut self) -> io::Result<()> {
        let now = match std::fs::metadata(&self.path) {
            Ok(meta) => file_id(&meta),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.open = None;
                return Ok(());
            }
            Err(e) => return Err(e),
        };
        if let Some((file, id)) = &self.open {
            if now == Some(*id) {
                return file.sync_data();
            }
        }
        self.open = None;
        let file = match File::open(&self.path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        // fdatasync also writes the file's size, which recovery needs to find the frames.
        file.sync_data()?;
        sync_folder(&self.folder)?;
        self.open = file_id(&file.metadata()?).map(|id| (file, id));
        Ok(())
    }
}

/// A file's identity: its device and inode.
type FileId = (u64, u64);

#[cfg(unix)]
fn file_id(meta: &std::fs::Metadata) -> Option<FileId> {
    use std::os::unix::fs::MetadataExt;
    Some((meta.dev(), meta.ino()))
}

/// Without inode numbers the file is opened again at every sync.
#[cfg(not(unix))]
fn file_id(_meta: &std::fs::Metadata) -> Option<FileId> {
    None
}

/// Makes a file's entry in `folder` durable (a new file is found after a power cut only then).
#[cfg(unix)]
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// Elsewhere a folder cannot be opened to sync; the file system keeps its entries itself.
#[cfg(not(unix))]
fn sync_folder(_folder: &Path) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A sync that reports when it begins and ends only when the test lets it.
    fn gated_sync() -> (SyncWal, mpsc::Receiver<()>, mpsc::Sender<io::Result<()>>) {
        let (began, began_rx) = mpsc::channel();
        let (finish_tx, finish) = mpsc::channel::<io::Result<()>>();
        let sync: SyncWal = Box::new(move || {
            began.send(()).expect("test listening");
            finish.recv().expect("test answering")
        });
        (sync, began_rx, finish_tx)
    }

    fn wait_for(began: &mpsc::Receiver<()>) {
        began
            .recv_timeout(Duration::from_secs(5))
            .expect("a sync begins");
    }

    async fn still_waiting(ticket: &mut tokio::task::JoinHandle<io::Result<()>>) -> bool {
        tokio::time::timeout(Duration::from_millis(100), ticket)
            .await
            .is_err()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_commit_waits_for_a_sync_that_began_after_it() {
        let (sync, began, finish) = gated_sync();
        let syncer = WalSyncer::start(sync).unwrap();
        let mut first = tokio::spawn(syncer.committed().durable());
        wait_for(&began);
        // Committed while the first sync runs: that sync may have missed its frames.
        let mut second = tokio::spawn(syncer.committed().durable());
        assert!(still_waiting(&mut first).await);
        finish.send(Ok(())).unwrap();
        first.await.unwrap().expect("the first commit is durable");
        assert!(
            still_waiting(&mut second).await,
            "a sync that began before the commit does not answer it"
        );
        wait_for(&began);
        assert!(still_waiting(&mut second).await);
        finish.send(Ok(())).unwrap();
        second.await.unwrap().expect("the second commit is durable");
        assert_eq!(
            syncer.stats(),
            WalSyncStats {
                syncs: 2,
                commits_synced: 2,
                failed_syncs: 0
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_commits_share_a_slow_sync() {
        let syncer = Arc::new(
            WalSyncer::start(Box::new(|| {
                std::thread::sleep(Duration::from_millis(20));
                Ok(())
            }))
            .unwrap(),
        );
        let commits: Vec<_> = (0..16)
            .map(|_| {
                let syncer = Arc::clone(&syncer);
                tokio::spawn(async move { syncer.committed().durable().await })
            })
            .collect();
        for commit in commits {
            commit.await.unwrap().expect("durable");
        }
        let stats = syncer.stats();
        assert_eq!(stats.commits_synced, 16);
        assert!(
            (1..16).contains(&stats.syncs),
            "16 commits waiting together share syncs: {stats:?}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failed_sync_fails_its_commits_and_the_next_sync_can_succeed() {
        let (sync, began, finish) = gated_sync();
        let syncer = WalSyncer::start(sync).unwrap();
        let failed = tokio::spawn(syncer.committed().durable());
        wait_for(&began);
        finish
            .send(Err(io::Error::new(io::ErrorKind::StorageFull, "disk full")))
            .unwrap();
        let e = failed
            .await
            .unwrap()
            .expect_err("a failed sync is no acknowledgement");
        assert_eq!(e.kind(), io::ErrorKind::StorageFull);
        assert!(e.to_string().contains("disk full"), "{e}");

        let next = tokio::spawn(syncer.committed().durable());
        wait_for(&began);
        finish.send(Ok(())).unwrap();
        next.await.unwrap().expect("the next sync succeeds");
        assert_eq!(
            syncer.stats(),
            WalSyncStats {
                syncs: 1,
                commits_synced: 1,
                failed_syncs: 1
            }
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_reader_waits_for_a_sync_that_began_after_it_and_is_no_commit() {
        let (sync, began, finish) = gated_sync();
        let syncer = WalSyncer::start(sync).unwrap();
        let commit = tokio::spawn(syncer.committed().durable());
        wait_for(&began);
        let mut reader = tokio::spawn(syncer.visible_now().durable());
        finish.send(Ok(())).unwrap();
        commit.await.unwrap().expect("durable");
        assert!(
            still_waiting(&mut reader).await,
            "what the reader saw may have been written after the first sync began"
        );
        wait_for(&began);
        finish.send(Ok(())).unwrap();
        reader.await.unwrap().expect("durable");
        assert_eq!(
            syncer.stats(),
            WalSyncStats {
                syncs: 2,
                commits_synced: 1,
                failed_syncs: 0
            }
        );
    }

    #[tokio::test]
    async fn a_panicking_sync_is_a_failed_sync_and_the_syncer_goes_on() {
        let mut calls = 0;
        let syncer = WalSyncer::start(Box::new(move || {
            calls += 1;
            assert!(calls > 1, "the first sync breaks");
            Ok(())
        }))
        .unwrap();
        assert!(syncer.committed().durable().await.is_err());
        syncer.committed().durable().await.expect("then it works");
    }

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kangdao-wal-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn the_wal_file_is_synced_whether_present_absent_or_replaced() {
        let dir = scratch();
        let database = dir.join("kangdao.db");
        let wal_path = dir.join("kangdao.db-wal");
        let mut wal = WalFile::of(&database);
        assert_eq!(wal.path, wal_path);
        assert_eq!(wal.folder, dir);

        // No WAL yet (or the last connection removed it): nothing is waiting in one.
        wal.sync().unwrap();
        assert!(wal.open.is_none());

        std::fs::write(&wal_path, b"frames").unwrap();
        wal.sync().unwrap();
        let first = wal.open.as_ref().map(|(_, id)| *id);
        assert!(first.is_some() || cfg!(not(unix)));
        wal.sync().unwrap();
        assert_eq!(
            wal.open.as_ref().map(|(_, id)| *id),
            first,
            "the handle is kept"
        );

        // SQLite removed the WAL and a later connection made a new one.
        let replacement = dir.join("replacement");
        std::fs::write(&replacement, b"new frames").unwrap();
        std::fs::rename(&replacement, &wal_path).unwrap();
        wal.sync().unwrap();
        let second = wal.open.as_ref().map(|(_, id)| *id);
        if cfg!(unix) {
            assert!(
                second.is_some() && second != first,
                "the new file is synced"
            );
        }

        std::fs::remove_file(&wal_path).unwrap();
        wal.sync().unwrap();
        assert!(wal.open.is_none());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_database_in_the_working_folder_has_its_wal_beside_it() {
        let wal = WalFile::of(Path::new("kangdao.db"));
        assert_eq!(wal.path, PathBuf::from("kangdao.db-wal"));
        assert_eq!(wal.folder, PathBuf::from("."));
    }
}
