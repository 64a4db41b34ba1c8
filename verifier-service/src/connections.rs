//! Admission of TCP connections for both servers: a bound on connections in total and per
//! client ([`Budget`], also used for other things a client can hold, such as request bodies),
//! and an idle timeout on every admitted connection. Lets a server keep answering
//! while one client opens connections it never uses: that client runs into its own share, and
//! what it holds open silently is closed.
//!
//! A client is an IPv4 address or an IPv6 /64 ([`ClientKey`]), as for rate limits.

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// Who a connection or a request budget belongs to: an IPv4 address, or the /64 of an IPv6
/// address (one host commonly holds a whole /64, so single IPv6 addresses are free to rotate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClientKey {
    /// An IPv4 client (also when reached through an IPv4-mapped IPv6 address).
    V4([u8; 4]),
    /// The first 64 bits of an IPv6 client address.
    V6Prefix([u8; 8]),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.octets()),
                None => {
                    let octets = v6.octets();
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&octets[..8]);
                    Self::V6Prefix(prefix)
                }
            },
        }
    }
}

/// How many connections a server holds and for how long an idle one may stay.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// Most connections open at once.
    pub max_total: usize,
    /// Most connections open at once from one client.
    pub max_per_client: usize,
    /// A connection on which no byte moved either way for this long is closed.
    pub idle_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_total: 4096,
            max_per_client: 64,
            idle_timeout: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Default)]
struct Held {
    total: usize,
    per_client: HashMap<ClientKey, usize>,
}

/// Units of something held at once (connections, bytes of request bodies), bounded in total
/// and per client; cheap to clone (shared counts).
#[derive(Debug, Clone)]
pub struct Budget {
    max_total: usize,
    max_per_client: usize,
    held: Arc<Mutex<Held>>,
}

/// Why a reservation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The server holds its maximum in all.
    #[error("refused: the server holds its maximum")]
    Full,
    /// This client holds its maximum.
    #[error("refused: this client holds its maximum")]
    ClientFull,
}

