//! Whether P(IDC) can be read as a probability: of the patches given 0.8, are 80% IDC? The
//! reliability diagram (observed IDC rate against mean predicted P(IDC), in bins of equal width
//! or of equal count), the expected calibration error, the Brier score and the log loss, and
//! temperature scaling: one number T, fitted on the validation part, that softens (T > 1) or
//! sharpens (T < 1) every prediction as sigmoid(logit(p) / T).

use serde::{Deserialize, Serialize};

use crate::dataset::Label;

/// Bins of the reliability diagram and of the expected calibration error.
pub const BINS: usize = 10;
/// Probabilities are kept this far from 0 and 1 in the log loss and the logit.
const EPSILON: f64 = 1e-7;

/// How the predictions are split into bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binning {
    /// Bins 0-0.1, 0.1-0.2, ...: easy to read, but the middle bins of a sure model hold few.
    EqualWidth,
    /// Each bin holds as many predictions as the next.
    EqualCount,
}

/// One bin of a reliability diagram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ReliabilityBin {
    /// The P(IDC) range the bin covers.
    pub low: f64,
    pub high: f64,
    pub count: usize,
    pub mean_predicted: f64,
    /// The share of its patches that are IDC.
    pub observed_rate: f64,
}

/// How well calibrated a set of predictions is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CalibrationScores {
    pub patches: usize,
    /// Expected calibration error: the count-weighted gap between predicted and observed in
    /// [`BINS`] equal-width bins.
    pub ece: f64,
    /// The mean squared difference between P(IDC) and the label.
    pub brier: f64,
    /// The mean negative log-likelihood of the labels.
    pub log_loss: f64,
}

/// The reliability diagram of `prob_idc` against `labels`; empty bins are left out.
pub fn reliability(labels: &[Label], prob_idc: &[f32], bins: usize, binning: Binning) -> Vec<ReliabilityBin> {
    let mut pairs: Vec<(f64, bool)> = prob_idc
        .iter()
        .zip(labels)
        .map(|(&p, &label)| (f64::from(p).clamp(0.0, 1.0), label == Label::Idc))
        .collect();
    if pairs.is_empty() || bins == 0 {
        return Vec::new();
    }
    let groups: Vec<Vec<(f64, bool)>> = match binning {
        Binning::EqualWidth => {
            let mut groups = vec![Vec::new(); bins];
            for pair in pairs {
                let bin = ((pair.0 * bins as f64) as usize).min(bins - 1);
                groups[bin].push(pair);
            }
            groups
        }
        Binning::EqualCount => {
            pairs.sort_by(|a, b| a.0.total_cmp(&b.0));
            let per_bin = pairs.len().div_ceil(bins);
            pairs.chunks(per_bin).map(<[_]>::to_vec).collect()
        }
    };
    groups
        .iter()
        .enumerate()
        .filter(|(_, group)| !group.is_empty())
        .map(|(bin, group)| {
            let count = group.len();
            let (low, high) = match binning {
                Binning::EqualWidth => (bin as f64 / bins as f64, (bin + 1) as f64 / bins as f64),
                Binning::EqualCount => (group[0].0, group[count - 1].0),
            };
            ReliabilityBin {
                low,
                high,
                count,
                mean_predicted: group.iter().map(|pair| pair.0).sum::<f64>() / count as f64,
                observed_rate: group.iter().filter(|pair| pair.1).count() as f64 / count as f64,
            }
        })
        .collect()
}

/// ECE, Brier score and log loss of `prob_idc` against `labels`.
pub fn calibration_scores(labels: &[Label], prob_idc: &[f32]) -> CalibrationScores {
    let patches = labels.len().min(prob_idc.len());
    if patches == 0 {
        return CalibrationScores {
            patches,
            ece: 0.0,
            brier: 0.0,
            log_loss: 0.0,
        };
    }
    let bins = reliability(labels, prob_idc, BINS, Binning::EqualWidth);
    let ece = bins
        .iter()
        .map(|bin| bin.count as f64 * (bin.mean_predicted - bin.observed_rate).abs())
        .sum::<f64>()
        / patches as f64;
    let (mut brier, mut log_loss) = (0.0, 0.0);
    for (&p, &label) in prob_idc.iter().zip(labels) {
        let p = f64::from(p).clamp(0.0, 1.0);
        let truth = if label == Label::Idc { 1.0 } else { 0.0 };
        brier += (p - truth).powi(2);
        log_loss -= nll_term(p, truth == 1.0);
    }
    CalibrationScores {
        patches,
        ece,
        brier: brier / patches as f64,
        log_loss: log_loss / patches as f64,
    }
}

fn nll_term(p: f64, idc: bool) -> f64 {
    let p = p.clamp(EPSILON, 1.0 - EPSILON);
    if idc { p.ln() } else { (1.0 - p).ln() }
}

