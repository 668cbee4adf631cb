//! How a TCP connection that can no longer be heard ends: keepalive probes after a short
//! silence, and a bound on how long sent data may stay unacknowledged. Both ends of every
//! TCP connection set it, so a cut link ends the connection on each side within seconds: the
//! server then gives the tasks leased to that connection to other workers, and a host
//! reconnects once the link is back. A worker busy computing still answers the probes (its
//! kernel does), so a long task never looks dead.

use std::os::fd::AsFd;
use std::time::Duration;

use socket2::{SockRef, TcpKeepalive};

/// Silence after which the first keepalive probe is sent.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
/// Time between unanswered probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// Unanswered probes after which the connection ends.
pub const KEEPALIVE_RETRIES: u32 = 3;
/// How long sent data may stay unacknowledged before the connection ends.
pub const UNACKED_LIMIT: Duration = Duration::from_secs(8);

/// Makes a TCP socket end once its peer cannot be heard (see the module docs): after about
/// [`KEEPALIVE_IDLE`] + [`KEEPALIVE_RETRIES`] × [`KEEPALIVE_INTERVAL`] of silence, or
/// [`UNACKED_LIMIT`] with data unacknowledged.
///
/// ```
/// let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
/// let stream = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
/// strato_proto::end_when_unheard(&stream).unwrap();
/// ```
pub fn end_when_unheard(socket: &impl AsFd) -> std::io::Result<()> {
    let socket = SockRef::from(socket);
    let keepalive = TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_RETRIES);
    socket.set_tcp_keepalive(&keepalive)?;
    #[cfg(target_os = "linux")]
    socket.set_tcp_user_timeout(Some(UNACKED_LIMIT))?;
    Ok(())
}
