//! The screenshot tour (`idc-studio app --screenshots DIR`): drives the real app through every
//! view like a person would (pick a patient, train, review the false negatives, open a slide
//! with the run's heatmap, the patients' stain map), saves a screenshot of each, writes what it measured, then closes the
//! window. The
//! README's pictures and the real-window smoke test both come from it.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use crate::app::shortcuts::Action;
use crate::app::state::training_monitor::Phase;
use crate::app::state::workspace::View;
use crate::app::studio::StudioApp;
use crate::review::Cell;

/// A tour that takes longer than this has hung: it fails loudly rather than run forever. (On the
/// demo dataset it takes a few minutes on two cores, most of it the training and the map; on a
/// full-size dataset with a run given, the stain estimate and the map's first drawing.)
const TOUR_LIMIT: Duration = Duration::from_secs(20 * 60);
/// Frames the map is panned for, its texture drawn again each time, in the map measurement.
const MAP_PAN_FRAMES: u32 = 40;
/// Frames to let a view settle (layout, textures) before its screenshot.
const SETTLE_FRAMES: u32 = 10;
/// Points the tile grid scrolls per frame in the scrolling measurement.
const SCROLL_STEP: f32 = 120.0;
/// Batch reports to watch the live plots grow by before the training screenshot.
const TRAINING_REPORTS: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    AwaitDataset,
    Patients,
    ScrollGrid,
    StartTraining,
    Training,
    AwaitRun,
    Review,
    Slide,
    StainMap,
    Map,
    MapPanning,
    Finish,
}

pub struct Tour {
    folder: PathBuf,
    stage: Stage,
    frames_in_stage: u32,
    started: Instant,
    shot_sender: Sender<Result<PathBuf, String>>,
    shots: Receiver<Result<PathBuf, String>>,
    awaiting_shot: bool,
    training_mark: (usize, usize),
    scroll_mark: (usize, usize),
    map_mark: (usize, usize),
    /// The slowest hover lookup while panning the map.
    slowest_hover: Duration,
    report: Vec<String>,
    /// The tour named a reader for its judgements (none was set), to be taken back.
    lent_reader: bool,
    /// Judgements to undo once the picture of them is taken.
    undo_after_shot: u32,
}

impl Tour {
    pub fn new(folder: PathBuf) -> Self {
        let (shot_sender, shots) = channel();
        Self {
            folder,
            stage: Stage::AwaitDataset,
            frames_in_stage: 0,
            started: Instant::now(),
            shot_sender,
            shots,
            awaiting_shot: false,
            training_mark: (0, 0),
            scroll_mark: (0, 0),
            map_mark: (0, 0),
            slowest_hover: Duration::ZERO,
            report: Vec::new(),
            lent_reader: false,
            undo_after_shot: 0,
        }
    }

    fn advance(&mut self, stage: Stage) {
        self.stage = stage;
        self.frames_in_stage = 0;
    }
}

