//! Another model's predictions brought in as a run folder marked "imported (no model)": its test
//! part's P(IDC) in `predictions.csv`, the other parts' in `part_predictions.csv`, the parts in
//! `split.csv`, the scores in `metrics.json`, and, where embeddings were given, `embeddings.bin`
//! for "More like this" and the map. Review, the threshold, the patients table, comparison and
//! the slide heatmap read these files as they read a trained run's.

mod embeddings_file;
pub mod table;

use std::path::{Path, PathBuf};

pub use embeddings_file::{EmbeddingsFile, read_embeddings_file};
use table::file_error;
pub use table::{ImportError, ImportedRow, KeyedBy, PredictionTable, read_prediction_table};

use crate::dataset::PatchStore;
use crate::dataset::split::{Split, SplitKind, SplitPart};
use crate::metrics::Metrics;
use crate::model::cancernet::BatchNormSettings;
use crate::review::similar::Embeddings;
use crate::training::run_folder::{ImportedFrom, PartPredictionRow};
use crate::training::{PredictionRow, RunFolder, RunInfo, TrainConfig};

/// What to import, and into which new run folder.
pub struct ImportRequest<'a> {
    pub store: &'a PatchStore,
    pub predictions: &'a Path,
    pub embeddings: Option<&'a Path>,
    /// The run folder to create; it must not exist yet, or be empty.
    pub folder: &'a Path,
}

/// What an import wrote.
#[derive(Debug)]
pub struct Imported {
    pub folder: RunFolder,
    pub keyed_by: KeyedBy,
    pub test_rows: usize,
    pub other_rows: usize,
    pub split: SplitKind,
    pub metrics: Metrics,
    pub with_embeddings: bool,
}

/// Checks every row of the request's files against the dataset, then writes the run folder
/// whole: into a hidden folder beside it first, renamed into place at the end, so a refusal or
/// a crash leaves nothing behind.
pub fn import_predictions(request: &ImportRequest) -> Result<Imported, ImportError> {
    let store = request.store;
    let folder = request.folder;
    refuse_used_folder(folder)?;
    let table = read_prediction_table(request.predictions, store)?;
    let embeddings = match request.embeddings {
        Some(path) => Some(embeddings_in_store_order(path, &table, store)?),
        None => None,
    };
    // A file without parts is all held out: every row is audited as the test part.
    let part_of = |row: &ImportedRow| row.part.unwrap_or(SplitPart::Test);
    if !table.rows.iter().any(|row| part_of(row) == SplitPart::Test) {
        return Err(file_error(
            request.predictions,
            "no row is in the test part (its `part` column names none as test)",
        ));
    }
    let mut parts = vec![None; store.len()];
    for row in &table.rows {
        parts[row.patch] = Some(part_of(row));
    }
    let split_kind = kind_of_split(store, &parts);
    let split = Split::from_parts(split_kind, 0, parts);
    let prediction = |row: &ImportedRow| PredictionRow::of_patch(store, row.patch, row.prob_idc);
    let test: Vec<PredictionRow> = table
        .rows
        .iter()
        .filter(|row| part_of(row) == SplitPart::Test)
        .map(prediction)
        .collect();
    let others: Vec<PartPredictionRow> = table
        .rows
        .iter()
        .filter(|row| part_of(row) != SplitPart::Test)
        .map(|row| PartPredictionRow::new(part_of(row), prediction(row)))
        .collect();
    let labels: Vec<_> = test.iter().map(|row| row.label).collect();
    let probabilities: Vec<f32> = test.iter().map(|row| row.prob_idc).collect();
    let metrics = Metrics::from_probabilities(&labels, &probabilities, 0.5);
    let info = RunInfo {
        config: TrainConfig {
            split: split_kind,
            ..TrainConfig::default()
        },
        dataset: store.root().to_path_buf(),
        synthetic: store.is_synthetic(),
        class_weights: [1.0, 1.0],
        version: env!("CARGO_PKG_VERSION").to_string(),
        batch_norm: BatchNormSettings::MODEL,
        label_changes: None,
        device: Some(RunInfo::IMPORTED.to_string()),
        imported: Some(ImportedFrom {
            predictions: absolute(request.predictions),
            rows: table.rows.len(),
            embeddings: request.embeddings.map(absolute),
            had_parts: table.has_parts,
        }),
    };

    let files = RunFiles {
        info: &info,
        split: &split,
        test: &test,
        others: &others,
        metrics: &metrics,
        embeddings: embeddings.as_ref(),
    };
    write_whole(folder, store, &files)?;
    Ok(Imported {
        folder: RunFolder::new(folder),
        keyed_by: table.keyed_by,
        test_rows: test.len(),
        other_rows: others.len(),
        split: split_kind,
        metrics,
        with_embeddings: embeddings.is_some(),
    })
}

