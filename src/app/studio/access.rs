//! What the app shows of itself to its tests, its tour and its shell: the views, the
//! workspace, and a few requests a person makes from the top bar.

use std::path::PathBuf;

use super::StudioApp;
use crate::app::frame_times::FrameTimes;
use crate::app::state::workspace::{Command, View, Workspace};
use crate::app::views::map::MapView;
use crate::app::views::patients::PatientsView;
use crate::app::views::review::ReviewView;
use crate::app::views::training::TrainingView;

impl StudioApp {
    pub fn view(&self) -> View {
        self.view
    }

    pub fn workspace(&self) -> &Workspace {
        &self.ws
    }

    pub fn training(&self) -> &TrainingView {
        &self.training
    }

    pub fn training_mut(&mut self) -> &mut TrainingView {
        &mut self.training
    }

    /// Opens a run folder, as "Reopen last run" or the run list do.
    pub fn open_run(&mut self, folder: PathBuf) {
        self.ws.send(Command::OpenRun(folder));
    }

    pub fn review(&self) -> &ReviewView {
        &self.review
    }

    pub fn review_mut(&mut self) -> &mut ReviewView {
        &mut self.review
    }

    pub fn patients(&self) -> &PatientsView {
        &self.patients
    }

    pub fn map(&self) -> &MapView {
        &self.map
    }

    pub fn map_mut(&mut self) -> &mut MapView {
        &mut self.map
    }

    /// Goes to a view, as its tab in the top bar does.
    pub fn show_view(&mut self, view: View) {
        self.view = view;
    }

    pub fn shortcuts_shown(&self) -> bool {
        self.show_shortcuts
    }

    pub fn frame_times(&self) -> &FrameTimes {
        &self.frame_times
    }
}