impl StudioApp {
    /// One frame of the tour; called at the end of every frame while a tour is on.
    pub(super) fn drive_tour(&mut self, ctx: &egui::Context) {
        let Some(mut tour) = self.tour.take() else {
            return;
        };
        tour.frames_in_stage += 1;
        ctx.request_repaint(); // keep frames coming while the tour waits on work
        if tour.started.elapsed() > TOUR_LIMIT {
            fail(&format!(
                "the screenshot tour timed out in stage {:?}",
                tour.stage
            ));
        }
        if self.tour_between_shots(&mut tour) {
            self.tour = Some(tour);
            return;
        }
        let settled = tour.frames_in_stage > SETTLE_FRAMES;
        match tour.stage {
            Stage::AwaitDataset => {
                if let Some(message) = self.ws.notices.iter().find(|notice| notice.is_error) {
                    fail(&message.text);
                }
                if self.ws.dataset.is_some() && self.loading.is_none() {
                    let patient = self.largest_patient();
                    self.patients.select(&self.ws, patient, None);
                    let first = self.patients.shown_patches().get(7).copied();
                    self.patients.select(&self.ws, patient, first);
                    self.view = View::Patients;
                    tour.advance(Stage::Patients);
                }
            }
            Stage::Patients if settled => {
                screenshot(ctx, &mut tour, "patients");
                tour.scroll_mark = self.frame_times.mark();
                tour.advance(Stage::ScrollGrid);
            }
            Stage::ScrollGrid => self.tour_scroll_grid(&mut tour),
            // A run given at launch is reviewed as it is: no training.
            Stage::StartTraining if self.ws.run.is_some() => tour.advance(Stage::AwaitRun),
            Stage::StartTraining => {
                self.view = View::Training;
                let form = self.training.form_mut();
                form.epochs = 1;
                form.batch_size = 32;
                self.training.start(ctx, &mut self.ws, None);
                tour.training_mark = self.frame_times.mark();
                tour.advance(Stage::Training);
            }
            Stage::Training => {
                let monitor = self.training.monitor();
                if let Phase::Failed(message) = &monitor.phase {
                    fail(&format!("training failed: {message}"));
                }
                let enough = monitor.batch_reports >= TRAINING_REPORTS
                    || !matches!(monitor.phase, Phase::Training | Phase::Starting);
                if enough && settled {
                    let (build, whole) = self.frame_times.since(tour.training_mark);
                    tour.report.push(format!(
                        "frame time while training: building the UI {build}; whole frames {whole}"
                    ));
                    screenshot(ctx, &mut tour, "training");
                    tour.advance(Stage::AwaitRun);
                }
            }
            Stage::AwaitRun => {
                if let Phase::Failed(message) = &self.training.monitor().phase {
                    fail(&format!("training failed: {message}"));
                }
                if self.ws.run.is_some() && !self.is_loading() {
                    self.review.select_cell(Cell::FalseNegative);
                    self.view = View::Review;
                    tour.advance(Stage::Review);
                }
            }
            Stage::Review if settled => self.tour_review(ctx, &mut tour),
            Stage::Slide
                if settled && self.patients.slide_is_ready() && !self.patients.predictions_pending() =>
            {
                screenshot(ctx, &mut tour, "slide");
                self.patients.tab = crate::app::views::patients::PatientTab::StainMap;
                tour.advance(Stage::StainMap);
            }
            Stage::StainMap if settled && self.patients.stain_map_is_ready() => {
                screenshot(ctx, &mut tour, "stain-map");
                self.map.colour_by = crate::app::views::map::colouring::ColourBy::Outcome;
                self.view = View::Map;
                tour.advance(Stage::Map);
            }
            Stage::Map => self.tour_map(ctx, &mut tour),
            Stage::MapPanning => self.tour_pan_map(&mut tour),
            Stage::Finish => {
                self.finish_tour(ctx, &mut tour);
                return; // the tour is over: it is not put back
            }
            _ => {}
        }
        self.tour = Some(tour);
    }

    /// The tile grid scrolled from top to end, a wheel's worth a frame, its frame times noted.
    fn tour_scroll_grid(&mut self, tour: &mut Tour) {
        // A wheel's worth per frame from the top of the grid to its end.
        let offset = tour.frames_in_stage as f32 * SCROLL_STEP;
        if offset <= self.patients.grid.content_height {
            self.patients.grid.scroll_to = Some(offset);
        } else {
            let (build, whole) = self.frame_times.since(tour.scroll_mark);
            let tiles = self.patients.shown_patches().len();
            tour.report.push(format!(
                "tile grid scrolling, {tiles} tiles, {SCROLL_STEP} points a frame: building the UI {build}; whole frames {whole}"
            ));
            tour.advance(Stage::StartTraining);
        }
    }

    /// Between stages: takes in the screenshot being written (true while it is awaited), then
    /// takes back the judgements made for it and the reader lent for them.
    fn tour_between_shots(&mut self, tour: &mut Tour) -> bool {
        if tour.awaiting_shot {
            match tour.shots.try_recv() {
                Ok(Ok(path)) => {
                    tour.report.push(format!("screenshot {}", path.display()));
                    tour.awaiting_shot = false;
                }
                Ok(Err(message)) => fail(&message),
                Err(_) => {}
            }
            return true;
        }
        // The judgements made for the picture are taken back once it is taken.
        for _ in 0..std::mem::take(&mut tour.undo_after_shot) {
            self.ws.undo();
        }
        if tour.stage != Stage::Review && std::mem::take(&mut tour.lent_reader) {
            self.ws.settings.reader = None;
            self.ws.save_settings();
        }
        false
    }

    /// Review: a reader's first judgements made, the picture taken, then on to the slide.
    fn tour_review(&mut self, ctx: &egui::Context, tour: &mut Tour) {
        if tour.frames_in_stage == SETTLE_FRAMES + 1 {
            // A reader's first judgements, as the picture should show them: agree,
            // relabel, then a flag on the tile now shown. Undone after the picture.
            if self.ws.settings.reader.is_none() {
                self.ws.settings.reader = Some("screenshot tour".into());
                tour.lent_reader = true;
            }
            for action in [Action::Agree, Action::RelabelNonIdc, Action::Flag] {
                self.review.act(action, &mut self.ws);
            }
            self.review.open_audit_panels();
        } else if tour.frames_in_stage >= SETTLE_FRAMES + 4 {
            // A few frames after the panels opened: their grids' first frame is laid out
            // twice (egui discards it), and the picture must be of the settled one.
            screenshot(ctx, tour, "review");
            tour.undo_after_shot = 3;
            // Next: the slide of the reviewed tile (if the cell has one), with the run's
            // heatmap over it.
            let patch = self.review.current_patch();
            let patient = match (patch, &self.ws.dataset) {
                (Some(patch), Some(dataset)) => dataset.store.patch(patch).patient,
                _ => self.largest_patient(),
            };
            self.ws.send(crate::app::state::workspace::Command::ShowPatient {
                patient,
                patch,
                on_slide: true,
            });
            tour.advance(Stage::Slide);
        }
    }

