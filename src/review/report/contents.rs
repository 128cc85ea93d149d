//! What the shared report says, gathered from an open run, its dataset, its readers and the
//! dataset's label issues, as text the template lays out: every number formatted here, so the
//! template only places them.

use serde::Serialize;

use super::tiles::tile_data_url;
use crate::dataset::split::{Split, SplitPart};
use crate::dataset::{Label, PatchKey, PatchStore};
use crate::metrics::calibration::Binning;
use crate::review::agreement::Agreement;
use crate::review::calibration::RunCalibration;
use crate::review::label_issues::LabelIssueRow;
use crate::review::patients::results_by_patient;
use crate::review::{Cell, OpenRun, Reviews};

/// A name and its value, as a row of a two-column table.
#[derive(Serialize)]
pub struct Fact {
    pub name: String,
    pub value: String,
}

fn fact(name: &str, value: impl Into<String>) -> Fact {
    Fact {
        name: name.into(),
        value: value.into(),
    }
}

#[derive(Serialize)]
pub struct Tile {
    /// A `data:` URL of base64 only, so the template places it unescaped.
    pub data_url: String,
    pub caption: String,
    pub prob_idc: String,
    /// Each reader's judgement and note, one line each.
    pub judgements: Vec<String>,
}

#[derive(Serialize)]
pub struct PatientLine {
    pub patient: String,
    pub test: usize,
    pub idc: usize,
    pub missed: usize,
    pub false_alarms: usize,
    pub sensitivity: String,
    pub specificity: String,
    pub ece: String,
}

#[derive(Serialize)]
pub struct ReaderPair {
    pub readers: String,
    pub both_judged: usize,
    pub kappa: String,
}

#[derive(Serialize)]
pub struct LabelIssueSummary {
    pub patches: usize,
    pub suspected: usize,
    /// The worst few, as lines.
    pub worst: Vec<String>,
}

/// Everything the template shows.
#[derive(Serialize)]
pub struct ReportContents {
    pub title: String,
    pub synthetic: bool,
    pub imported: bool,
    pub run: Vec<Fact>,
    pub dataset: Vec<Fact>,
    pub threshold: String,
    /// `[[tn, fp], [fn, tp]]`.
    pub confusion: [[usize; 2]; 2],
    pub metrics: Vec<Fact>,
    pub roc_svg: String,
    pub reliability_svg: String,
    pub calibration: Vec<Fact>,
    pub scaling: String,
    pub patients: Vec<PatientLine>,
    pub false_negatives: Vec<Tile>,
    pub false_positives: Vec<Tile>,
    pub readers: Vec<Fact>,
    pub reader_pairs: Vec<ReaderPair>,
    pub label_issues: Option<LabelIssueSummary>,
    pub versions: Vec<Fact>,
}

/// What a report is made from.
pub struct ReportInput<'a> {
    pub run: &'a OpenRun,
    pub store: &'a PatchStore,
    /// The run's split, mapped onto the store.
    pub split: &'a Split,
    pub reviews: Option<&'a Reviews>,
    pub label_issues: Option<&'a [LabelIssueRow]>,
    /// How many of the most confident mistakes of each kind are shown as tiles.
    pub tiles: usize,
    /// When the report was made, in words.
    pub made_at: String,
}

pub fn gather(input: &ReportInput) -> ReportContents {
    let run = input.run;
    let threshold = run.threshold();
    let metrics = run.review.metrics(threshold);
    let calibration = RunCalibration::of(run, Binning::EqualWidth);
    let scaled = calibration.scaled();
    let threshold_words = match &run.saved_threshold {
        Some(saved) => format!(
            "{:.3}, saved with the run{}{}",
            saved.threshold,
            saved
                .reader
                .as_ref()
                .map_or_else(String::new, |reader| format!(" by {reader}")),
            if saved.saved_at.is_empty() {
                String::new()
            } else {
                format!(" on {}", saved.saved_at)
            }
        ),
        None => "0.500 (the default; none was saved with the run)".into(),
    };
    let (calibration_facts, scaling) = calibration_facts(&calibration);
    let ece_of = |patient: &str| {
        calibration
            .per_patient
            .iter()
            .find(|scores| scores.patient == patient)
            .map_or_else(|| "–".into(), |scores| format!("{:.3}", scores.scores.ece))
    };
    let patients = results_by_patient(run.review.rows(), threshold)
        .into_iter()
        .map(|result| PatientLine {
            test: result.test_patches(),
            idc: result.idc_patches(),
            missed: result.missed(),
            false_alarms: result.false_alarms(),
            sensitivity: three_places(result.sensitivity()),
            specificity: three_places(result.specificity()),
            ece: ece_of(&result.patient),
            patient: result.patient,
        })
        .collect();
    ReportContents {
        title: format!("Run {}", run.name()),
        synthetic: run.info.synthetic,
        imported: run.info.is_imported(),
        run: run_facts(run),
        dataset: dataset_facts(input),
        threshold: threshold_words,
        confusion: metrics.confusion,
        metrics: metrics_facts(&metrics),
        roc_svg: super::charts::roc_svg(
            run.review.roc_curve(),
            run.review.operating_point(threshold),
            threshold,
        ),
        reliability_svg: super::charts::reliability_svg(
            &calibration.bins,
            scaled.map(|scaled| scaled.bins.as_slice()),
        ),
        calibration: calibration_facts,
        scaling,
        patients,
        false_negatives: confident_mistakes(input, Cell::FalseNegative),
        false_positives: confident_mistakes(input, Cell::FalsePositive),
        readers: reader_facts(input.reviews),
        reader_pairs: reader_pairs(input.reviews),
        label_issues: input.label_issues.map(label_issue_summary),
        versions: vec![
            fact("Report made", input.made_at.clone()),
            fact("idc-studio", env!("CARGO_PKG_VERSION")),
            fact("Run made with idc-studio", run.info.version.clone()),
            fact(
                "Device",
                run.info.device.clone().unwrap_or_else(|| "not recorded".into()),
            ),
            fact(
                "System",
                format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            ),
        ],
    }
}

