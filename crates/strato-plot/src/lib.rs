//! Pictures of what a job did, like Lithops' `plot()`: a **timeline** (one row per task: when
//! it was submitted, when it ran and on which worker) and a **histogram** of how many tasks
//! ran at once, each as PNG and SVG.
//!
//! The input is a list of [`Span`]s, one per task, with times in microseconds since the Unix
//! epoch; the executor (`Executor::plot`) and the `strato plot` command both build them.
//!
//! ```
//! use strato_plot::Span;
//!
//! let spans: Vec<Span> = (0..4)
//!     .map(|i| Span {
//!         task: i,
//!         worker: format!("w{}", i % 2),
//!         submitted_us: 1_000_000,
//!         started_us: 1_000_000 + 10_000 * i,
//!         finished_us: 1_050_000 + 10_000 * i,
//!         received_us: Some(1_060_000 + 10_000 * i),
//!         failed: i == 3,
//!     })
//!     .collect();
//! let dir = std::env::temp_dir().join(format!("strato-plot-doc-{}", std::process::id()));
//! let written = strato_plot::write_all(&spans, &dir, "four tasks").unwrap();
//! assert_eq!(written.len(), 4); // timeline and histogram, PNG and SVG
//! assert!(strato_plot::histogram_svg(&spans, "four tasks").unwrap().starts_with("<svg"));
//! # std::fs::remove_dir_all(dir).unwrap();
//! ```
//!
//! Text in the PNG files is drawn with a font compiled into this crate (a subset of DejaVu
//! Sans, `fonts/LICENSE`), so nothing depends on the fonts or font libraries of the machine.

mod draw;
mod font;

use std::path::{Path, PathBuf};

pub use draw::{histogram_png, histogram_svg, timeline_png, timeline_svg};

/// One task as the plots see it. Times are microseconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// The task's id (rows are ordered by submission, then by id).
    pub task: u64,
    /// The worker that ran it (bars are coloured by worker).
    pub worker: String,
    /// When the driver submitted it.
    pub submitted_us: u64,
    /// When its (last) run started on a worker.
    pub started_us: u64,
    /// When that run ended.
    pub finished_us: u64,
    /// When the driver received its outcome, if known.
    pub received_us: Option<u64>,
    /// Whether it ended without a result.
    pub failed: bool,
}

/// Why a plot could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// No task has times to plot.
    #[error("nothing to plot: no task has finished on a worker")]
    NoTasks,
    /// The drawing failed.
    #[error("cannot draw the plot: {0}")]
    Draw(String),
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
}

/// The width and height of every plot, in pixels.
pub const SIZE: (u32, u32) = (1000, 600);

/// Writes `timeline.png`, `timeline.svg`, `histogram.png` and `histogram.svg` into `dir`
/// (created if absent) and returns their paths, in that order.
pub fn write_all(spans: &[Span], dir: &Path, title: &str) -> Result<Vec<PathBuf>, PlotError> {
    std::fs::create_dir_all(dir).map_err(|source| PlotError::Write {
        path: dir.to_path_buf(),
        source,
    })?;
    let files: [(&str, Vec<u8>); 4] = [
        ("timeline.png", timeline_png(spans, title)?),
        ("timeline.svg", timeline_svg(spans, title)?.into_bytes()),
        ("histogram.png", histogram_png(spans, title)?),
        ("histogram.svg", histogram_svg(spans, title)?.into_bytes()),
    ];
    files
        .into_iter()
        .map(|(name, bytes)| {
            let path = dir.join(name);
            match std::fs::write(&path, bytes) {
                Ok(()) => Ok(path),
                Err(source) => Err(PlotError::Write { path, source }),
            }
        })
        .collect()
}
