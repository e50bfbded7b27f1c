//! A unix-socket relay in front of the Docker socket, so a test can take Docker away from the
//! sensor (and give it back) without touching the daemon that everything else uses.

use std::{
    fs, io,
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
            thread::spawn(move || accept_loop(listener, &target, &stop, &streams))
        };
        self.running = Some(Running {
            stop,
            acceptor,
            streams,
        });
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
        self.refuse();
    }
}

fn accept_loop(
    listener: UnixListener,
    target: &Path,
    stop: &AtomicBool,
    streams: &Mutex<Vec<UnixStream>>,
) {
    while !stop.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((client, _)) => {
                if let Err(err) = relay_one(client, target, streams) {
                    eprintln!("[relay] forwarding a connection failed: {err}");
                }
            }
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => {
                thread::sleep(Duration::from_millis(20));
            }
            Err(err) => {
                eprintln!("[relay] accept failed: {err}");
                return;
            }
        }
    }
}

fn relay_one(
    client: UnixStream,
    target: &Path,
    streams: &Mutex<Vec<UnixStream>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    let upstream = UnixStream::connect(target)?;
    {
        let mut list = streams.lock().unwrap();
        list.push(client.try_clone()?);
        list.push(upstream.try_clone()?);
    }
    pump(client.try_clone()?, upstream.try_clone()?);
    pump(upstream, client);
    Ok(())
}

/// Copies one direction until EOF, then passes the EOF on.
fn pump(mut from: UnixStream, mut to: UnixStream) {
    thread::spawn(move || {
        let _ = io::copy(&mut from, &mut to);
        let _ = to.shutdown(std::net::Shutdown::Write);
    });
}
