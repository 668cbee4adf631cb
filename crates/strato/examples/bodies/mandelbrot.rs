// The body of `mandelbrot`, compiled twice: with std threads and with strato's.
// Only the `use` lines around `include!` differ.

/// A parallel for over rows: thread `t` renders rows t, t + threads, … and writes them into
/// the shared image under its lock (once per thread: fine-grained shared writes do not
/// distribute well). Returns the image's pixels.
pub fn run(width: usize, height: usize, threads: usize) -> Vec<u8> {
    let image = sync::Arc::new(sync::Mutex::new(vec![0u8; width * height]));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let image = image.clone();
            thread::spawn(closure!(move || {
                let rows: Vec<(usize, Vec<u8>)> = (t..height)
                    .step_by(threads)
                    .map(|y| (y, crate::render_row(y, width, height)))
                    .collect();
                let mut pixels = image.lock().expect("a poisoned image");
                for (y, row) in rows {
                    pixels[y * width..(y + 1) * width].copy_from_slice(&row);
                }
            }))
        })
        .collect();
    for handle in handles {
        handle.join().expect("a thread panicked");
    }
    let pixels = image.lock().expect("a poisoned image").clone();
    pixels
}
