//! The results of one run: metrics in the order measured, a table, a flat JSON object; and
//! several rounds of a run folded into one by taking each metric's median.

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

    /// Folds several rounds of the same groups into one report: each metric's value is the
    /// median of its values across the rounds, and its note lists them in round order.
    ///
    /// A ratio is the median of the rounds' own ratios (each round's taken from one round's
    /// pair of measurements), so it need not equal the quotient of the two medians beside it.
    ///
    /// ```text
    /// let folded = Report::median_of(vec![round_1, round_2, round_3]);
    /// folded.print();
    /// ```
    pub fn median_of(mut rounds: Vec<Report>) -> Report {
        if rounds.len() <= 1 {
            return rounds.pop().unwrap_or_default();
        }
        let metrics = rounds[0]
            .metrics
            .iter()
            .map(|metric| {
                let values: Vec<f64> = rounds.iter().filter_map(|r| r.get(&metric.name)).collect();
                let each: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
                Metric {
                    name: metric.name.clone(),
                    value: median(values.clone()),
                    unit: metric.unit,
                    note: format!(
                        "{} [median of {} rounds: {}]",
                        metric.note,
                        values.len(),
                        each.join(", ")
                    ),
                }
            })
            .collect();
        Report { metrics }
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

/// The median of `values` (the mean of the middle two for an even count).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    match values.len() % 2 {
        1 => values[middle],
        _ => (values[middle - 1] + values[middle]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round(values: &[(&str, f64)]) -> Report {
        let mut report = Report::default();
        for (name, value) in values {
            report.add(name, *value, "µs", "what");
        }
        report
    }

    #[test]
    fn rounds_fold_to_each_metrics_median_in_the_first_rounds_order() {
        let folded = Report::median_of(vec![
            round(&[("b", 3.0), ("a", 10.0)]),
            round(&[("b", 1.0), ("a", 30.0)]),
            round(&[("b", 2.0), ("a", 20.0)]),
        ]);
        let names: Vec<&str> = folded.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["b", "a"]);
        assert_eq!(folded.get("b"), Some(2.0));
        assert_eq!(folded.get("a"), Some(20.0));
        assert_eq!(
            folded.metrics[0].note,
            "what [median of 3 rounds: 3.000, 1.000, 2.000]"
        );
    }

    #[test]
    fn an_even_number_of_rounds_takes_the_middle_twos_mean() {
        let folded = Report::median_of(vec![round(&[("a", 1.0)]), round(&[("a", 4.0)])]);
        assert_eq!(folded.get("a"), Some(2.5));
    }

    #[test]
    fn one_round_is_kept_as_it_is() {
        let folded = Report::median_of(vec![round(&[("a", 1.0)])]);
        assert_eq!(folded.get("a"), Some(1.0));
        assert_eq!(folded.metrics[0].note, "what");
    }
}
