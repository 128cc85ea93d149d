//! The Readers panel: who has annotated the dataset, and how far two readers agree on the
//! patches both judged (a 3x3 table and Cohen's kappa), with the patches they disagree on as a
//! filter for Review.

use std::collections::HashSet;

use crate::app::state::workspace::Workspace;
use crate::dataset::Dataset;
use crate::review::Agreement;
use crate::review::agreement::{CATEGORIES, category_name};

#[derive(Default)]
pub struct ReadersPanel {
    pub reader_a: Option<String>,
    pub reader_b: Option<String>,
    agreement: Option<Agreement>,
    built_for: Option<(u64, Option<String>, Option<String>)>,
    /// Store indices of the patches the two readers disagree on.
    disagreeing: HashSet<usize>,
    /// The annotations' revision the run was last scored with (reviewed labels follow it).
    pub(in crate::app) scored_revision: Option<u64>,
}

impl ReadersPanel {
    /// Picks the readers to compare (you, and the first other reader) and recounts when
    /// annotations changed.
    pub fn update(&mut self, ws: &Workspace, dataset: &Dataset) {
        let Some(reviews) = &ws.annotating.reviews else {
            return;
        };
        if self.reader_a.is_none() {
            self.reader_a = ws.reader().map(str::to_string);
        }
        if self.reader_b.is_none() || self.reader_b == self.reader_a {
            self.reader_b = reviews
                .readers()
                .find(|reader| Some(*reader) != self.reader_a.as_deref())
                .map(str::to_string);
        }
        let stamp = (reviews.revision(), self.reader_a.clone(), self.reader_b.clone());
        if self.built_for.as_ref() == Some(&stamp) {
            return;
        }
        self.agreement = match (&self.reader_a, &self.reader_b) {
            (Some(a), Some(b)) => Some(Agreement::between(reviews.book(a), reviews.book(b))),
            _ => None,
        };
        self.disagreeing = self
            .agreement
            .iter()
            .flat_map(|agreement| agreement.disagreements.iter())
            .filter_map(|key| dataset.find(&key.patient, key.x, key.y))
            .collect();
        self.built_for = Some(stamp);
    }

    pub fn agreement(&self) -> Option<&Agreement> {
        self.agreement.as_ref()
    }

    pub fn disagrees_on(&self, index: usize) -> bool {
        self.disagreeing.contains(&index)
    }

    /// Draws the panel; true when the reader asked to see the disagreements.
    pub fn ui(&mut self, ui: &mut egui::Ui, ws: &mut Workspace) -> bool {
        let mut show_disagreements = false;
        ui.heading("Readers");
        let readers: Vec<(String, usize)> = ws.annotating.reviews.as_ref().map_or_else(Vec::new, |reviews| {
            reviews
                .readers()
                .map(|reader| (reader.to_string(), reviews.book(reader).reviewed()))
                .collect()
        });
        ui.horizontal(|ui| {
            ui.label(match ws.reader() {
                Some(reader) => format!("You are {reader}."),
                None => "You have not said who you are.".to_string(),
            });
            if ui.small_button("Switch reader…").clicked() {
                ws.annotating.asking_reader = true;
            }
        });
        for (reader, reviewed) in &readers {
            ui.label(format!("{reader}: {reviewed} patches reviewed"));
        }
        if readers.len() < 2 {
            ui.weak("When a second reader reviews this dataset, their agreement with you shows here.");
            return false;
        }
        for (label, chosen) in [("Reader A", &mut self.reader_a), ("Reader B", &mut self.reader_b)] {
            egui::ComboBox::from_label(label)
                .selected_text(chosen.clone().unwrap_or_default())
                .show_ui(ui, |ui| {
                    for (reader, _) in &readers {
                        ui.selectable_value(chosen, Some(reader.clone()), reader);
                    }
                });
        }
        let Some(agreement) = &self.agreement else {
            return false;
        };
        let (a, b) = (
            self.reader_a.clone().unwrap_or_default(),
            self.reader_b.clone().unwrap_or_default(),
        );
        egui::Grid::new("agreement-table")
            .num_columns(4)
            .striped(true)
            .show(ui, |ui| {
                ui.label(format!("{a} \\ {b}"));
                for category in CATEGORIES {
                    ui.strong(category_name(category));
                }
                ui.end_row();
                for (row, first) in CATEGORIES.iter().enumerate() {
                    ui.strong(category_name(*first));
                    for column in 0..CATEGORIES.len() {
                        ui.monospace(agreement.table[row][column].to_string());
                    }
                    ui.end_row();
                }
            });
        let both = agreement.both_judged();
        ui.label(match agreement.observed() {
            Some(observed) => format!("{:.1}% agreement on {both} patches both judged", observed * 100.0),
            None => "No patch judged by both yet.".to_string(),
        });
        ui.label(match agreement.kappa() {
            Some(kappa) => format!("Cohen's kappa {kappa:.3}"),
            None => "Cohen's kappa: not defined yet".to_string(),
        })
        .on_hover_text("Agreement beyond chance: 1 is perfect, 0 is what chance gives.");
        let disagreements = agreement.disagreements.len();
        if ui
            .add_enabled(
                disagreements > 0,
                egui::Button::new(format!("Show the {disagreements} disagreements")),
            )
            .on_hover_text("Filters Review's cells to the patches the two readers judged differently")
            .clicked()
        {
            show_disagreements = true;
        }
        show_disagreements
    }
}
