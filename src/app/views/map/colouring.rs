//! What colour each point of the map takes, by the reader's choice, and the legend's classes
//! with their counts. A point in no class of the choice (a training patch, when colouring by
//! outcome) is drawn faint grey, so the classes stand out against the rest of the dataset.

use egui::Color32;

use crate::dataset::Label;
use crate::dataset::split::SplitPart;
use crate::review::Cell;
use crate::review::annotations::ReviewState;

/// What the points are coloured by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ColourBy {
    Label,
    Prediction,
    #[default]
    Outcome,
    ProbIdc,
    Part,
    Patient,
    Judgement,
    LabelIssue,
    Disagreement,
}

impl ColourBy {
    pub const ALL: [ColourBy; 9] = [
        ColourBy::Outcome,
        ColourBy::Label,
        ColourBy::Prediction,
        ColourBy::ProbIdc,
        ColourBy::Part,
        ColourBy::Patient,
        ColourBy::Judgement,
        ColourBy::LabelIssue,
        ColourBy::Disagreement,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ColourBy::Label => "Label",
            ColourBy::Prediction => "Prediction at the threshold",
            ColourBy::Outcome => "Outcome (test part)",
            ColourBy::ProbIdc => "P(IDC)",
            ColourBy::Part => "Part of the split",
            ColourBy::Patient => "Patient",
            ColourBy::Judgement => "Your judgement",
            ColourBy::LabelIssue => "Label-issue score",
            ColourBy::Disagreement => "Readers' disagreement",
        }
    }
}

/// Drawn for points outside every class of the choice.
pub const OTHER: Color32 = Color32::from_rgb(62, 62, 68);

pub const NON_IDC: Color32 = Color32::from_rgb(70, 140, 230);
pub const IDC: Color32 = Color32::from_rgb(235, 70, 60);

/// One class of the legend.
#[derive(Debug, Clone, PartialEq)]
pub struct LegendEntry {
    pub name: String,
    pub colour: Color32,
    pub count: usize,
}

/// What is known of one patch for colouring.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PointFacts {
    pub label: Label,
    pub prob_idc: f32,
    pub part: Option<SplitPart>,
    pub cell: Option<Cell>,
    pub patient: u32,
    pub judgement: ReviewState,
    /// How much the cross-validated models doubt its label (1 - label quality), when known.
    pub label_doubt: Option<f32>,
    /// Readers' judgements differ (None: fewer than two readers judged it).
    pub readers_disagree: Option<bool>,
}

/// The classes of a choice (continuous choices: bands), each point's class, and their colours.
pub fn classes(by: ColourBy, threshold: f32) -> Vec<(String, Color32)> {
    let named = |pairs: &[(&str, Color32)]| pairs.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    match by {
        ColourBy::Label => named(&[("non-IDC (0)", NON_IDC), ("IDC (1)", IDC)]),
        ColourBy::Prediction => named(&[
            (&format!("P(IDC) below {threshold:.2}"), NON_IDC),
            (&format!("P(IDC) {threshold:.2} or above"), IDC),
        ]),
        ColourBy::Outcome => named(&[
            ("true negative", Color32::from_rgb(90, 130, 200)),
            ("false positive", Color32::from_rgb(250, 170, 40)),
            ("false negative (missed IDC)", Color32::from_rgb(240, 40, 200)),
            ("true positive", Color32::from_rgb(60, 190, 90)),
        ]),
        ColourBy::ProbIdc | ColourBy::LabelIssue => (0..5)
            .map(|band| {
                let low = band as f32 / 5.0;
                let name = match by {
                    ColourBy::ProbIdc => format!("P(IDC) {low:.1}-{:.1}", low + 0.2),
                    _ => format!("doubt {low:.1}-{:.1}", low + 0.2),
                };
                (name, ramp(low + 0.1))
            })
            .collect(),
        ColourBy::Part => named(&[
            ("train", Color32::from_rgb(120, 120, 200)),
            ("validation", Color32::from_rgb(200, 170, 60)),
            ("test", Color32::from_rgb(230, 80, 80)),
        ]),
        ColourBy::Patient => Vec::new(),
        ColourBy::Judgement => named(&[
            ("agreed", Color32::from_rgb(60, 190, 90)),
            ("relabelled non-IDC", NON_IDC),
            ("relabelled IDC", IDC),
            ("unsure", Color32::from_rgb(250, 200, 40)),
        ]),
        ColourBy::Disagreement => named(&[
            ("readers agree", Color32::from_rgb(60, 190, 90)),
            ("readers disagree", Color32::from_rgb(240, 40, 200)),
        ]),
    }
}