    /// The map of the dataset, coloured by outcome, once it is made (or read from the run).
    fn tour_map(&mut self, ctx: &egui::Context, tour: &mut Tour) {
        if let Some(error) = &self.map.work.error {
            fail(&format!("the map: {error}"));
        }
        if self.map.is_ready() && tour.frames_in_stage > SETTLE_FRAMES {
            screenshot(ctx, tour, "map");
            tour.map_mark = self.frame_times.mark();
            tour.advance(Stage::MapPanning);
        }
    }

    /// The map panned a little each frame, so that its texture is drawn again every frame (its
    /// worst case), with a hover lookup at the middle each frame; their times noted.
    fn tour_pan_map(&mut self, tour: &mut Tour) {
        if tour.frames_in_stage <= MAP_PAN_FRAMES {
            self.map.canvas.pan_by(egui::vec2(2.0, 1.0));
            if let Some(centre) = self.map.canvas.centre() {
                self.map.canvas.probe_hover(centre);
            }
            tour.slowest_hover = tour
                .slowest_hover
                .max(self.map.canvas.last_hover.unwrap_or_default());
            return;
        }
        let (build, whole) = self.frame_times.since(tour.map_mark);
        let points = self.map.work.map.as_ref().map_or(0, |made| made.map.len());
        let raster = self.map.canvas.last_raster.unwrap_or_default();
        tour.report.push(format!(
            "map of {points} patches, panned {MAP_PAN_FRAMES} frames (drawn again each): building the UI {build}; \
             whole frames {whole}; last drawing of the points {:.1} ms; slowest hover lookup {:.1} µs",
            raster.as_secs_f64() * 1e3,
            tour.slowest_hover.as_secs_f64() * 1e6
        ));
        tour.advance(Stage::Finish);
    }

    /// The tour's figures written beside its screenshots and printed, then the window closed.
    fn finish_tour(&mut self, ctx: &egui::Context, tour: &mut Tour) {
        tour.report.push(format!("resident memory {}", resident_memory()));
        tour.report
            .push(format!("tile textures cached {}", self.ws.tiles.len()));
        tour.report
            .push(format!("tour took {:.1} s", tour.started.elapsed().as_secs_f64()));
        let text = tour.report.join("\n") + "\n";
        if let Err(err) = crate::atomic_file::write_atomic(&tour.folder.join("tour.txt"), text.as_bytes()) {
            fail(&format!("{}: {err}", tour.folder.display()));
        }
        print!("{text}");
        ctx.send_viewport_cmd(egui::ViewportCommand::Close);
    }

    /// The patient with the most patches: the longest tile grid.
    fn largest_patient(&self) -> u32 {
        self.ws.dataset.as_ref().map_or(0, |dataset| {
            (0..dataset.summaries.len())
                .max_by_key(|&id| dataset.summaries[id].patches)
                .unwrap_or(0) as u32
        })
    }
}

fn screenshot(ctx: &egui::Context, tour: &mut Tour, name: &str) {
    let path = tour.folder.join(format!("{name}.png"));
    let sender = tour.shot_sender.clone();
    tour.awaiting_shot = true;
    ctx.request_screenshot(move |image| {
        let [width, height] = image.size;
        let rgba: Vec<u8> = image.pixels.iter().flat_map(|pixel| pixel.to_array()).collect();
        let outcome = image::RgbaImage::from_raw(width as u32, height as u32, rgba)
            .ok_or_else(|| format!("{}: the screenshot has the wrong size", path.display()))
            .and_then(|picture| {
                picture
                    .save(&path)
                    .map_err(|err| format!("{}: {err}", path.display()))
            })
            .map(|()| path);
        let _ = sender.send(outcome);
    });
}

/// The process's resident memory as the kernel reports it (Linux), else "unknown".
fn resident_memory() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmRSS:"))
                .map(|line| line.trim_start_matches("VmRSS:").trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

fn fail(message: &str) -> ! {
    eprintln!("error: screenshot tour: {message}");
    std::process::exit(1);
}
