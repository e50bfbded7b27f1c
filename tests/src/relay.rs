//! A unix-socket relay in front of the Docker socket, so a test can take Docker away from the
//! sensor (and give it back) without touching the daemon that everything else uses, or make
//! Docker slow for it (hold the traffic, then let it through).

use std::{
    fs,
    io::{self, Read, Write},
    os::unix::net::{UnixListener, UnixStream},
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
    time::Duration,
};

/// Relays connections on `path` to `target` while it is up.
pub struct Relay {
    path: PathBuf,
    target: PathBuf,
    running: Option<Running>,
    /// While set, bytes are not passed on in either direction (they wait in the relay).
    held: Arc<AtomicBool>,
}

struct Running {
    stop: Arc<AtomicBool>,
    acceptor: JoinHandle<()>,
    /// Both ends of every relayed connection, to cut them when the relay goes down.
    streams: Arc<Mutex<Vec<UnixStream>>>,
}

impl Relay {
    /// Listens on `path` (which must not exist) and forwards to `target`.
    pub fn start(path: &Path, target: &Path) -> Relay {
        let mut relay = Relay {
            path: path.to_path_buf(),
            target: target.to_path_buf(),
            running: None,
            held: Arc::new(AtomicBool::new(false)),
        };
        relay.resume();
        relay
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Comes (back) up: binds the socket and accepts again.
    pub fn resume(&mut self) {
        if self.running.is_some() {
            return;
        }
        let listener = UnixListener::bind(&self.path)
            .unwrap_or_else(|err| panic!("binding relay socket {}: {err}", self.path.display()));
        // Non-blocking so the acceptor can notice the stop flag.
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let streams = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, streams, target) = (stop.clone(), streams.clone(), self.target.clone());
            let held = self.held.clone();
            thread::spawn(move || accept_loop(listener, &target, &stop, &streams, &held))
        };
        self.running = Some(Running {
            stop,
            acceptor,
            streams,
        });
    }

    /// Holds all traffic, as a daemon that stopped answering for a while: requests and events
    /// wait in the relay (connections stay open) until [`Relay::release`].
    pub fn hold(&self) {
        self.held.store(true, Ordering::SeqCst);
    }

    /// Passes held and new traffic on again.
    pub fn release(&self) {
        self.held.store(false, Ordering::SeqCst);
    }

    /// Goes down like a dead daemon: open connections are cut and new ones are refused (the
    /// socket file is gone, so connecting fails).
    pub fn refuse(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop.store(true, Ordering::SeqCst);
        let _ = running.acceptor.join();
        for stream in running.streams.lock().unwrap().drain(..) {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        let _ = fs::remove_file(&self.path);
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.release();
        self.refuse();
    }
}

fn accept_loop(
    listener: UnixListener,
    target: &Path,
    stop: &AtomicBool,
    streams: &Mutex<Vec<UnixStream>>,
    held: &Arc<AtomicBool>,
) {
    serve_until_stopped(
        "relay",
        stop,
        || listener.accept().map(|(c, _)| c),
        |client| relay_one(client, target, streams, held),
    );
}

/// Accepts clients from a non-blocking listener (`accept`) and hands each to `serve` until
/// `stop` is set or accepting fails; problems are printed under `label`, never raised (this runs
/// on a helper thread of a test).
pub(crate) fn serve_until_stopped<C>(
    label: &str,
    stop: &AtomicBool,
    mut accept: impl FnMut() -> io::Result<C>,
    mut serve: impl FnMut(C) -> io::Result<()>,
) {
    while !stop.load(Ordering::SeqCst) {
        match accept() {
            Ok(client) => {
                if let Err(err) = serve(client) {
                    eprintln!("[{label}] forwarding a connection failed: {err}");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(err) => {
                eprintln!("[{label}] accept failed: {err}");
                return;
            }
        }
    }
}

fn relay_one(
    client: UnixStream,
    target: &Path,
    streams: &Mutex<Vec<UnixStream>>,
    held: &Arc<AtomicBool>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let upstream = UnixStream::connect(target)?;
    {
        let mut list = streams.lock().unwrap();
        list.push(client.try_clone()?);
        list.push(upstream.try_clone()?);
    }
    pump(client.try_clone()?, upstream.try_clone()?, held.clone());
    pump(upstream, client, held.clone());
    Ok(())
}

/// Copies one direction until EOF, then passes the EOF on. While `held`, what was read waits.
fn pump(mut from: UnixStream, mut to: UnixStream, held: Arc<AtomicBool>) {
    thread::spawn(move || {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            while held.load(Ordering::SeqCst) {
                thread::sleep(Duration::from_millis(10));
            }
            if to.write_all(&buffer[..n]).is_err() {
                break;
            }
        }
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
