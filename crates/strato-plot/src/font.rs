//! The font compiled into the crate, registered once with plotters.

use std::sync::Once;

use plotters::style::FontStyle;

/// A subset of DejaVu Sans (ASCII and a few symbols); see `fonts/LICENSE`.
const SANS: &[u8] = include_bytes!("../fonts/DejaVuSans-subset.ttf");

/// The family name text styles use.
pub(crate) const FAMILY: &str = "sans-serif";

/// Registers the font under [`FAMILY`] (once per process).
pub(crate) fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        if plotters::style::register_font(FAMILY, FontStyle::Normal, SANS).is_err() {
            // A broken font file is a build defect; the plots are then drawn without text.
            eprintln!("strato-plot: the built-in font is unreadable");
        }
    });
}
