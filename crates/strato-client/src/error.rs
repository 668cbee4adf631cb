//! The client's error type.

pub use strato_proto::ErrorKind;

/// Why a call to the state server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The server could not be reached.
    #[error("cannot connect to the state server at {address}: {reason}")]
    Connect {
        /// Where it tried.
        address: String,
        /// The cause.
        reason: String,
    },
    /// The server refused the handshake (token, version).
    #[error("the state server at {address} refused the connection: {reason}")]
    Refused {
        /// The server.
        address: String,
        /// The server's reason.
        reason: String,
    },
    /// The connection broke; calls in flight fail with this.
    #[error("lost the connection to the state server: {0}")]
    ConnectionLost(String),
    /// The request is larger than the server accepts; nothing was sent.
    #[error("message of {size} bytes exceeds the maximum frame size of {max} bytes")]
    TooLarge {
        /// The request's size.
        size: usize,
        /// The server's limit.
        max: usize,
    },
    /// The server reported an error for this call.
    #[error("{message}")]
    Server {
        /// What kind of error.
        kind: ErrorKind,
        /// The server's message.
        message: String,
    },
    /// A value could not be encoded or decoded.
    #[error("cannot encode or decode a value: {0}")]
    Codec(String),
    /// The server answered something this call does not expect.
    #[error("unexpected answer from the state server: {0}")]
    Protocol(String),
}

impl Error {
    /// The server's error kind, if the server reported the error.
    ///
    /// ```
    /// use strato_client::{Error, ErrorKind};
    /// let e = Error::Server { kind: ErrorKind::NotFound, message: "no object".into() };
    /// assert_eq!(e.server_kind(), Some(ErrorKind::NotFound));
    /// ```
    pub fn server_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Server { kind, .. } => Some(*kind),
            _ => None,
        }
    }
}

/// An answer, with a server-side error answer as [`Error::Server`].
pub(crate) fn server_error(answer: strato_proto::Answer) -> Result<strato_proto::Answer, Error> {
    match answer {
        strato_proto::Answer::Error { kind, message } => Err(Error::Server { kind, message }),
        answer => Ok(answer),
    }
}