/// What an imported run's folder holds.
struct RunFiles<'a> {
    info: &'a RunInfo,
    split: &'a Split,
    test: &'a [PredictionRow],
    others: &'a [PartPredictionRow],
    metrics: &'a Metrics,
    embeddings: Option<&'a Embeddings>,
}

/// Writes `files` into a hidden folder beside `folder`, then renames it into place; on any
/// failure the hidden folder is removed and nothing is left.
fn write_whole(folder: &Path, store: &PatchStore, files: &RunFiles) -> Result<(), ImportError> {
    let staging = staging_folder(folder)?;
    let written = (|| -> Result<(), ImportError> {
        let run = RunFolder::new(&staging);
        let run_error = |err: crate::training::run_folder::RunFileError| file_error(&err.path, err.why);
        run.write_info(files.info).map_err(run_error)?;
        files
            .split
            .save(store, &run.split_path())
            .map_err(|err| file_error(&run.split_path(), err))?;
        run.write_predictions(files.test).map_err(run_error)?;
        if !files.others.is_empty() {
            run.write_part_predictions(files.others).map_err(run_error)?;
        }
        run.write_metrics(files.metrics).map_err(run_error)?;
        if let Some(embeddings) = files.embeddings {
            embeddings
                .save(&run.embeddings_path())
                .map_err(|err| file_error(&run.embeddings_path(), err))?;
        }
        std::fs::rename(&staging, folder).map_err(|err| file_error(folder, err))
    })();
    if written.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    written
}

/// An imported run is a new folder: an existing one with anything in it is the user's, or
/// another run's, and is left alone.
fn refuse_used_folder(folder: &Path) -> Result<(), ImportError> {
    match std::fs::read_dir(folder).map(|mut entries| entries.next().is_some()) {
        Ok(true) => Err(file_error(
            folder,
            "already exists and is not empty; choose another name for the imported run",
        )),
        Ok(false) => std::fs::remove_dir(folder).map_err(|err| file_error(folder, err)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(file_error(folder, err)),
    }
}

/// A hidden folder beside `folder`, created empty, to write the run into before it is renamed.
fn staging_folder(folder: &Path) -> Result<PathBuf, ImportError> {
    let parent = folder
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(|err| file_error(parent, err))?;
    let name = folder
        .file_name()
        .map_or_else(|| "run".into(), |name| name.to_string_lossy().into_owned());
    let staging = parent.join(format!(".{name}.importing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir(&staging).map_err(|err| file_error(&staging, err))?;
    Ok(staging)
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// By patient when no patient has patches in two parts, else by patch: what the file's parts
/// amount to, so the run's split reads as a trained run's would.
fn kind_of_split(store: &PatchStore, parts: &[Option<SplitPart>]) -> SplitKind {
    let mut part_of_patient: Vec<Option<SplitPart>> = vec![None; store.patients().len()];
    for (index, part) in parts.iter().enumerate() {
        let Some(part) = part else { continue };
        let patient = store.patch(index).patient as usize;
        match part_of_patient[patient] {
            None => part_of_patient[patient] = Some(*part),
            Some(earlier) if earlier != *part => return SplitKind::Patch,
            Some(_) => {}
        }
    }
    SplitKind::Patient
}

/// The embeddings file's rows put in the store's order, with each patch's imported P(IDC):
/// "More like this" and the map compare every patch of the dataset, so every patch must have
/// its row.
fn embeddings_in_store_order(
    path: &Path,
    table: &PredictionTable,
    store: &PatchStore,
) -> Result<Embeddings, ImportError> {
    if table.rows.len() != store.len() {
        return Err(file_error(
            path,
            format!(
                "embeddings are used for every patch of the dataset (\"More like this\", the map), but the predictions file names {} of its {} patches",
                table.rows.len(),
                store.len()
            ),
        ));
    }
    let file = read_embeddings_file(path, table.rows.len())?;
    let dimensions = file.dimensions;
    let mut rows = vec![0f32; store.len() * dimensions];
    let mut prob_idc = vec![0f32; store.len()];
    for (row, imported) in table.rows.iter().enumerate() {
        rows[imported.patch * dimensions..(imported.patch + 1) * dimensions]
            .copy_from_slice(&file.values[row * dimensions..(row + 1) * dimensions]);
        prob_idc[imported.patch] = imported.prob_idc;
    }
    Ok(Embeddings::new(dimensions, rows, prob_idc))
}
