//! Printing scan reports, confusion matrices and metrics for people to read.

use crate::dataset::{PatchStore, ScanReport};
use crate::metrics::Metrics;

pub fn print_scan_report(report: &ScanReport, store: &PatchStore) {
    if report.synthetic {
        println!("SYNTHETIC demo data: not real tissue");
    }
    let [non_idc, idc] = report.class_counts;
    println!("dataset      {}", report.root.display());
    println!("patients     {}", report.patients);
    println!(
        "patches      {} (class 0 non-IDC {non_idc}, class 1 IDC {idc}, {:.1}% IDC)",
        report.patches,
        100.0 * idc as f64 / report.patches.max(1) as f64
    );
    println!(
        "edge patches {} (smaller than 50x50, padded)",
        report.edge_patches
    );
    println!(
        "memory       {:.1} MB of pixels",
        store.pixel_bytes() as f64 / 1e6
    );
    for nested in &report.nested_copies_skipped {
        println!("not walked   {} (a nested copy of the dataset)", nested.display());
    }
    println!("skipped      {} files", report.skipped.len());
    for (kind, count) in report.skipped_by_kind() {
        println!("  {count:>8}  {kind}");
    }
}

pub fn print_metrics(metrics: &Metrics) {
    let [[tn, fp], [fn_, tp]] = metrics.confusion;
    let width = [tn, fp, fn_, tp]
        .iter()
        .map(|n| n.to_string().len())
        .max()
        .unwrap_or(1)
        .max(6);
    println!(
        "confusion matrix at threshold {:.2} ({} test patches)",
        metrics.threshold, metrics.patches
    );
    println!("                 {:>width$}  {:>width$}", "pred 0", "pred 1");
    println!("  truth 0 non-IDC {tn:>width$}  {fp:>width$}");
    println!("  truth 1 IDC     {fn_:>width$}  {tp:>width$}   <- {fn_} missed cancer (false negatives)");
    println!("accuracy          {:.4}", metrics.accuracy);
    println!("sensitivity (IDC) {:.4}", metrics.sensitivity);
    println!("specificity       {:.4}", metrics.specificity);
    println!("precision (IDC)   {:.4}", metrics.precision);
    println!("F1 (IDC)          {:.4}", metrics.f1);
    println!("balanced accuracy {:.4}", metrics.balanced_accuracy);
    match metrics.roc_auc {
        Some(auc) => println!("ROC AUC           {auc:.4}"),
        None => println!("ROC AUC           n/a (one class only)"),
    }
    if let Some(calibration) = &metrics.calibration {
        println!(
            "calibration       ECE {:.4} (10 equal-width bins), Brier {:.4}, log loss {:.4}",
            calibration.ece, calibration.brier, calibration.log_loss
        );
    }
}

/// The reliability diagram as a table: each bin's predicted P(IDC) against the observed share
/// of IDC, with its count.
pub fn print_reliability(bins: &[crate::metrics::calibration::ReliabilityBin]) {
    println!("reliability (equal-width bins): P(IDC) range, patches, mean predicted, observed IDC rate");
    for bin in bins {
        println!(
            "  {:.1}-{:.1} {:>8} {:>8.3} {:>8.3}",
            bin.low, bin.high, bin.count, bin.mean_predicted, bin.observed_rate
        );
    }
}
