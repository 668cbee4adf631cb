//! The Mandelbrot set as a parallel for over rows into a shared image, written as a PNG.
//!
//! One body, two builds: `--local` runs it on std threads, the default on strato threads;
//! both print the same `result:` line (the image's size and checksum). 0 lines of the body
//! differ.
//!
//! ```text
//! cargo run --release -p strato --example mandelbrot -- --width 800 --height 600 -o mandelbrot.png
//! ```

use clap::Parser;

mod local {
    use std::{sync, thread};
    use strato::local::closure;
    include!("bodies/mandelbrot.rs");
}

mod cloud {
    use strato::closure;
    use strato::{sync, thread};
    include!("bodies/mandelbrot.rs");
}

/// One row of the image: escape times scaled to grey levels.
fn render_row(y: usize, width: usize, height: usize) -> Vec<u8> {
    const LIMIT: u32 = 255;
    let ci = -1.2 + 2.4 * y as f64 / height as f64;
    (0..width)
        .map(|x| {
            let cr = -2.2 + 3.2 * x as f64 / width as f64;
            let (mut zr, mut zi, mut n) = (0.0f64, 0.0f64, 0);
            while n < LIMIT && zr * zr + zi * zi <= 4.0 {
                (zr, zi) = (zr * zr - zi * zi + cr, 2.0 * zr * zi + ci);
                n += 1;
            }
            (255 - n) as u8
        })
        .collect()
}

/// FNV-1a of the pixels: the same image gives the same number.
fn checksum(pixels: &[u8]) -> u64 {
    pixels.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

fn write_png(
    path: &std::path::Path,
    width: usize,
    height: usize,
    pixels: &[u8],
) -> std::io::Result<()> {
    let file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut encoder = png::Encoder::new(file, width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(std::io::Error::other)?;
    writer
        .write_image_data(pixels)
        .map_err(std::io::Error::other)
}

/// The Mandelbrot set, rendered by threads into one shared image.
#[derive(Debug, Parser)]
struct Args {
    /// Run on std threads instead of strato's.
    #[arg(long)]
    local: bool,
    /// Threads (each renders every `threads`-th row).
    #[arg(long, default_value_t = 4)]
    threads: usize,
    /// Image width in pixels.
    #[arg(long, default_value_t = 400)]
    width: usize,
    /// Image height in pixels.
    #[arg(long, default_value_t = 300)]
    height: usize,
    /// Where to write the PNG.
    #[arg(short, long, default_value = "mandelbrot.png")]
    output: std::path::PathBuf,
}

fn main() -> std::io::Result<()> {
    strato::init();
    let args = Args::parse();
    let pixels = match args.local {
        true => local::run(args.width, args.height, args.threads),
        false => cloud::run(args.width, args.height, args.threads),
    };
    write_png(&args.output, args.width, args.height, &pixels)?;
    println!("wrote {}", args.output.display());
    println!(
        "result: {}x{} checksum={:016x}",
        args.width,
        args.height,
        checksum(&pixels)
    );
    Ok(())
}
