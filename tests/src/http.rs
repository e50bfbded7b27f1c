//! A loopback HTTP server (busybox httpd) for the "downloads" of the attack scenarios.

use std::{
    net::{Ipv4Addr, TcpListener, TcpStream},
    path::Path,
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::poll;

/// Serves a directory on 127.0.0.1 until dropped.
pub struct HttpServer {
    child: Child,
    port: u16,
}

impl HttpServer {
    /// `busybox httpd -f -p 127.0.0.1:<free port> -h <dir>`, returned once it accepts.
    pub fn start(dir: &Path) -> HttpServer {
        let port = free_port();
        let child = Command::new("busybox")
            .args(["httpd", "-f", "-p", &format!("127.0.0.1:{port}"), "-h"])
            .arg(dir)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start busybox httpd: {err}"));
        let mut server = HttpServer { child, port };
        let up = poll(Duration::from_secs(10), || {
            if let Some(status) = server.child.try_wait().expect("waiting for httpd") {
                panic!("busybox httpd on port {port} exited at once ({status})");
            }
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()
        });
        assert!(up.is_some(), "busybox httpd never listened on port {port}");
        server
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback port nobody listens on right now (the kernel picks it; we release it at once).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("binding 127.0.0.1:0")
}
