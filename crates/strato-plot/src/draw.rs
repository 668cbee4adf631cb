//! Drawing the two plots on any plotters backend, and the PNG and SVG entry points.

use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;

use crate::font::{self, FAMILY};
use crate::{PlotError, Span, SIZE};

/// Bins of the concurrency histogram.
const BINS: usize = 100;
/// Rows beyond which the timeline leaves out the "received" markers (they would hide the bars).
const MARKED_ROWS: usize = 200;
/// Workers named in a legend; the others are drawn unnamed.
const NAMED_WORKERS: usize = 10;

fn err(e: impl std::fmt::Display) -> PlotError {
    PlotError::Draw(e.to_string())
}

/// The spans worth drawing, in submission order, and the time range they cover.
struct Prepared<'a> {
    spans: Vec<&'a Span>,
    origin: u64,
    end: u64,
}

impl<'a> Prepared<'a> {
    fn new(spans: &'a [Span]) -> Result<Prepared<'a>, PlotError> {
        let mut spans: Vec<&Span> = spans
            .iter()
            .filter(|s| s.started_us > 0 && s.finished_us >= s.started_us)
            .collect();
        spans.sort_by_key(|s| (s.submitted_us, s.task));
        let origin = spans.iter().map(|s| s.submitted_us.min(s.started_us)).min();
        let origin = origin.ok_or(PlotError::NoTasks)?;
        let end = spans
            .iter()
            .map(|s| s.finished_us.max(s.received_us.unwrap_or(0)))
            .max()
            .unwrap_or(origin);
        Ok(Prepared { spans, origin, end })
    }

    /// Seconds since the origin.
    fn at(&self, us: u64) -> f64 {
        us.saturating_sub(self.origin) as f64 / 1e6
    }

    /// The x range: the whole job and a little room.
    fn x_max(&self) -> f64 {
        (self.at(self.end) * 1.02).max(1e-3)
    }

    /// Worker names in order of first appearance.
    fn workers(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = Vec::new();
        for span in &self.spans {
            if !names.contains(&span.worker.as_str()) {
                names.push(&span.worker);
            }
        }
        names
    }
}

/// The timeline as an SVG document.
pub fn timeline_svg(spans: &[Span], title: &str) -> Result<String, PlotError> {
    svg(|root| draw_timeline(root, &Prepared::new(spans)?, title))
}

/// The timeline as a PNG file's bytes.
pub fn timeline_png(spans: &[Span], title: &str) -> Result<Vec<u8>, PlotError> {
    png_of(|root| draw_timeline(root, &Prepared::new(spans)?, title))
}

/// The concurrency histogram as an SVG document.
pub fn histogram_svg(spans: &[Span], title: &str) -> Result<String, PlotError> {
    svg(|root| draw_histogram(root, &Prepared::new(spans)?, title))
}

/// The concurrency histogram as a PNG file's bytes.
pub fn histogram_png(spans: &[Span], title: &str) -> Result<Vec<u8>, PlotError> {
    png_of(|root| draw_histogram(root, &Prepared::new(spans)?, title))
}

fn svg(
    draw: impl FnOnce(&DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<String, PlotError> {
    font::register();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root)?;
        root.present().map_err(err)?;
    }
    Ok(out)
}

fn png_of(
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Result<(), PlotError>,
) -> Result<Vec<u8>, PlotError> {
    font::register();
    let mut rgb = vec![0u8; SIZE.0 as usize * SIZE.1 as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root)?;
        root.present().map_err(err)?;
    }
    encode_png(&rgb)
}

fn encode_png(rgb: &[u8]) -> Result<Vec<u8>, PlotError> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, SIZE.0, SIZE.1);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::Best);
    let mut writer = encoder.write_header().map_err(err)?;
    writer.write_image_data(rgb).map_err(err)?;
    writer.finish().map_err(err)?;
    Ok(out)
}

fn draw_timeline<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &Prepared<'_>,
    title: &str,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let rows = p.spans.len();
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{title}: timeline"), (FAMILY, 22))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..p.x_max(), 0f64..rows as f64)
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc("seconds since the first submission")
        .y_desc("task, in order of submission")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .y_label_formatter(&|y| format!("{y:.0}"))
        .draw()
        .map_err(err)?;
    let waits = p.spans.iter().enumerate().map(|(row, s)| {
        let (y0, y1) = (row as f64 + 0.4, row as f64 + 0.6);
        Rectangle::new(
            [(p.at(s.submitted_us), y0), (p.at(s.started_us), y1)],
            RGBColor(190, 190, 190).filled(),
        )
    });
    chart
        .draw_series(waits)
        .map_err(err)?
        .label("submitted, waiting")
        .legend(|(x, y)| {
            Rectangle::new(
                [(x, y - 2), (x + 14, y + 2)],
                RGBColor(190, 190, 190).filled(),
            )
        });
    for (index, worker) in p.workers().into_iter().enumerate() {
        let color = Palette99::pick(index).to_rgba();
        let bars = p
            .spans
            .iter()
            .enumerate()
            .filter(|(_, s)| s.worker == worker);
        let bars = bars.map(|(row, s)| {
            let (y0, y1) = (row as f64 + 0.1, row as f64 + 0.9);
            Rectangle::new(
                [(p.at(s.started_us), y0), (p.at(s.finished_us), y1)],
                color.filled(),
            )
        });
        let series = chart.draw_series(bars).map_err(err)?;
        if index < NAMED_WORKERS {
            series
                .label(format!("ran on worker {worker}"))
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled())
                });
        }
    }
    mark_failures(&mut chart, p)?;
    mark_receipts(&mut chart, p)?;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