/// A rate to three places, or a dash where there was nothing to count.
fn three_places(value: Option<f64>) -> String {
    value.map_or_else(|| "–".to_string(), |value| format!("{value:.3}"))
}

fn metrics_facts(metrics: &crate::metrics::Metrics) -> Vec<Fact> {
    vec![
        fact("Test patches", metrics.patches.to_string()),
        fact("Accuracy", format!("{:.4}", metrics.accuracy)),
        fact("Sensitivity (IDC found)", format!("{:.4}", metrics.sensitivity)),
        fact("Specificity", format!("{:.4}", metrics.specificity)),
        fact("Precision", format!("{:.4}", metrics.precision)),
        fact("F1", format!("{:.4}", metrics.f1)),
        fact("Balanced accuracy", format!("{:.4}", metrics.balanced_accuracy)),
        fact("ROC AUC", three_places(metrics.roc_auc)),
    ]
}

fn run_facts(run: &OpenRun) -> Vec<Fact> {
    let info = &run.info;
    let mut facts = vec![fact("Run folder", run.folder.root().display().to_string())];
    if let Some(imported) = &info.imported {
        facts.push(fact(
            "Made by",
            format!(
                "{} from {}",
                crate::training::RunInfo::IMPORTED,
                imported.predictions.display()
            ),
        ));
        facts.push(fact("Rows imported", imported.rows.to_string()));
        facts.push(fact(
            "Embeddings",
            imported
                .embeddings
                .as_ref()
                .map_or_else(|| "none".into(), |path| path.display().to_string()),
        ));
        return facts;
    }
    let config = &info.config;
    facts.extend([
        fact("Model", "CancerNet"),
        fact(
            "Epochs, batch size",
            format!("{}, {}", config.epochs, config.batch_size),
        ),
        fact(
            "Learning rate (decay)",
            format!("{} ({})", config.learning_rate, config.lr_decay),
        ),
        fact(
            "Augmentation",
            format!(
                "{}; stain: {:?}",
                if config.augment { "on" } else { "off" },
                config.stain_augment
            ),
        ),
        fact("Stain normalisation", format!("{:?}", config.normalize_stain)),
        fact("Trained on labels", format!("{:?}", config.labels)),
        fact(
            "Class weights (non-IDC, IDC)",
            format!("{:.3}, {:.3}", info.class_weights[0], info.class_weights[1]),
        ),
    ]);
    facts
}

fn dataset_facts(input: &ReportInput) -> Vec<Fact> {
    let run = input.run;
    let split = input.split;
    let part_counts = |part: SplitPart| {
        let indices = split.indices(part);
        let mut patients: Vec<u32> = indices
            .iter()
            .map(|&index| input.store.patch(index).patient)
            .collect();
        patients.sort_unstable();
        patients.dedup();
        let patches = match indices.len() {
            1 => "1 patch".to_string(),
            count => format!("{count} patches"),
        };
        match patients.len() {
            1 => format!("{patches} of 1 patient"),
            count => format!("{patches} of {count} patients"),
        }
    };
    let [non_idc, idc] = input.store.class_counts();
    vec![
        fact("Dataset", run.info.dataset.display().to_string()),
        fact(
            "Patches",
            format!(
                "{} of {} patients ({non_idc} non-IDC, {idc} IDC)",
                input.store.len(),
                input.store.patients().len()
            ),
        ),
        fact(
            "Split",
            format!("by {:?}, seed {}", run.info.config.split, run.info.config.seed).to_lowercase(),
        ),
        fact("Training part", part_counts(SplitPart::Train)),
        fact("Validation part", part_counts(SplitPart::Validation)),
        fact("Test part", part_counts(SplitPart::Test)),
        fact("Scored against", format!("{:?}", run.scored_by)),
    ]
}

