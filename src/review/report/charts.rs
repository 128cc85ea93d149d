//! The report's two charts as inline SVG: the ROC curve with the threshold's operating point,
//! and the reliability diagram with each bin's count. Both share one square frame, 0..1 on
//! both axes, so a reader compares them at a glance.

use std::fmt::Write;

use crate::metrics::calibration::ReliabilityBin;

/// The frame's size and margins, in SVG units; the plot is square, and what is left below it
/// holds the ticks and the axis label.
const SIZE: f64 = 360.0;
const MARGIN_LEFT: f64 = 52.0;
const MARGIN_TOP: f64 = 14.0;
const MARGIN_RIGHT: f64 = 14.0;
const PLOT: f64 = SIZE - MARGIN_LEFT - MARGIN_RIGHT;

const CURVE: &str = "#1f6fb2";
const MARK: &str = "#c0392b";
const SCALED: &str = "#e6962b";

fn x_of(value: f64) -> f64 {
    MARGIN_LEFT + value.clamp(0.0, 1.0) * PLOT
}

fn y_of(value: f64) -> f64 {
    MARGIN_TOP + (1.0 - value.clamp(0.0, 1.0)) * PLOT
}

/// An empty frame with its axes, ticks, labels and the diagonal; `body` draws inside it.
fn frame(title: &str, x_label: &str, y_label: &str, body: &str) -> String {
    let mut svg = format!(
        r#"<svg viewBox="0 0 {SIZE} {SIZE}" width="{SIZE}" height="{SIZE}" role="img" aria-label="{title}" font-family="sans-serif" font-size="11">"#
    );
    let _ = write!(
        svg,
        r##"<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{PLOT}" height="{PLOT}" fill="#fff" stroke="#888"/>"##
    );
    for tick in [0.0, 0.25, 0.5, 0.75, 1.0] {
        let (x, y) = (x_of(tick), y_of(tick));
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="{MARGIN_TOP}" x2="{x:.1}" y2="{bottom:.1}" stroke="#eee"/><line x1="{MARGIN_LEFT}" y1="{y:.1}" x2="{right:.1}" y2="{y:.1}" stroke="#eee"/><text x="{x:.1}" y="{below:.1}" text-anchor="middle">{tick}</text><text x="{left:.1}" y="{y_text:.1}" text-anchor="end">{tick}</text>"##,
            bottom = MARGIN_TOP + PLOT,
            right = MARGIN_LEFT + PLOT,
            below = MARGIN_TOP + PLOT + 15.0,
            left = MARGIN_LEFT - 5.0,
            y_text = y + 4.0,
        );
    }
    let _ = write!(
        svg,
        r##"<line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y1:.1}" stroke="#aaa" stroke-dasharray="4 3"/>"##,
        x0 = x_of(0.0),
        y0 = y_of(0.0),
        x1 = x_of(1.0),
        y1 = y_of(1.0),
    );
    svg.push_str(body);
    let _ = write!(
        svg,
        r#"<text x="{cx:.1}" y="{bottom:.1}" text-anchor="middle">{x_label}</text><text transform="translate(14 {cy:.1}) rotate(-90)" text-anchor="middle">{y_label}</text></svg>"#,
        cx = MARGIN_LEFT + PLOT / 2.0,
        bottom = SIZE - 8.0,
        cy = MARGIN_TOP + PLOT / 2.0,
    );
    svg
}

fn polyline(points: impl Iterator<Item = (f64, f64)>, colour: &str) -> String {
    let coordinates: Vec<String> = points
        .map(|(x, y)| format!("{:.1},{:.1}", x_of(x), y_of(y)))
        .collect();
    format!(
        r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
        coordinates.join(" ")
    )
}

/// The ROC curve (false positive rate, true positive rate) and the operating point at the
/// report's threshold.
pub fn roc_svg(curve: &[(f64, f64)], operating_point: (f64, f64), threshold: f32) -> String {
    let mut body = polyline(curve.iter().copied(), CURVE);
    let (x, y) = operating_point;
    let _ = write!(
        body,
        r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="5" fill="{MARK}"/><text x="{tx:.1}" y="{ty:.1}" fill="{MARK}">threshold {threshold:.3}</text>"##,
        cx = x_of(x),
        cy = y_of(y),
        // Above and right of the point, inside the frame, clear of the axis' ticks.
        tx = (x_of(x) + 8.0).min(SIZE - 110.0),
        ty = (y_of(y) - 8.0).max(MARGIN_TOP + 12.0),
    );
    frame(
        "ROC curve",
        "false positive rate",
        "true positive rate (sensitivity)",
        &body,
    )
}

/// Observed IDC rate against mean predicted P(IDC), a dot a bin sized by its count and
/// labelled with it; the scaled predictions' curve too, where given.
pub fn reliability_svg(bins: &[ReliabilityBin], scaled: Option<&[ReliabilityBin]>) -> String {
    let largest = bins.iter().map(|bin| bin.count).max().unwrap_or(1).max(1) as f64;
    let mut body = polyline(
        bins.iter().map(|bin| (bin.mean_predicted, bin.observed_rate)),
        CURVE,
    );
    for bin in bins {
        let radius = 3.0 + 7.0 * (bin.count as f64 / largest).sqrt();
        let (cx, cy) = (x_of(bin.mean_predicted), y_of(bin.observed_rate));
        let _ = write!(
            body,
            r##"<circle cx="{cx:.1}" cy="{cy:.1}" r="{radius:.1}" fill="{CURVE}" fill-opacity="0.35" stroke="{CURVE}"><title>P(IDC) {low:.2}–{high:.2}: {count} patches, predicted {predicted:.3}, observed {observed:.3}</title></circle><text x="{tx:.1}" y="{ty:.1}" font-size="9" fill="#333">{count}</text>"##,
            low = bin.low,
            high = bin.high,
            count = bin.count,
            predicted = bin.mean_predicted,
            observed = bin.observed_rate,
            tx = cx + radius + 2.0,
            ty = cy + 3.0,
        );
    }
    if let Some(scaled) = scaled {
        body.push_str(&polyline(
            scaled.iter().map(|bin| (bin.mean_predicted, bin.observed_rate)),
            SCALED,
        ));
    }
    frame(
        "Reliability diagram",
        "mean predicted P(IDC)",
        "observed IDC rate",
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_whole_svg_elements_with_a_mark_per_bin() {
        let bins = [
            ReliabilityBin {
                low: 0.0,
                high: 0.5,
                count: 30,
                mean_predicted: 0.2,
                observed_rate: 0.1,
            },
            ReliabilityBin {
                low: 0.5,
                high: 1.0,
                count: 10,
                mean_predicted: 0.8,
                observed_rate: 0.9,
            },
        ];
        let svg = reliability_svg(&bins, None);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains(">30</text>") && svg.contains(">10</text>"));
        let roc = roc_svg(&[(0.0, 0.0), (0.2, 0.8), (1.0, 1.0)], (0.2, 0.8), 0.5);
        assert!(roc.contains("<polyline") && roc.contains("threshold 0.500"));
    }
}