fn mark_failures<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Prepared<'_>,
) -> Result<(), PlotError> {
    let failed: Vec<_> = p
        .spans
        .iter()
        .enumerate()
        .filter(|(_, s)| s.failed)
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    let outlines = failed.into_iter().map(|(row, s)| {
        let (y0, y1) = (row as f64 + 0.05, row as f64 + 0.95);
        let x1 = p.at(s.finished_us);
        Rectangle::new([(p.at(s.started_us), y0), (x1, y1)], RED.stroke_width(2))
    });
    chart
        .draw_series(outlines)
        .map_err(err)?
        .label("failed")
        .legend(|(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], RED.stroke_width(2)));
    Ok(())
}

fn mark_receipts<DB: DrawingBackend>(
    chart: &mut Chart<'_, DB>,
    p: &Prepared<'_>,
) -> Result<(), PlotError> {
    if p.spans.len() > MARKED_ROWS || p.spans.iter().all(|s| s.received_us.is_none()) {
        return Ok(());
    }
    let marks = p.spans.iter().enumerate().filter_map(|(row, s)| {
        let at = p.at(s.received_us?);
        Some(Circle::new((at, row as f64 + 0.5), 3, BLACK.filled()))
    });
    chart
        .draw_series(marks)
        .map_err(err)?
        .label("result received by the driver")
        .legend(|(x, y)| Circle::new((x + 7, y), 3, BLACK.filled()));
    Ok(())
}

/// Average number of spans inside each bin, for spans `[from(s), to(s)]`.
fn occupancy(
    p: &Prepared<'_>,
    width: f64,
    from: fn(&Span) -> u64,
    to: fn(&Span) -> u64,
) -> Vec<f64> {
    let mut bins = vec![0.0; BINS];
    for span in &p.spans {
        let (a, b) = (p.at(from(span)), p.at(to(span)));
        for (index, bin) in bins.iter_mut().enumerate() {
            let (lo, hi) = (index as f64 * width, (index + 1) as f64 * width);
            let overlap = b.min(hi) - a.max(lo);
            if overlap > 0.0 {
                *bin += overlap / width;
            }
        }
    }
    bins
}

fn draw_histogram<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    p: &Prepared<'_>,
    title: &str,
) -> Result<(), PlotError> {
    root.fill(&WHITE).map_err(err)?;
    let width = p.x_max() / BINS as f64;
    let running = occupancy(p, width, |s| s.started_us, |s| s.finished_us);
    let waiting = occupancy(p, width, |s| s.submitted_us, |s| s.started_us);
    let top = running
        .iter()
        .chain(&waiting)
        .fold(1.0f64, |m, v| m.max(*v))
        * 1.1;
    let mut chart = ChartBuilder::on(root)
        .caption(format!("{title}: tasks running at once"), (FAMILY, 22))
        .margin(14)
        .x_label_area_size(45)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..p.x_max(), 0f64..top)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("seconds since the first submission")
        .y_desc("tasks (mean over each bin)")
        .label_style((FAMILY, 14))
        .axis_desc_style((FAMILY, 15))
        .draw()
        .map_err(err)?;
    let blue = RGBColor(31, 119, 180);
    let bars = running.iter().enumerate().map(|(index, count)| {
        let x = index as f64 * width;
        Rectangle::new([(x, 0.0), (x + width, *count)], blue.mix(0.75).filled())
    });
    chart
        .draw_series(bars)
        .map_err(err)?
        .label("running on a worker")
        .legend(move |(x, y)| {
            Rectangle::new([(x, y - 5), (x + 14, y + 5)], blue.mix(0.75).filled())
        });
    let orange = RGBColor(255, 127, 14);
    let line = waiting
        .iter()
        .enumerate()
        .map(|(index, count)| ((index as f64 + 0.5) * width, *count));
    chart
        .draw_series(LineSeries::new(line, orange.stroke_width(2)))
        .map_err(err)?
        .label("submitted, waiting for a worker")
        .legend(move |(x, y)| PathElement::new([(x, y), (x + 14, y)], orange.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spans(n: u64) -> Vec<Span> {
        (0..n)
            .map(|i| Span {
                task: i,
                worker: format!("{}", i % 3),
                submitted_us: 10_000_000,
                started_us: 10_000_000 + 1_000 * i,
                finished_us: 10_020_000 + 1_000 * i,
                received_us: Some(10_021_000 + 1_000 * i),
                failed: i == 2,
            })
            .collect()
    }

    #[test]
    fn pngs_carry_the_png_signature() {
        let png = timeline_png(&spans(20), "t").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let png = histogram_png(&spans(20), "t").unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    }

    #[test]
    fn svgs_are_svg_documents_with_text() {
        let svg = timeline_svg(&spans(5), "five").unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("five: timeline"));
        assert!(histogram_svg(&spans(5), "five")
            .unwrap()
            .contains("running at once"));
    }

    #[test]
    fn nothing_to_plot_without_runs() {
        let mut none = spans(2);
        none.iter_mut().for_each(|s| s.started_us = 0);
        assert!(matches!(timeline_svg(&none, "x"), Err(PlotError::NoTasks)));
        assert!(matches!(histogram_png(&[], "x"), Err(PlotError::NoTasks)));
    }

    #[test]
    fn occupancy_counts_overlapping_runs() {
        let all = spans(3);
        let p = Prepared::new(&all).unwrap();
        let width = p.x_max() / BINS as f64;
        let running = occupancy(&p, width, |s| s.started_us, |s| s.finished_us);
        let peak = running.iter().fold(0.0f64, |m, v| m.max(*v));
        assert!((peak - 3.0).abs() < 1e-6, "peak {peak}");
    }
}
