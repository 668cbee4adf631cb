//! A blocking socket: TCP, TLS over TCP, or Unix.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;

use strato_proto::Address;

use crate::tls::TlsStream;
use crate::ConnectOptions;

pub(crate) enum Stream {
    Tcp(TcpStream),
    Tls(TlsStream),
    Unix(UnixStream),
}

impl Stream {
    pub fn connect(address: &Address, options: &ConnectOptions) -> io::Result<Stream> {
        Ok(match address {
            Address::Tcp(hostport) => {
                let stream = TcpStream::connect(hostport)?;
                stream.set_nodelay(true)?;
                strato_proto::end_when_unheard(&stream)?;
                Stream::Tcp(stream)
            }
            Address::Tls(hostport) => Stream::Tls(TlsStream::connect(hostport, options)?),
            Address::Unix(path) => Stream::unix(UnixStream::connect(path)?),
            Address::Abstract(name) => Stream::unix(connect_abstract(name)?),
            Address::Redis(url) => {
                let why = format!("{url} is Redis, not a strato state server");
                return Err(io::Error::new(io::ErrorKind::InvalidInput, why));
            }
        })
    }

    /// A Unix socket, with room to send a large frame in one write.
    fn unix(stream: UnixStream) -> Stream {
        strato_proto::pipe::room_for_large_messages(&stream);
        Stream::Unix(stream)
    }

    pub fn try_clone(&self) -> io::Result<Stream> {
        Ok(match self {
            Stream::Tcp(s) => Stream::Tcp(s.try_clone()?),
            Stream::Tls(s) => Stream::Tls(s.clone()),
            Stream::Unix(s) => Stream::Unix(s.try_clone()?),
        })
    }

    pub fn shutdown(&self) {
        let _ = match self {
            Stream::Tcp(s) => s.shutdown(Shutdown::Both),
            Stream::Tls(s) => s.socket().shutdown(Shutdown::Both),
            Stream::Unix(s) => s.shutdown(Shutdown::Both),
        };
    }

    pub fn set_read_timeout(&self, limit: Option<std::time::Duration>) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.set_read_timeout(limit),
            Stream::Tls(s) => s.socket().set_read_timeout(limit),
            Stream::Unix(s) => s.set_read_timeout(limit),
        }
    }
}

#[cfg(target_os = "linux")]
fn connect_abstract(name: &str) -> io::Result<UnixStream> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes())?;
    UnixStream::connect_addr(&addr)
}

#[cfg(not(target_os = "linux"))]
fn connect_abstract(_name: &str) -> io::Result<UnixStream> {
    Err(io::Error::other("abstract sockets exist only on Linux"))
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
            Stream::Unix(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
            Stream::Unix(s) => s.write(buf),
        }
    }

    fn write_vectored(&mut self, bufs: &[io::IoSlice<'_>]) -> io::Result<usize> {
        match self {
            Stream::Tcp(s) => s.write_vectored(bufs),
            Stream::Tls(s) => s.write_vectored(bufs),
            Stream::Unix(s) => s.write_vectored(bufs),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
            Stream::Unix(s) => s.flush(),
        }
    }
}
