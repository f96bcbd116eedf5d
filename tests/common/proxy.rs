//! A TCP proxy in front of Postgres that a test cuts and restores: a store outage without
//! stopping the database the other tests share.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::PgDatabase;

/// A TCP proxy to Postgres that can be cut and restored. Cut, it drops every live connection and
/// stops listening, so new ones are refused, as with a stopped Postgres.
pub struct Proxy {
    pub port: u16,
    up: watch::Sender<bool>,
}

impl Proxy {
    pub async fn spawn(target: SocketAddr) -> Proxy {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = first.local_addr().unwrap().port();
        let (up, _) = watch::channel(true);
        let mut state = up.subscribe();
        let for_connections = up.subscribe();
        tokio::spawn(async move {
            let mut listener = Some(first);
            loop {
                let l = match listener.take() {
                    Some(l) => l,
                    None => {
                        if state.wait_for(|up| *up).await.is_err() {
                            return;
                        }
                        TcpListener::bind(("127.0.0.1", port)).await.expect("the proxy's port is free again")
                    }
                };
                loop {
                    tokio::select! {
                        accepted = l.accept() => {
                            let Ok((mut inbound, _)) = accepted else { return };
                            let mut cut = for_connections.clone();
                            tokio::spawn(async move {
                                let Ok(mut outbound) = TcpStream::connect(target).await else { return };
                                tokio::select! {
                                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                                    _ = cut.wait_for(|up| !*up) => {}
                                }
                            });
                        }
                        changed = state.wait_for(|up| !*up) => {
                            if changed.is_err() {
                                return;
                            }
                            break;
                        }
                    }
                }
            }
        });
        Proxy { port, up }
    }

    /// Postgres "goes down".
    pub fn cut(&self) {
        self.up.send_replace(false);
    }

    pub fn restore(&self) {
        self.up.send_replace(true);
    }
}

/// `url` with its host and port replaced by the proxy's, and the address it pointed at.
pub fn through(url: &str, port: u16) -> (String, SocketAddr) {
    let start = url.find('@').map(|i| i + 1).unwrap_or_else(|| url.find("://").unwrap() + 3);
    let end = start + url[start..].find('/').unwrap();
    let authority = &url[start..end];
    let authority = if authority.contains(':') { authority.to_string() } else { format!("{authority}:5432") };
    let target =
        std::net::ToSocketAddrs::to_socket_addrs(&authority.replace("localhost", "127.0.0.1")).unwrap().next().unwrap();
    (format!("{}127.0.0.1:{port}{}", &url[..start], &url[end..]), target)
}

/// A fresh Postgres database, a proxy in front of it, and the URL through the proxy.
pub async fn outage_setup() -> (PgDatabase, Proxy, String) {
    let db = PgDatabase::create().await;
    let (_, target) = through(&db.url, 0);
    let proxy = Proxy::spawn(target).await;
    let (url, _) = through(&db.url, proxy.port);
    (db, proxy, url)
}
