//! Writes a text corpus for `wordcount`: files of lines of words drawn from a synthetic
//! vocabulary with Zipf's law (a few words very common, most rare), some capitalised.
//!
//! ```text
//! cargo run --release -p strato --example gen_corpus -- --out /tmp/corpus            # 16 MiB
//! cargo run --release -p strato --example gen_corpus -- --out /tmp/corpus --large    # 1 GiB
//! ```

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use clap::Parser;

/// Writes a multi-file text corpus.
#[derive(Debug, Parser)]
struct Args {
    /// The directory to write into (created if absent).
    #[arg(long, default_value = "corpus")]
    out: PathBuf,
    /// How many files.
    #[arg(long, default_value_t = 8)]
    files: u64,
    /// Bytes in all (split evenly over the files).
    #[arg(long, default_value_t = 16 << 20)]
    bytes: u64,
    /// 1 GiB over 16 files (overrides --files and --bytes).
    #[arg(long)]
    large: bool,
    /// Distinct words in the vocabulary.
    #[arg(long, default_value_t = 50_000)]
    vocabulary: usize,
    /// End lines with "\r\n" instead of "\n".
    #[arg(long)]
    crlf: bool,
    /// Seed of the generator (the same seed writes the same corpus).
    #[arg(long, default_value_t = 1)]
    seed: u64,
}

/// A xorshift generator: fast, deterministic, good enough for text.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "an", "el", "or", "ix", "be", "du", "fa", "go",
    "he", "ju", "qua", "ri", "st", "th", "wo", "ze",
];

/// The vocabulary's distinct words, most frequent first.
fn vocabulary(size: usize, rng: &mut Rng) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut words = Vec::with_capacity(size);
    while words.len() < size {
        let syllables = 1 + rng.below(4) + u64::from(words.len() > 1000);
        let word: String = (0..syllables)
            .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
            .collect();
        if seen.insert(word.clone()) {
            words.push(word);
        }
    }
    words
}

/// Cumulative Zipf weights (1/rank), scaled to u64.
fn zipf(size: usize) -> Vec<u64> {
    let total: f64 = (1..=size).map(|r| 1.0 / r as f64).sum();
    let mut sum = 0.0;
    (1..=size)
        .map(|r| {
            sum += 1.0 / r as f64;
            (sum / total * u64::MAX as f64) as u64
        })
        .collect()
}

fn pick<'a>(words: &'a [String], cumulative: &[u64], rng: &mut Rng) -> &'a str {
    let x = rng.next();
    let i = cumulative.partition_point(|&c| c < x).min(words.len() - 1);
    &words[i]
}

/// Writes one file of about `bytes` bytes.
fn write_file(
    path: &PathBuf,
    bytes: u64,
    words: &[String],
    cumulative: &[u64],
    args: &Args,
    rng: &mut Rng,
) -> std::io::Result<()> {
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let newline: &[u8] = if args.crlf { b"\r\n" } else { b"\n" };
    let mut written = 0u64;
    let mut line = Vec::with_capacity(256);
    while written < bytes {
        line.clear();
        for i in 0..3 + rng.below(14) {
            if i > 0 {
                line.push(if rng.below(20) == 0 { b'\t' } else { b' ' });
            }
            let word = pick(words, cumulative, rng).as_bytes();
            let start = line.len();
            line.extend_from_slice(word);
            if i == 0 || rng.below(10) == 0 {
                line[start] = line[start].to_ascii_uppercase();
            }
        }
        line.extend_from_slice(newline);
        out.write_all(&line)?;
        written += line.len() as u64;
    }
    out.flush()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = Args::parse();
    if args.large {
        (args.files, args.bytes) = (16, 1 << 30);
    }
    std::fs::create_dir_all(&args.out)?;
    let mut rng = Rng(args.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
    let words = vocabulary(args.vocabulary.max(1), &mut rng);
    let cumulative = zipf(words.len());
    let files = args.files.max(1);
    for i in 0..files {
        let path = args.out.join(format!("part-{i:04}.txt"));
        let share = args.bytes / files + u64::from(i < args.bytes % files);
        write_file(&path, share, &words, &cumulative, &args, &mut rng)?;
    }
    println!(
        "wrote {} files, {} bytes, into {}",
        files,
        args.bytes,
        args.out.display()
    );
    Ok(())
}