/// `p` softened or sharpened by temperature `t`: sigmoid(logit(p) / t).
pub fn with_temperature(p: f32, t: f64) -> f32 {
    let p = f64::from(p).clamp(EPSILON, 1.0 - EPSILON);
    let logit = (p / (1.0 - p)).ln();
    (1.0 / (1.0 + (-logit / t).exp())) as f32
}

/// The temperature that minimises the log loss of `prob_idc` against `labels` (golden-section
/// search on log T between 1/20 and 20; the log loss is convex in 1/T). 1 when there is
/// nothing to fit.
pub fn fit_temperature(labels: &[Label], prob_idc: &[f32]) -> f64 {
    if labels.is_empty() || labels.iter().all(|&label| label == labels[0]) {
        return 1.0;
    }
    let loss = |log_t: f64| {
        let t = log_t.exp();
        let scaled: Vec<f32> = prob_idc.iter().map(|&p| with_temperature(p, t)).collect();
        calibration_scores(labels, &scaled).log_loss
    };
    let ratio = (5f64.sqrt() - 1.0) / 2.0;
    let (mut low, mut high) = ((1.0f64 / 20.0).ln(), 20f64.ln());
    let mut a = high - ratio * (high - low);
    let mut b = low + ratio * (high - low);
    let (mut loss_a, mut loss_b) = (loss(a), loss(b));
    for _ in 0..60 {
        if loss_a < loss_b {
            high = b;
            b = a;
            loss_b = loss_a;
            a = high - ratio * (high - low);
            loss_a = loss(a);
        } else {
            low = a;
            a = b;
            loss_a = loss_b;
            b = low + ratio * (high - low);
            loss_b = loss(b);
        }
    }
    ((low + high) / 2.0).exp()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labelled(pairs: &[(f32, bool)]) -> (Vec<Label>, Vec<f32>) {
        pairs
            .iter()
            .map(|&(p, idc)| (if idc { Label::Idc } else { Label::NonIdc }, p))
            .unzip()
    }

    #[test]
    fn known_probabilities_give_the_expected_bins_and_ece() {
        // Ten patches at 0.15 of which 3 are IDC (observed 0.3, gap 0.15) and ten at 0.85 of
        // which 8 are IDC (observed 0.8, gap 0.05): ECE = (10 x 0.15 + 10 x 0.05) / 20 = 0.1.
        let mut pairs = Vec::new();
        pairs.extend((0..10).map(|i| (0.15, i < 3)));
        pairs.extend((0..10).map(|i| (0.85, i < 8)));
        let (labels, probs) = labelled(&pairs);
        let bins = reliability(&labels, &probs, 10, Binning::EqualWidth);
        assert_eq!(bins.len(), 2, "empty bins are left out");
        assert_eq!((bins[0].low, bins[0].high, bins[0].count), (0.1, 0.2, 10));
        assert!((bins[0].mean_predicted - 0.15).abs() < 1e-6 && (bins[0].observed_rate - 0.3).abs() < 1e-12);
        assert!((bins[1].observed_rate - 0.8).abs() < 1e-12);
        let scores = calibration_scores(&labels, &probs);
        assert!((scores.ece - 0.1).abs() < 1e-6, "{scores:?}");
        // Brier: 3 x 0.85² + 7 x 0.15² + 8 x 0.15² + 2 x 0.85², over 20.
        let brier = (5.0 * 0.85f64.powi(2) + 15.0 * 0.15f64.powi(2)) / 20.0;
        assert!((scores.brier - brier).abs() < 1e-6);
        let log_loss = -(5.0 * 0.15f64.ln() + 15.0 * 0.85f64.ln()) / 20.0;
        assert!((scores.log_loss - log_loss).abs() < 1e-6);
        let by_count = reliability(&labels, &probs, 4, Binning::EqualCount);
        assert_eq!(
            by_count.iter().map(|bin| bin.count).collect::<Vec<_>>(),
            vec![5, 5, 5, 5]
        );
    }

    #[test]
    fn an_overconfident_model_is_softened_and_its_log_loss_falls() {
        // Truly 70% / 30%, but predicted 0.95 / 0.05: too sure.
        let mut pairs = Vec::new();
        pairs.extend((0..100).map(|i| (0.95, i < 70)));
        pairs.extend((0..100).map(|i| (0.05, i < 30)));
        let (labels, probs) = labelled(&pairs);
        let t = fit_temperature(&labels, &probs);
        assert!(t > 1.5, "softened: T = {t}");
        let scaled: Vec<f32> = probs.iter().map(|&p| with_temperature(p, t)).collect();
        assert!((scaled[0] - 0.7).abs() < 0.01, "{}", scaled[0]);
        assert!(calibration_scores(&labels, &scaled).log_loss < calibration_scores(&labels, &probs).log_loss);
        assert!(calibration_scores(&labels, &scaled).ece < 0.01);
        assert_eq!(with_temperature(0.5, 3.0), 0.5);
    }
}