impl Budget {
    /// Nothing held yet; at most `max_total` units in all and `max_per_client` per client.
    pub fn new(max_total: usize, max_per_client: usize) -> Self {
        Self {
            max_total,
            max_per_client,
            held: Arc::default(),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, Held> {
        // Plain counters: a panic elsewhere cannot leave them half-updated.
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Units held now.
    pub fn held_units(&self) -> usize {
        self.held().total
    }

    /// Reserves `units` for `peer`, or refuses. The permit gives them back when dropped.
    pub fn reserve(&self, peer: IpAddr, units: usize) -> Result<Permit, Refused> {
        let client = ClientKey::from(peer);
        let mut held = self.held();
        if held.total.saturating_add(units) > self.max_total {
            return Err(Refused::Full);
        }
        let count = held.per_client.entry(client).or_default();
        if count.saturating_add(units) > self.max_per_client {
            if *count == 0 {
                held.per_client.remove(&client);
            }
            return Err(Refused::ClientFull);
        }
        *count += units;
        held.total += units;
        Ok(Permit {
            budget: self.clone(),
            client,
            units,
        })
    }
}

/// Counts open connections against [`ConnectionLimits`].
#[derive(Debug, Clone)]
pub struct Admission {
    connections: Budget,
    idle_timeout: Duration,
}

impl Admission {
    /// No connections open yet.
    pub fn new(limits: ConnectionLimits) -> Self {
        Self {
            connections: Budget::new(limits.max_total, limits.max_per_client),
            idle_timeout: limits.idle_timeout,
        }
    }

    /// Connections open now.
    pub fn open_connections(&self) -> usize {
        self.connections.held_units()
    }

    /// Counts a connection from `peer`, or refuses it. The permit gives the slot back when
    /// dropped.
    pub fn admit(&self, peer: IpAddr) -> Result<Permit, Refused> {
        self.connections.reserve(peer, 1)
    }

    /// Admits an accepted stream: counted, and closed when idle.
    pub fn admit_stream(&self, stream: TcpStream) -> io::Result<Admitted<TcpStream>> {
        let peer = stream.peer_addr()?;
        // Small request/response exchanges must not wait on Nagle + delayed ACK (~40 ms each).
        stream.set_nodelay(true)?;
        let permit = self.admit(peer.ip()).map_err(|refused| {
            tracing::debug!(peer = %peer.ip(), %refused, "connection closed at once");
            io::Error::new(io::ErrorKind::ConnectionRefused, refused)
        })?;
        Ok(Admitted::new(stream, permit, self.idle_timeout))
    }
}

/// Units reserved from a [`Budget`]; dropping it gives them back.
#[derive(Debug)]
pub struct Permit {
    budget: Budget,
    client: ClientKey,
    units: usize,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut held = self.budget.held();
        held.total = held.total.saturating_sub(self.units);
        if let Some(count) = held.per_client.get_mut(&self.client) {
            *count = count.saturating_sub(self.units);
            if *count == 0 {
                held.per_client.remove(&self.client);
            }
        }
    }
}

/// A stream that holds its [`Permit`] and fails with `TimedOut` once no byte has moved either
/// way for the idle timeout.
#[derive(Debug)]
pub struct Admitted<S> {
    stream: S,
    _permit: Permit,
    idle_timeout: Duration,
    /// When a byte last moved: a clock read per operation, cheaper than re-arming the timer.
    last_moved: Instant,
    /// Fires at the earliest moment the connection could be idle too long; re-armed then.
    deadline: Pin<Box<Sleep>>,
}

impl<S> Admitted<S> {
    fn new(stream: S, permit: Permit, idle_timeout: Duration) -> Self {
        Self {
            stream,
            _permit: permit,
            idle_timeout,
            last_moved: Instant::now(),
            deadline: Box::pin(tokio::time::sleep(idle_timeout)),
        }
    }

    fn moved(&mut self) {
        self.last_moved = Instant::now();
    }

    /// While the stream has nothing to give or take: pending until the idle deadline, then
    /// the connection's end.
    fn idle<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        while self.deadline.as_mut().poll(cx).is_ready() {
            let due = self.last_moved + self.idle_timeout;
            if Instant::now() >= due {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                )));
            }
            self.deadline.as_mut().reset(due);
        }
        Poll::Pending
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Admitted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.moved();
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle(cx),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Admitted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.stream).poll_write(cx, buf) {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => self.idle(cx),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

impl tonic::transport::server::Connected for Admitted<TcpStream> {
    type ConnectInfo = tonic::transport::server::TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn limits(max_total: usize, max_per_client: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_total,
            max_per_client,
            idle_timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn one_client_runs_into_its_own_share_and_slots_come_back() {
        let admission = Admission::new(limits(3, 2));
        let greedy: IpAddr = "127.0.0.2".parse().unwrap();
        let first = admission.admit(greedy).unwrap();
        let _second = admission.admit(greedy).unwrap();
        assert_eq!(admission.admit(greedy).unwrap_err(), Refused::ClientFull);
        // Same /64: the same client.
        let v6a: IpAddr = "2001:db8::1".parse().unwrap();
        let v6b: IpAddr = "2001:db8::2".parse().unwrap();
        let _v6 = admission.admit(v6a).unwrap();
        assert_eq!(admission.open_connections(), 3);
        assert_eq!(admission.admit(v6b).unwrap_err(), Refused::Full);
        drop(first);
        assert!(admission.admit(greedy).is_ok());
    }

    #[test]
    fn a_budget_counts_units_and_gives_them_back() {
        let budget = Budget::new(10, 6);
        let client: IpAddr = "127.0.0.2".parse().unwrap();
        let big = budget.reserve(client, 5).unwrap();
        assert_eq!(budget.reserve(client, 2).unwrap_err(), Refused::ClientFull);
        let _small = budget.reserve(client, 1).unwrap();
        let other: IpAddr = "127.0.0.3".parse().unwrap();
        assert_eq!(budget.reserve(other, 5).unwrap_err(), Refused::Full);
        let _fits = budget.reserve(other, 4).unwrap();
        drop(big);
        assert_eq!(budget.held_units(), 5);
        assert!(budget.reserve(client, 5).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_silent_connection_is_closed_and_a_busy_one_is_not() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let admission = Admission::new(ConnectionLimits {
            idle_timeout: Duration::from_secs(10),
            ..limits(4, 4)
        });
        let mut client = TcpStream::connect(address).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let mut server = admission.admit_stream(server).unwrap();
        assert_eq!(admission.open_connections(), 1);
        // Bytes arriving every 6 s keep it open past the 10 s timeout.
        let mut byte = [0u8; 1];
        for _ in 0..3 {
            tokio::time::advance(Duration::from_secs(6)).await;
            client.write_all(b"x").await.unwrap();
            server.read_exact(&mut byte).await.unwrap();
        }
        // Then silence: the read fails once the timeout passes (paused time auto-advances).
        let error = server.read(&mut byte).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        drop(server);
        assert_eq!(admission.open_connections(), 0);
    }
}
