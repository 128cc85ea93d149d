//! The report to share: one self-contained HTML file of a run's audit (settings, split, the
//! confusion matrix and metrics at the saved threshold, ROC and reliability as SVG, patients,
//! the surest mistakes as tiles with the readers' judgements, reader agreement, label issues,
//! device and versions). Images are inline `data:` URLs and nothing is fetched, so it opens the
//! same from a mail or a USB stick.

mod charts;
mod contents;
mod tiles;

pub use contents::{ReportContents, ReportInput, gather};

/// The template, laid out in `assets/report.html` and escaped as HTML by its name.
const TEMPLATE: &str = include_str!("../../../assets/report.html");

#[derive(Debug, thiserror::Error)]
#[error("the report's template: {0}")]
pub struct ReportError(#[from] minijinja::Error);

/// The report's HTML.
pub fn build_report(input: &ReportInput) -> Result<String, ReportError> {
    let contents = gather(input);
    let mut environment = minijinja::Environment::new();
    environment.add_template("report.html", TEMPLATE)?;
    Ok(environment
        .get_template("report.html")?
        .render(minijinja::value::Serde(&contents))?)
}
