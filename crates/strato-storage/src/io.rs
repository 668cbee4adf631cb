//! Streaming reads ([`ObjectReader`]) and multipart writes ([`ObjectWriter`]).

use std::io::{BufRead, Read, Write};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::{MultipartUpload, WriteMultipart};

use crate::runtime::{block_on, enter};
use crate::StorageError;

/// The chunks of an object as the store sends them.
pub(crate) type ByteStream = BoxStream<'static, Result<Bytes, String>>;

/// Reads an object (or a range of it) as the store streams it: [`Read`] and [`BufRead`].
/// Made by [`Storage::reader`](crate::Storage::reader) and
/// [`Storage::reader_range`](crate::Storage::reader_range).
///
/// ```
/// use std::io::Read;
/// let storage = strato_storage::Storage::from_url("memory://").unwrap();
/// storage.put("k", "abc").unwrap();
/// let mut bytes = Vec::new();
/// storage.reader("k").unwrap().read_to_end(&mut bytes).unwrap();
/// assert_eq!(bytes, b"abc");
/// ```
pub struct ObjectReader {
    key: String,
    stream: Option<ByteStream>,
    chunk: Bytes,
}

impl ObjectReader {
    pub(crate) fn new(key: &str, stream: ByteStream) -> ObjectReader {
        ObjectReader {
            key: key.into(),
            stream: Some(stream),
            chunk: Bytes::new(),
        }
    }

    pub(crate) fn empty(key: &str) -> ObjectReader {
        ObjectReader {
            key: key.into(),
            stream: None,
            chunk: Bytes::new(),
        }
    }

    /// The next chunk from the store, or `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> std::io::Result<Option<Bytes>> {
        if !self.chunk.is_empty() {
            return Ok(Some(std::mem::take(&mut self.chunk)));
        }
        let Some(stream) = self.stream.as_mut() else {
            return Ok(None);
        };
        match block_on(stream.next()) {
            Some(Ok(chunk)) => Ok(Some(chunk)),
            Some(Err(reason)) => Err(std::io::Error::other(StorageError::Backend {
                operation: "read",
                key: self.key.clone(),
                reason,
            })),
            None => {
                self.stream = None;
                Ok(None)
            }
        }
    }
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("key", &self.key)
            .field("buffered", &self.chunk.len())
            .finish()
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ObjectReader {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        while self.chunk.is_empty() {
            match self.next_chunk()? {
                Some(chunk) => self.chunk = chunk,
                None => break,
            }
        }
        Ok(&self.chunk)
    }

    fn consume(&mut self, amount: usize) {
        let _ = self.chunk.split_to(amount.min(self.chunk.len()));
    }
}

/// How many parts one writer uploads at once.
const PARTS_IN_FLIGHT: usize = 4;

/// Writes an object in parts (a multipart upload; parts of 5 MiB go up while you write).
/// The object appears when [`ObjectWriter::finish`] returns; a writer dropped unfinished
/// aborts the upload and leaves no object. Made by [`Storage::writer`](crate::Storage::writer).
///
/// ```
/// use std::io::Write;
/// let storage = strato_storage::Storage::from_url("memory://").unwrap();
/// let mut writer = storage.writer("out").unwrap();
/// writeln!(writer, "line").unwrap();
/// assert_eq!(writer.finish().unwrap(), 5);
/// assert_eq!(storage.get("out").unwrap(), b"line\n");
/// ```
pub struct ObjectWriter {
    key: String,
    store: String,
    upload: Option<WriteMultipart>,
    written: u64,
}

impl ObjectWriter {
    pub(crate) fn new(key: &str, store: &str, upload: Box<dyn MultipartUpload>) -> ObjectWriter {
        ObjectWriter {
            key: key.into(),
            store: store.into(),
            upload: Some(WriteMultipart::new(upload)),
            written: 0,
        }
    }

    /// Uploads what is left and completes the object; returns its size.
    ///
    /// ```
    /// let storage = strato_storage::Storage::from_url("memory://").unwrap();
    /// let writer = storage.writer("empty").unwrap();
    /// assert_eq!(writer.finish().unwrap(), 0);
    /// assert_eq!(storage.get("empty").unwrap(), b"");
    /// ```
    pub fn finish(mut self) -> Result<u64, StorageError> {
        let Some(upload) = self.upload.take() else {
            return Ok(self.written);
        };
        block_on(upload.finish()).map_err(|e| self.error(e))?;
        Ok(self.written)
    }

    fn error(&self, e: object_store::Error) -> StorageError {
        StorageError::from_store("write", &self.key, &self.store, e)
    }
}

impl std::fmt::Debug for ObjectWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectWriter")
            .field("key", &self.key)
            .field("written", &self.written)
            .finish()
    }
}

impl Write for ObjectWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let Some(upload) = self.upload.as_mut() else {
            return Err(std::io::Error::other("the object writer is finished"));
        };
        {
            let _runtime = enter();
            upload.write(buf);
        }
        let waited = block_on(upload.wait_for_capacity(PARTS_IN_FLIGHT));
        waited.map_err(|e| std::io::Error::other(self.error(e)))?;
        self.written += buf.len() as u64;
        Ok(buf.len())
    }

    /// Parts go up as they fill; the rest goes with [`ObjectWriter::finish`].
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for ObjectWriter {
    fn drop(&mut self) {
        if let Some(upload) = self.upload.take() {
            if let Err(e) = block_on(upload.abort()) {
                tracing::debug!("aborting the upload of `{}`: {e}", self.key);
            }
        }
    }
}
