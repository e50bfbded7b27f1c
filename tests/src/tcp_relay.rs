//! A TCP front for a unix socket: stands in for a Docker daemon that also listens on its API port
//! (`dockerd -H tcp://…`), so a container can reach the runtime "over the network" while the
//! daemon everything else uses stays as it is. Listens on 127.0.0.1 only.
//!
//! The upstream connections are opened when the relay starts, not when a client arrives: a real
//! TCP listener inside dockerd makes no new connection to the unix socket during the attack, and
//! the sensor attributes a container creation to the most recent runtime API client — which would
//! otherwise be this relay, a host process, connecting just before the create request.

use std::{
    io,
    net::{Ipv4Addr, Shutdown, TcpListener, TcpStream},
    os::unix::net::UnixStream,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::{self, JoinHandle},
};

use crate::relay::serve_until_stopped;

/// Relays 127.0.0.1:`port` to a unix socket until dropped.
pub struct TcpRelay {
    port: u16,
    stop: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
    /// Both ends of every relayed connection, cut on drop.
    open: Arc<Mutex<Vec<(TcpStream, UnixStream)>>>,
}

impl TcpRelay {
    /// Listens on 127.0.0.1:`port` (failing the test if it is taken) and forwards each client to
    /// `target` over one of `connections` unix connections opened now.
    pub fn start(port: u16, target: &Path, connections: usize) -> TcpRelay {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port)).unwrap_or_else(|err| {
            panic!(
                "cannot listen on 127.0.0.1:{port} for the Docker API relay: {err}. The test \
                 needs this port (Docker's API port) free; `ss -ltnp 'sport = :{port}'` shows \
                 who holds it"
            )
        });
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let spare: Vec<UnixStream> = (0..connections)
            .map(|_| {
                UnixStream::connect(target).unwrap_or_else(|err| {
                    panic!("relay cannot connect to {}: {err}", target.display())
                })
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let (stop, open, target) = (stop.clone(), open.clone(), target.to_path_buf());
            thread::spawn(move || accept_loop(listener, spare, &target, &stop, &open))
        };
        TcpRelay {
            port,
            stop,
            acceptor: Some(acceptor),
            open,
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for TcpRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        for (client, upstream) in self.open.lock().unwrap().drain(..) {
            let _ = client.shutdown(Shutdown::Both);
            let _ = upstream.shutdown(Shutdown::Both);
        }
    }
}

fn accept_loop(
    listener: TcpListener,
    mut spare: Vec<UnixStream>,
    target: &PathBuf,
    stop: &AtomicBool,
    open: &Mutex<Vec<(TcpStream, UnixStream)>>,
) {
    let accept = || listener.accept().map(|(client, _)| client);
    serve_until_stopped("tcp-relay", stop, accept, |client| {
        let upstream = if spare.is_empty() {
            eprintln!(
                "[tcp-relay] all pre-opened connections are used; connecting to {} now \
                 (the sensor may attribute what follows to this host process)",
                target.display()
            );
            UnixStream::connect(target)?
        } else {
            spare.remove(0)
        };
        relay_one(client, upstream, open)
    });
}

fn relay_one(
    client: TcpStream,
    upstream: UnixStream,
    open: &Mutex<Vec<(TcpStream, UnixStream)>>,
) -> io::Result<()> {
    client.set_nonblocking(false)?;
    open.lock()
        .unwrap()
        .push((client.try_clone()?, upstream.try_clone()?));
    let (mut client_in, mut client_out) = (client.try_clone()?, client);
    let (mut up_in, mut up_out) = (upstream.try_clone()?, upstream);
    thread::spawn(move || {
        let _ = io::copy(&mut client_in, &mut up_out);
        let _ = up_out.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let _ = io::copy(&mut up_in, &mut client_out);
        let _ = client_out.shutdown(Shutdown::Write);
    });
    Ok(())
}
