//! A blocking TLS connection (`tls://host:port`) that one thread can read while others write.
//!
//! The reading half reads ciphertext from the socket without holding any lock, then decrypts
//! it under the session's lock; a writer encrypts under that lock and sends under a lock of
//! its own. No lock is held while blocked on the network, so a large write never stops the
//! reader from draining the socket.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::pki_types::ServerName;
use rustls::{ClientConfig, ClientConnection, RootCertStore};

use crate::ConnectOptions;

/// Bytes read from the socket at a time.
const READ_CHUNK: usize = 64 << 10;

/// One TLS session shared by a reading and a writing half.
#[derive(Clone)]
pub(crate) struct TlsStream {
    shared: Arc<Shared>,
}

struct Shared {
    session: Mutex<Session>,
    /// The socket, read by the reading half only.
    socket: TcpStream,
    /// The socket for writes, in the order records were encrypted.
    writer: Mutex<TcpStream>,
}

/// The TLS state and the plaintext received but not yet read.
struct Session {
    connection: ClientConnection,
    plain: Vec<u8>,
    read_from: usize,
    closed: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl TlsStream {
    /// Connects to `hostport` and completes the handshake, checking the server's certificate
    /// against `options.ca` (or the system's roots).
    pub fn connect(hostport: &str, options: &ConnectOptions) -> io::Result<TlsStream> {
        let mut socket = TcpStream::connect(hostport)?;
        socket.set_nodelay(true)?;
        strato_proto::end_when_unheard(&socket)?;
        let host = hostport.rsplit_once(':').map_or(hostport, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let mut connection =
            ClientConnection::new(client_config(options)?, name).map_err(io::Error::other)?;
        socket.set_read_timeout(Some(options.timeout))?;
        while connection.is_handshaking() {
            connection
                .complete_io(&mut socket)
                .map_err(|e| explain(e, options))?;
        }
        socket.set_read_timeout(None)?;
        let session = Session {
            connection,
            plain: Vec::new(),
            read_from: 0,
            closed: false,
        };
        Ok(TlsStream {
            shared: Arc::new(Shared {
                session: Mutex::new(session),
                writer: Mutex::new(socket.try_clone()?),
                socket,
            }),
        })
    }

    /// The underlying socket (for timeouts and shutdown).
    pub fn socket(&self) -> &TcpStream {
        &self.shared.socket
    }

    /// Decrypts `ciphertext` into the session's plaintext; sends what the session must answer.
    fn take_in(&self, mut ciphertext: &[u8]) -> io::Result<()> {
        let mut session = lock(&self.shared.session);
        while !ciphertext.is_empty() {
            session.connection.read_tls(&mut ciphertext)?;
            session
                .connection
                .process_new_packets()
                .map_err(io::Error::other)?;
            session.drain_plaintext()?;
        }
        let mut answer = Vec::new();
        while session.connection.wants_write() {
            session.connection.write_tls(&mut answer)?;
        }
        drop(session);
        if !answer.is_empty() {
            lock(&self.shared.writer).write_all(&answer)?;
        }
        Ok(())
    }
}

impl Session {
    /// Moves the decrypted bytes out of rustls (whose buffer is small) into `plain`.
    fn drain_plaintext(&mut self) -> io::Result<()> {
        let mut chunk = [0u8; 16 << 10];
        loop {
            match self.connection.reader().read(&mut chunk) {
                Ok(0) => {
                    self.closed = true;
                    return Ok(());
                }
                Ok(n) => self.plain.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
    }

    /// Copies buffered plaintext into `buf`; `None` if there is none.
    fn give(&mut self, buf: &mut [u8]) -> Option<usize> {
        let available = self.plain.len() - self.read_from;
        if available == 0 {
            return self.closed.then_some(0);
        }
        let n = available.min(buf.len());
        buf[..n].copy_from_slice(&self.plain[self.read_from..self.read_from + n]);
        self.read_from += n;
        if self.read_from == self.plain.len() {
            self.plain.clear();
            self.read_from = 0;
        }
        Some(n)
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut ciphertext = vec![0u8; READ_CHUNK];
        loop {
            if let Some(n) = lock(&self.shared.session).give(buf) {
                return Ok(n);
            }
            let n = (&self.shared.socket).read(&mut ciphertext)?;
            if n == 0 {
                return Ok(0);
            }
            self.take_in(&ciphertext[..n])?;
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut writer = lock(&self.shared.writer);
        let mut records = Vec::with_capacity(buf.len() + 64);
        {
            let mut session = lock(&self.shared.session);
            let mut rest = buf;
            while !rest.is_empty() {
                let taken = session.connection.writer().write(rest)?;
                let mut sealed = false;
                while session.connection.wants_write() {
                    sealed |= session.connection.write_tls(&mut records)? > 0;
                }
                if taken == 0 && !sealed {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "TLS session closed",
                    ));
                }
                rest = &rest[taken..];
            }
        }
        writer.write_all(&records)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        lock(&self.shared.writer).flush()
    }
}

fn client_config(options: &ConnectOptions) -> io::Result<Arc<ClientConfig>> {
    let roots = match &options.ca {
        Some(ca) => roots_from(ca)?,
        None => system_roots(),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(io::Error::other)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn roots_from(ca: &Path) -> io::Result<RootCertStore> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let bad = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .map_err(|e| bad(format!("cannot read the CA file {}: {e}", ca.display())))?;
    for cert in certs {
        let cert =
            cert.map_err(|e| bad(format!("bad PEM in the CA file {}: {e}", ca.display())))?;
        roots
            .add(cert)
            .map_err(|e| bad(format!("bad CA certificate in {}: {e}", ca.display())))?;
    }
    if roots.is_empty() {
        return Err(bad(format!(
            "the CA file {} holds no certificate",
            ca.display()
        )));
    }
    Ok(roots)
}

fn system_roots() -> RootCertStore {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    roots
}

/// A handshake failure, said plainly when the cause is an untrusted certificate.
fn explain(e: io::Error, options: &ConnectOptions) -> io::Error {
    let text = e.to_string();
    if !text.contains("invalid peer certificate") {
        return e;
    }
    let trusted = match &options.ca {
        Some(ca) => format!("the CA in {}", ca.display()),
        None => "the system's CA store".to_string(),
    };
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!(
            "the server's TLS certificate is not trusted by {trusted} ({text}); give the CA that \
             signed it with STRATO_TLS_CA or `ca` under [state] in strato.toml"
        ),
    )
}
