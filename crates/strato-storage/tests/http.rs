//! Datasets over plain HTTP: a tiny HTTP/1.1 server in this test process (loopback, port 0)
//! that honours `HEAD` and `Range`, and one that ignores `Range`.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::assert_lines_once;
use strato_storage::{Dataset, StorageError};

/// A server of one file at `/data/corpus.txt`; it counts the body bytes it sends.
struct FileServer {
    address: String,
    sent: Arc<AtomicU64>,
}

impl FileServer {
    fn start(content: Vec<u8>, honour_ranges: bool) -> FileServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let sent = Arc::new(AtomicU64::new(0));
        let counter = sent.clone();
        let content = Arc::new(content);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (content, counter) = (content.clone(), counter.clone());
                std::thread::spawn(move || serve(stream, &content, honour_ranges, &counter));
            }
        });
        FileServer { address, sent }
    }

    fn url(&self) -> String {
        format!("http://{}/data/corpus.txt", self.address)
    }
}

/// Answers the requests of one connection (keep-alive) until the client closes it.
fn serve(stream: TcpStream, content: &[u8], honour_ranges: bool, sent: &AtomicU64) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut stream = stream;
    loop {
        let mut request = String::new();
        if reader.read_line(&mut request).unwrap_or(0) == 0 {
            return;
        }
        let mut range = None;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).unwrap_or(0) == 0 || header.trim().is_empty() {
                break;
            }
            let lower = header.to_ascii_lowercase();
            if let Some(value) = lower.strip_prefix("range: bytes=") {
                range = parse_range(value.trim(), content.len() as u64);
            }
        }
        let mut parts = request.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let response = respond(method, path, content, range.filter(|_| honour_ranges));
        sent.fetch_add(response.1.len() as u64, Ordering::SeqCst);
        if stream
            .write_all(&response.0)
            .and_then(|()| stream.write_all(&response.1))
            .is_err()
        {
            return;
        }
    }
}

fn parse_range(value: &str, size: u64) -> Option<(u64, u64)> {
    let (start, end) = value.split_once('-')?;
    let start: u64 = start.parse().ok()?;
    let end = match end {
        "" => size - 1,
        end => end.parse::<u64>().ok()?.min(size - 1),
    };
    Some((start, end))
}

/// The head and body of the answer.
fn respond(
    method: &str,
    path: &str,
    content: &[u8],
    range: Option<(u64, u64)>,
) -> (Vec<u8>, Vec<u8>) {
    if path != "/data/corpus.txt" {
        return (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
            Vec::new(),
        );
    }
    let (status, body, extra) = match range {
        Some((start, end)) => (
            "206 Partial Content",
            &content[start as usize..=end as usize],
            format!("Content-Range: bytes {start}-{end}/{}\r\n", content.len()),
        ),
        None => ("200 OK", content, String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}\r\n",
        body.len()
    );
    let body = if method == "HEAD" {
        Vec::new()
    } else {
        body.to_vec()
    };
    (head.into_bytes(), body)
}

fn corpus() -> Vec<u8> {
    (0..5000)
        .map(|i| format!("line number {i} of the corpus\n"))
        .collect::<String>()
        .into_bytes()
}

#[test]
fn http_dataset_is_read_by_ranges_line_aligned() {
    let content = corpus();
    let server = FileServer::start(content.clone(), true);
    let dataset = Dataset::urls([server.url()]).chunk_count(7);
    let objects = dataset.objects().unwrap();
    assert_eq!(objects[0].key, "data/corpus.txt");
    assert_eq!(objects[0].size, content.len() as u64);
    let parts = dataset.partitions().unwrap();
    assert_eq!(parts.len(), 7);
    let before = server.sent.load(Ordering::SeqCst);
    let first = parts[3].read_all().unwrap();
    let one_part = server.sent.load(Ordering::SeqCst) - before;
    let range = parts[3].range();
    let at_most = range.end - range.start + 1 + (4 << 10);
    assert!(
        one_part <= at_most,
        "a partition fetched {one_part} bytes, over {at_most}"
    );
    assert!(first.ends_with(b"\n"));
    assert_lines_once(&content, &parts);
}

#[test]
fn http_input_location_is_one_object() {
    let server = FileServer::start(corpus(), true);
    let objects = Dataset::at(&server.url()).unwrap().objects().unwrap();
    assert_eq!(objects.len(), 1);
}

#[test]
fn http_server_without_ranges_is_refused_with_a_reason() {
    let server = FileServer::start(corpus(), false);
    let parts = Dataset::urls([server.url()])
        .chunk_count(3)
        .partitions()
        .unwrap();
    let error = parts[1].read_all().unwrap_err();
    assert!(
        matches!(error, StorageError::Unsupported { .. }),
        "{error:?}"
    );
}

#[test]
fn http_missing_object_is_not_found() {
    let server = FileServer::start(corpus(), true);
    let url = format!("http://{}/nothing.txt", server.address);
    let error = Dataset::urls([url]).objects().unwrap_err();
    assert!(error.to_string().contains("no object"), "{error}");
}