/// The calibration scores as table rows, and what temperature scaling made of them (or why
/// there is none).
fn calibration_facts(calibration: &RunCalibration) -> (Vec<Fact>, String) {
    let scores = &calibration.scores;
    let scaled = calibration.scaled();
    let mut facts = vec![
        fact(
            "Expected calibration error (10 bins)",
            format!("{:.4}", scores.ece),
        ),
        fact("Brier score", format!("{:.4}", scores.brier)),
        fact("Log loss", format!("{:.4}", scores.log_loss)),
    ];
    if let Some(scaled) = scaled {
        facts.push(fact(
            "After temperature scaling: ECE / Brier / log loss",
            format!(
                "{:.4} / {:.4} / {:.4}",
                scaled.scores.ece, scaled.scores.brier, scaled.scores.log_loss
            ),
        ));
    }
    let scaling = match (scaled, calibration.why_not_scaled()) {
        (Some(scaled), _) => format!(
            "Temperature T = {:.2}, fitted on the validation part ({} patches), shown in orange; the verdicts above are the run's own, unscaled.",
            scaled.temperature, scaled.validation_patches
        ),
        (None, Some(why)) => why,
        (None, None) => String::new(),
    };
    (facts, scaling)
}

/// The `input.tiles` patches of `cell` the run was surest of: missed cancers with the lowest
/// P(IDC), false alarms with the highest.
fn confident_mistakes(input: &ReportInput, cell: Cell) -> Vec<Tile> {
    let run = input.run;
    let threshold = run.threshold();
    let rows = run.review.rows();
    let mut chosen = run.review.cell_rows(cell, threshold);
    chosen.sort_by(|&a, &b| {
        let (a, b) = (rows[a].prob_idc, rows[b].prob_idc);
        match cell {
            Cell::FalseNegative => a.total_cmp(&b),
            _ => b.total_cmp(&a),
        }
    });
    chosen
        .into_iter()
        .filter_map(|row| Some((row, run.store_index[row]?)))
        .take(input.tiles)
        .map(|(row, patch)| {
            let row = &rows[row];
            let key = PatchKey {
                patient: row.patient.clone(),
                x: row.x,
                y: row.y,
            };
            Tile {
                data_url: tile_data_url(input.store, patch),
                caption: format!("patient {} x{} y{}", row.patient, row.x, row.y),
                prob_idc: format!("P(IDC) {}", probability_words(row.prob_idc)),
                judgements: judgements(input.reviews, &key),
            }
        })
        .collect()
}

/// A probability to three places; the surest mistakes sit at the ends, where "0.000" would
/// read as "exactly none".
fn probability_words(prob_idc: f32) -> String {
    match prob_idc {
        p if p < 0.001 => "< 0.001".into(),
        p if p > 0.999 => "> 0.999".into(),
        p => format!("{p:.3}"),
    }
}

fn judgements(reviews: Option<&Reviews>, key: &PatchKey) -> Vec<String> {
    let Some(reviews) = reviews else {
        return Vec::new();
    };
    reviews
        .of_patch(key)
        .filter(|annotation| !annotation.is_blank())
        .map(|annotation| {
            let mut line = format!("{}: {}", annotation.reviewer, annotation.state.description());
            if annotation.flagged {
                line.push_str(", flagged");
            }
            if !annotation.note.trim().is_empty() {
                line.push_str(&format!(": “{}”", annotation.note.trim()));
            }
            line
        })
        .collect()
}

fn reader_facts(reviews: Option<&Reviews>) -> Vec<Fact> {
    let Some(reviews) = reviews else {
        return Vec::new();
    };
    reviews
        .readers()
        .map(|reader| {
            let book = reviews.book(reader);
            let relabelled = book.iter().filter(|annotation| annotation.is_relabel()).count();
            fact(
                reader,
                format!("{} patches reviewed, {relabelled} relabelled", book.reviewed()),
            )
        })
        .collect()
}

fn reader_pairs(reviews: Option<&Reviews>) -> Vec<ReaderPair> {
    let Some(reviews) = reviews else {
        return Vec::new();
    };
    let readers: Vec<&str> = reviews.readers().collect();
    let mut pairs = Vec::new();
    for (first, a) in readers.iter().enumerate() {
        for b in &readers[first + 1..] {
            let agreement = Agreement::between(reviews.book(a), reviews.book(b));
            pairs.push(ReaderPair {
                readers: format!("{a} and {b}"),
                both_judged: agreement.both_judged(),
                kappa: agreement
                    .kappa()
                    .map_or_else(|| "–".into(), |kappa| format!("{kappa:.3}")),
            });
        }
    }
    pairs
}

fn label_issue_summary(rows: &[LabelIssueRow]) -> LabelIssueSummary {
    let label = |label: Label| match label {
        Label::Idc => "IDC",
        Label::NonIdc => "non-IDC",
    };
    LabelIssueSummary {
        patches: rows.len(),
        suspected: rows.iter().filter(|row| row.suspected).count(),
        worst: rows
            .iter()
            .filter(|row| row.suspected)
            .take(10)
            .map(|row| {
                format!(
                    "patient {} x{} y{}: labelled {}, out-of-fold P(IDC) {:.3}, label quality {:.3}",
                    row.patient,
                    row.x,
                    row.y,
                    label(row.label),
                    row.prob_idc,
                    row.label_quality
                )
            })
            .collect(),
    }
}
