//! The floor: a raw 64-byte echo between two processes, over a Unix socket and over
//! loopback TCP. Every latency target is a multiple of it.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

use crate::report::Report;

const ECHO_ENV: &str = "STRATO_BENCH_ECHO";

/// Becomes an echo server (and exits) if started as one.
pub fn serve_echo_if_asked() {
    let Ok(address) = std::env::var(ECHO_ENV) else {
        return;
    };
    let result = match address.strip_prefix("tcp:") {
        Some(hostport) => TcpStream::connect(hostport).and_then(|s| {
            s.set_nodelay(true)?;
            echo(s)
        }),
        None => UnixStream::connect(&address).and_then(echo),
    };
    std::process::exit(i32::from(result.is_err()));
}

fn echo<S: Read + Write>(mut stream: S) -> std::io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        if stream.read_exact(&mut buf).is_err() {
            return Ok(());
        }
        stream.write_all(&buf)?;
    }
}

fn spawn_echo(address: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .env(ECHO_ENV, address)
        .stdin(Stdio::null())
        .spawn()
}

/// Median round trip in µs of `rounds` 64-byte echoes (after a warm-up of a tenth as many).
fn ping_pong<S: Read + Write>(mut stream: S, rounds: u32) -> std::io::Result<f64> {
    let mut buf = [7u8; 64];
    let mut times = Vec::with_capacity(rounds as usize);
    for round in 0..rounds + rounds / 10 {
        let start = Instant::now();
        stream.write_all(&buf)?;
        stream.read_exact(&mut buf)?;
        if round >= rounds / 10 {
            times.push(start.elapsed().as_secs_f64() * 1e6);
        }
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Measures `floor_rtt_us` (Unix socket) and `floor_rtt_tcp_us`.
pub fn run(report: &mut Report, quick: bool) -> anyhow::Result<()> {
    let rounds = if quick { 2_000 } else { 20_000 };
    let path = std::env::temp_dir().join(format!("strato-bench-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let mut child = spawn_echo(&path.to_string_lossy())?;
    let (stream, _) = listener.accept()?;
    let unix = ping_pong(stream, rounds)?;
    child.wait()?;
    let _ = std::fs::remove_file(&path);
    report.add(
        "floor_rtt_us",
        unix,
        "µs",
        "64 B echo between two processes, Unix socket",
    );

    let listener = TcpListener::bind("127.0.0.1:0")?;
    let mut child = spawn_echo(&format!("tcp:{}", listener.local_addr()?))?;
    let (stream, _) = listener.accept()?;
    stream.set_nodelay(true)?;
    let tcp = ping_pong(stream, rounds)?;
    child.wait()?;
    report.add("floor_rtt_tcp_us", tcp, "µs", "the same over loopback TCP");
    Ok(())
}
