//! The results of one run: metrics in the order measured, a table, a flat JSON object.

use std::path::Path;

/// One measured number.
struct Metric {
    name: String,
    value: f64,
    unit: &'static str,
    note: String,
}

/// Every metric of a run.
#[derive(Default)]
pub struct Report {
    metrics: Vec<Metric>,
}

impl Report {
    /// Records a metric; `note` says what it is compared with.
    pub fn add(&mut self, name: &str, value: f64, unit: &'static str, note: impl Into<String>) {
        self.metrics.push(Metric {
            name: name.to_string(),
            value,
            unit,
            note: note.into(),
        });
    }

    /// The value of a metric measured earlier in this run.
    pub fn get(&self, name: &str) -> Option<f64> {
        self.metrics
            .iter()
            .find(|m| m.name == name)
            .map(|m| m.value)
    }

    /// Prints the table.
    pub fn print(&self) {
        let width = self.metrics.iter().map(|m| m.name.len()).max().unwrap_or(6);
        println!("{:width$}  {:>12}  {:5}  note", "metric", "value", "unit");
        println!("{}", "-".repeat(width + 40));
        for m in &self.metrics {
            println!(
                "{:width$}  {:>12.3}  {:5}  {}",
                m.name, m.value, m.unit, m.note
            );
        }
    }

    /// Writes `{ "<metric>": <number>, … }`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let object: serde_json::Map<String, serde_json::Value> = self
            .metrics
            .iter()
            .map(|m| (m.name.clone(), serde_json::json!(m.value)))
            .collect();
        std::fs::write(path, serde_json::to_string_pretty(&object)? + "\n")?;
        Ok(())
    }
}
