//! A run's calibration as a reader audits it: the test part's reliability diagram and scores,
//! overall and patient by patient, and what temperature scaling fitted on the validation part
//! would make of them. The scaling is only shown, never applied to the run's verdicts.

use std::collections::BTreeMap;

use super::OpenRun;
use crate::dataset::Label;
use crate::metrics::calibration::{
    BINS, Binning, CalibrationScores, ReliabilityBin, calibration_scores, fit_temperature, reliability,
    with_temperature,
};

/// The test part's calibration, before and (where the validation part was kept) after
/// temperature scaling.
#[derive(Debug, Clone, PartialEq)]
pub struct RunCalibration {
    pub bins: Vec<ReliabilityBin>,
    pub scores: CalibrationScores,
    /// Worst expected calibration error first.
    pub per_patient: Vec<PatientCalibration>,
    pub scaling: Scaling,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PatientCalibration {
    pub patient: String,
    pub scores: CalibrationScores,
    /// The patient's IDC share among its test patches, and its mean P(IDC): a gap between the
    /// two is what the scores measure.
    pub idc_share: f64,
    pub mean_prob_idc: f64,
}

/// Temperature scaling, where it could be fitted.
#[derive(Debug, Clone, PartialEq)]
pub enum Scaling {
    /// The run kept no validation predictions (trained before they were kept, or imported
    /// without a validation part).
    NoValidationPart,
    /// The validation part holds one class only: no temperature is better than another.
    OneClass {
        validation_patches: usize,
    },
    Fitted(Box<TemperatureScaled>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct TemperatureScaled {
    pub temperature: f64,
    pub validation_patches: usize,
    /// The test part after scaling.
    pub bins: Vec<ReliabilityBin>,
    pub scores: CalibrationScores,
}

impl RunCalibration {
    /// The calibration of `run`'s test part as it is scored now, in `binning`'s bins.
    pub fn of(run: &OpenRun, binning: Binning) -> RunCalibration {
        let rows = run.review.rows();
        let labels: Vec<Label> = rows.iter().map(|row| row.label).collect();
        let prob_idc: Vec<f32> = rows.iter().map(|row| row.prob_idc).collect();
        let (validation_labels, validation_prob_idc) = run.validation();
        let scaling = if validation_labels.is_empty() {
            Scaling::NoValidationPart
        } else if validation_labels
            .iter()
            .all(|&label| label == validation_labels[0])
        {
            Scaling::OneClass {
                validation_patches: validation_labels.len(),
            }
        } else {
            let temperature = fit_temperature(&validation_labels, &validation_prob_idc);
            let scaled: Vec<f32> = prob_idc
                .iter()
                .map(|&p| with_temperature(p, temperature))
                .collect();
            Scaling::Fitted(Box::new(TemperatureScaled {
                temperature,
                validation_patches: validation_labels.len(),
                bins: reliability(&labels, &scaled, BINS, binning),
                scores: calibration_scores(&labels, &scaled),
            }))
        };
        RunCalibration {
            bins: reliability(&labels, &prob_idc, BINS, binning),
            scores: calibration_scores(&labels, &prob_idc),
            per_patient: per_patient(run),
            scaling,
        }
    }

    pub fn scaled(&self) -> Option<&TemperatureScaled> {
        match &self.scaling {
            Scaling::Fitted(scaled) => Some(scaled),
            _ => None,
        }
    }

    /// Why there is no temperature scaling, in words, where there is none.
    pub fn why_not_scaled(&self) -> Option<String> {
        match &self.scaling {
            Scaling::NoValidationPart => Some(
                "Temperature scaling is fitted on the validation part, and this run did not keep its predictions \
                 (runs trained before they were kept, or imported without `part`)."
                    .into(),
            ),
            Scaling::OneClass { validation_patches } => Some(format!(
                "Temperature scaling needs both classes in the validation part; its {validation_patches} patches are of one."
            )),
            Scaling::Fitted(_) => None,
        }
    }
}

fn per_patient(run: &OpenRun) -> Vec<PatientCalibration> {
    let mut by_patient: BTreeMap<&str, (Vec<Label>, Vec<f32>)> = BTreeMap::new();
    for row in run.review.rows() {
        let entry = by_patient.entry(row.patient.as_str()).or_default();
        entry.0.push(row.label);
        entry.1.push(row.prob_idc);
    }
    let mut patients: Vec<PatientCalibration> = by_patient
        .into_iter()
        .map(|(patient, (labels, prob_idc))| {
            let count = labels.len().max(1) as f64;
            PatientCalibration {
                patient: patient.to_string(),
                idc_share: labels.iter().filter(|&&label| label == Label::Idc).count() as f64 / count,
                mean_prob_idc: prob_idc.iter().map(|&p| f64::from(p)).sum::<f64>() / count,
                scores: calibration_scores(&labels, &prob_idc),
            }
        })
        .collect();
    patients.sort_by(|a, b| {
        b.scores
            .ece
            .total_cmp(&a.scores.ece)
            .then(a.patient.cmp(&b.patient))
    });
    patients
}
