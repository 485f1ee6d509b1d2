//! The task's stdout and stderr: two FIFOs that containerd's shim writes
//! and strata reads, one thread each, chunks sent to the step loop as they
//! arrive.
//!
//! Why opened non-blocking: the shim opens its write end during
//! `Tasks.Create`, which blocks until a reader exists, so the reader must be
//! open before the call; a blocking `open(O_RDONLY)` would in turn block
//! until the shim arrives, and never return if task creation fails. Linux
//! reports `POLLHUP` on a FIFO only after a writer has connected since the
//! reader opened it, so `poll` + `read() == 0` means a real end of stream,
//! never "no writer yet". The threads also stop when asked (task creation
//! failed, or the step is being torn down).

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::thread::JoinHandle;

use crate::executor::Stream;

/// What the step loop hears about.
pub(crate) enum Event {
    Output(Stream, Vec<u8>),
    Eof,
    /// The task's `Wait` returned: its exit status, or why waiting failed.
    Exited(Result<u32, super::rpc::RpcError>),
}

pub(crate) struct Fifos {
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Fifos {
    /// Makes both FIFOs in `dir` and starts reading them.
    pub fn create(dir: &Path, tx: &Sender<Event>) -> io::Result<Fifos> {
        let stdout = dir.join("stdout");
        let stderr = dir.join("stderr");
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for (path, stream) in [(&stdout, Stream::Stdout), (&stderr, Stream::Stderr)] {
            mkfifo(path)?;
            let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
            let (tx, stop) = (tx.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("strata-containerd-{stream:?}").to_lowercase())
                    .spawn(move || pump(file, stream, &tx, &stop))?,
            );
        }
        Ok(Fifos { stdout, stderr, stop, threads })
    }

    /// Stops the readers (what they have not read yet is dropped) and joins them.
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl Drop for Fifos {
    fn drop(&mut self) {
        self.stop();
    }
}

fn mkfifo(path: &Path) -> io::Result<()> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: `c` is a valid NUL-terminated path.
    if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn pump(mut file: File, stream: Stream, tx: &Sender<Event>, stop: &AtomicBool) {
    let mut buf = vec![0u8; 64 * 1024];
    while !stop.load(Ordering::SeqCst) {
        let mut pfd = libc::pollfd { fd: file.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, owned by this frame.
        let r = unsafe { libc::poll(&mut pfd, 1, 100) };
        if r == 0 || (r < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted) {
            continue;
        }
        if r < 0 {
            break;
        }
        match file.read(&mut buf) {
            Ok(0) => {
                let _ = tx.send(Event::Eof);
                return;
            }
            Ok(n) => {
                if tx.send(Event::Output(stream, buf[..n].to_vec())).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted) => {}
            Err(_) => break,
        }
    }
}
