//! Run folders as if trained, for tests of reviewing that need no training.

use std::path::Path;

use idc_studio::dataset::PatchStore;

/// A finished run's folder at `root` for `store`'s dataset, as if trained: its test part is every
/// third patch, with a probability that puts every other IDC patch among the false negatives.
/// Review needs only these files, so tests of reviewing need no training.
pub fn finished_run_with_predictions(store: &PatchStore, root: &Path) {
    use idc_studio::dataset::Label;
    use idc_studio::training::{PredictionRow, RunFolder};
    let run = RunFolder::new(root);
    run.create().unwrap();
    run.write_info(&run_info(store.root())).unwrap();
    let rows: Vec<PredictionRow> = store
        .patches()
        .iter()
        .enumerate()
        .filter(|(index, _)| index % 3 == 0)
        .map(|(index, patch)| PredictionRow {
            path: patch.path.clone(),
            patient: store.patient_name(patch).to_string(),
            x: patch.x,
            y: patch.y,
            label: patch.label,
            prob_idc: match (patch.label, index % 2) {
                (Label::Idc, 0) => 0.1 + (index % 7) as f32 * 0.01,
                (Label::Idc, _) => 0.9,
                (Label::NonIdc, _) => 0.05 + (index % 5) as f32 * 0.01,
            },
        })
        .collect();
    run.write_predictions(&rows).unwrap();
}

/// A demo of four patients at `home/data`, trained for one epoch on the CPU into
/// `home/runs/run-a` by the command line: (data, run, patches).
pub fn trained_one_epoch(home: &Path) -> (std::path::PathBuf, std::path::PathBuf, usize) {
    let data = home.join("data");
    let patches = super::datasets::own_demo(&data, 4, 70).len();
    let run = home.join("runs/run-a");
    let trained = super::binary::idc_studio(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--epochs",
        "1",
        "--device",
        "cpu",
        "--out",
        run.to_str().unwrap(),
    ]);
    assert!(
        trained.status.success(),
        "{}",
        super::binary::text(&trained.stderr)
    );
    (data, run, patches)
}

/// A run's `config.json` content for a run of the recipe's settings on `dataset`.
pub fn run_info(dataset: &Path) -> idc_studio::training::RunInfo {
    idc_studio::training::RunInfo {
        config: idc_studio::training::TrainConfig::default(),
        dataset: dataset.to_path_buf(),
        synthetic: true,
        class_weights: [1.0, 1.0],
        version: "test".into(),
        batch_norm: idc_studio::model::cancernet::BatchNormSettings::MODEL,
        label_changes: None,
        device: None,
        imported: None,
    }
}