/// The class of a point (an index into [`classes`]), or None: drawn as [`OTHER`].
pub fn class_of(by: ColourBy, facts: &PointFacts, threshold: f32) -> Option<usize> {
    let band = |value: f32| ((value.clamp(0.0, 1.0) * 5.0) as usize).min(4);
    match by {
        ColourBy::Label => Some(facts.label.index()),
        ColourBy::Prediction => Some(usize::from(facts.prob_idc >= threshold)),
        ColourBy::Outcome => facts
            .cell
            .map(|cell| Cell::ALL.iter().position(|&c| c == cell).unwrap_or(0)),
        ColourBy::ProbIdc => Some(band(facts.prob_idc)),
        ColourBy::LabelIssue => facts.label_doubt.map(band),
        ColourBy::Part => facts.part.map(|part| match part {
            SplitPart::Train => 0,
            SplitPart::Validation => 1,
            SplitPart::Test => 2,
        }),
        ColourBy::Patient => Some(facts.patient as usize),
        ColourBy::Judgement => match facts.judgement {
            ReviewState::Unreviewed => None,
            ReviewState::Agree => Some(0),
            ReviewState::RelabelNonIdc => Some(1),
            ReviewState::RelabelIdc => Some(2),
            ReviewState::Unsure => Some(3),
        },
        ColourBy::Disagreement => facts.readers_disagree.map(usize::from),
    }
}

/// A patient's own colour: hues spread by the golden angle, so neighbours in the list differ.
pub fn patient_colour(patient: usize) -> Color32 {
    let hue = (patient as f32 * 0.618_034).fract();
    egui::ecolor::Hsva::new(hue, 0.75, 0.9, 1.0).into()
}

/// Blue through purple to red, for 0 to 1.
pub fn ramp(value: f32) -> Color32 {
    let t = value.clamp(0.0, 1.0);
    let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * t) as u8;
    Color32::from_rgb(
        mix(NON_IDC.r(), IDC.r()),
        mix(NON_IDC.g(), IDC.g()),
        mix(NON_IDC.b(), IDC.b()),
    )
}

/// Every point's colour and the legend with counts.
pub fn colour_points(by: ColourBy, facts: &[PointFacts], threshold: f32) -> (Vec<Color32>, Vec<LegendEntry>) {
    let classes = classes(by, threshold);
    let mut counts = vec![0usize; classes.len()];
    let mut others = 0;
    let colours = facts
        .iter()
        .map(|facts| match (by, class_of(by, facts, threshold)) {
            (ColourBy::Patient, Some(patient)) => patient_colour(patient),
            (_, Some(class)) => {
                counts[class] += 1;
                classes[class].1
            }
            (_, None) => {
                others += 1;
                OTHER
            }
        })
        .collect();
    let mut legend: Vec<LegendEntry> = classes
        .into_iter()
        .zip(counts)
        .map(|((name, colour), count)| LegendEntry { name, colour, count })
        .collect();
    if others > 0 {
        let name = match by {
            ColourBy::Outcome => "not in the test part",
            ColourBy::Judgement => "not judged by you",
            ColourBy::LabelIssue => "no label-issue score",
            ColourBy::Disagreement => "judged by fewer than two readers",
            _ => "unknown",
        };
        legend.push(LegendEntry {
            name: name.into(),
            colour: OTHER,
            count: others,
        });
    }
    (colours, legend)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(label: Label, prob_idc: f32, cell: Option<Cell>) -> PointFacts {
        PointFacts {
            label,
            prob_idc,
            part: Some(if cell.is_some() {
                SplitPart::Test
            } else {
                SplitPart::Train
            }),
            cell,
            patient: 0,
            judgement: ReviewState::Unreviewed,
            label_doubt: None,
            readers_disagree: None,
        }
    }

    #[test]
    fn outcome_counts_the_test_cells_and_greys_the_rest() {
        let points = [
            facts(Label::Idc, 0.2, Some(Cell::FalseNegative)),
            facts(Label::Idc, 0.1, Some(Cell::FalseNegative)),
            facts(Label::NonIdc, 0.9, Some(Cell::FalsePositive)),
            facts(Label::Idc, 0.9, None),
        ];
        let (colours, legend) = colour_points(ColourBy::Outcome, &points, 0.5);
        let count = |name: &str| {
            legend
                .iter()
                .find(|entry| entry.name.starts_with(name))
                .unwrap()
                .count
        };
        assert_eq!(count("false negative"), 2);
        assert_eq!(count("false positive"), 1);
        assert_eq!(count("true positive"), 0);
        assert_eq!(count("not in the test part"), 1);
        assert_eq!(colours[3], OTHER);
        assert_eq!(colours[0], colours[1]);
        assert_ne!(colours[0], colours[2]);
    }

    #[test]
    fn prediction_follows_the_threshold() {
        let points = [facts(Label::Idc, 0.4, None), facts(Label::Idc, 0.6, None)];
        let (_, at_half) = colour_points(ColourBy::Prediction, &points, 0.5);
        assert_eq!((at_half[0].count, at_half[1].count), (1, 1));
        let (_, at_low) = colour_points(ColourBy::Prediction, &points, 0.3);
        assert_eq!((at_low[0].count, at_low[1].count), (0, 2));
    }
}
