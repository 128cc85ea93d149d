//! The names of a run folder's files, in one list.

/// A file (or folder) of a run, under its one name: the path getters, [`RunFolder::owns`],
/// [`RunFolder::foreign_entry`] and the module's documentation all read this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunFile {
    /// Settings, dataset and class weights.
    Config,
    /// Which part each patch is in.
    Split,
    /// The readers' corrections, when the run trained on reviewed labels.
    Labels,
    /// One row an epoch.
    Epochs,
    /// One row a batch: the live plots' history.
    Steps,
    /// The best validation model.
    Model,
    /// The last finished epoch, for resuming (a folder).
    Checkpoint,
    /// The test part's P(IDC).
    Predictions,
    /// The validation part's P(IDC) (and, for an imported run, the training part's): what
    /// temperature scaling is fitted on.
    PartPredictions,
    /// The test part's scores.
    Metrics,
    /// The threshold a reader settled on in Review.
    Threshold,
    /// Every patch's 256-unit embedding and P(IDC), cached for "More like this" and the map.
    Embeddings,
    /// Every patch's place on the dataset map and its P(IDC).
    Map,
    /// A run's annotations from before they were kept with the dataset.
    OlderAnnotations,
    /// The annotations export's suggested name.
    ExportedAnnotations,
}

impl RunFile {
    pub const ALL: [RunFile; 15] = [
        RunFile::Config,
        RunFile::Split,
        RunFile::Labels,
        RunFile::Epochs,
        RunFile::Steps,
        RunFile::Model,
        RunFile::Checkpoint,
        RunFile::Predictions,
        RunFile::PartPredictions,
        RunFile::Metrics,
        RunFile::Threshold,
        RunFile::Embeddings,
        RunFile::Map,
        RunFile::OlderAnnotations,
        RunFile::ExportedAnnotations,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            RunFile::Config => "config.json",
            RunFile::Split => "split.csv",
            RunFile::Labels => "labels.csv",
            RunFile::Epochs => "epochs.csv",
            RunFile::Steps => "steps.csv",
            RunFile::Model => "model.bpk",
            RunFile::Checkpoint => "checkpoint",
            RunFile::Predictions => "predictions.csv",
            RunFile::PartPredictions => "part_predictions.csv",
            RunFile::Metrics => "metrics.json",
            RunFile::Threshold => "threshold.json",
            RunFile::Embeddings => "embeddings.bin",
            RunFile::Map => "map.bin",
            RunFile::OlderAnnotations => "annotations.json",
            RunFile::ExportedAnnotations => "annotations.csv",
        }
    }

    /// The run file named `name`, if it is one.
    pub fn named(name: &str) -> Option<RunFile> {
        RunFile::ALL.into_iter().find(|file| file.name() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_describes_every_file_of_a_run() {
        let readme = include_str!("../../README.md");
        let section = readme
            .split("### A run folder")
            .nth(1)
            .expect("README.md has a run folder section");
        for file in RunFile::ALL {
            let name = match file {
                RunFile::Checkpoint => format!("`{}/`", file.name()),
                _ => format!("`{}`", file.name()),
            };
            assert!(section.contains(&name), "README's run folder names {name}");
            assert_eq!(RunFile::named(file.name()), Some(file));
        }
    }
}
