//! What one connection may hold: caps on connections (all of them, and per client address,
//! IPv6 by its /64) enforced when a connection is accepted, before a byte of it is read. A
//! connection over a cap is closed at once, so half-open connections from one address cannot
//! use up the descriptors every other client and `/healthz` need. The header-read timeout that
//! closes a connection sending its headers too slowly is set on the HTTP builder (`main.rs`).

use crate::limit::address_key;
use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// The caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnLimits {
    /// Open connections in all.
    pub max: usize,
    /// Open connections per client address (IPv6: per /64).
    pub per_address: usize,
}

impl Default for ConnLimits {
    fn default() -> ConnLimits {
        ConnLimits {
            max: 4096,
            per_address: 128,
        }
    }
}

#[derive(Default)]
struct Counts {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// The open connections, counted; shared by every accepted connection's [`Held`] guard.
#[derive(Clone)]
pub struct Caps {
    limits: ConnLimits,
    counts: Arc<Mutex<Counts>>,
    refused: Arc<std::sync::atomic::AtomicU64>,
}

/// One counted connection: uncounted when dropped (the connection closed).
pub struct Held {
    caps: Caps,
    key: IpAddr,
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut c = self.caps.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.by_address.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.by_address.remove(&self.key);
            }
        }
    }
}

impl Caps {
    /// Caps of `limits`, nothing open.
    pub fn new(limits: ConnLimits) -> Caps {
        Caps {
            limits,
            counts: Arc::default(),
            refused: Arc::default(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a new connection from `ip`, or `None` when a cap is reached.
    pub fn admit(&self, ip: IpAddr) -> Option<Held> {
        let key = address_key(ip);
        let mut c = self.lock();
        let mine = c.by_address.get(&key).copied().unwrap_or(0);
        if c.total >= self.limits.max || mine >= self.limits.per_address {
            self.refused
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return None;
        }
        c.total += 1;
        *c.by_address.entry(key).or_insert(0) += 1;
        Some(Held {
            caps: self.clone(),
            key,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// Connections closed at accept because a cap was reached, since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// A TCP stream counted against the caps while it is open.
pub struct Capped {
    inner: TcpStream,
    _held: Held,
}

impl AsyncRead for Capped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, b: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, b)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// The acceptor that counts every connection (under TLS, the inner acceptor: the cap is taken
/// before the handshake).
#[derive(Clone)]
pub struct CapAcceptor(pub Caps);

impl<S: Send + 'static> axum_server::accept::Accept<TcpStream, S> for CapAcceptor {
    type Stream = Capped;
    type Service = S;
    type Future = std::future::Ready<io::Result<(Capped, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let held = stream.peer_addr().ok().and_then(|a| self.0.admit(a.ip()));
        std::future::ready(match held {
            Some(h) => {
                let _ = stream.set_nodelay(true);
                Ok((
                    Capped {
                        inner: stream,
                        _held: h,
                    },
                    service,
                ))
            }
            // Dropped here: the connection is closed before anything of it is read.
            None => Err(io::Error::other("connection cap reached")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_count_per_address_and_in_all_and_free_on_drop() {
        let caps = Caps::new(ConnLimits {
            max: 3,
            per_address: 2,
        });
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        let a2: IpAddr = "2001:db8::ffff:2".parse().unwrap(); // the same /64
        let b: IpAddr = "192.0.2.1".parse().unwrap();
        let h1 = caps.admit(a).unwrap();
        let _h2 = caps.admit(a2).unwrap();
        assert!(caps.admit(a).is_none(), "per /64");
        let _h3 = caps.admit(b).unwrap();
        assert!(caps.admit("192.0.2.2".parse().unwrap()).is_none(), "in all");
        assert_eq!((caps.open(), caps.refused()), (3, 2));
        drop(h1);
        assert!(caps.admit(a).is_some());
    }
}
