//! Scanning a folder in the IDC layout: find every patch file once, check its name against its
//! folders, decode in parallel, and report every file that could not be used and why.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use super::decode::{MAX_PATCH_FILE_BYTES, read_patch_file};
use super::filename::{PatchName, parse_patch_name};
use super::store::{Patch, PatchStore};
use super::{Label, NESTED_COPY_FOLDER, PATCH_BYTES, PATCH_SIDE, SYNTHETIC_MARKER_FILE};

/// Why a file under a class folder was not used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SkipReason {
    NotPng,
    Empty,
    Corrupt(String),
    BadName(String),
    LabelMismatch {
        folder: Label,
        name: Label,
    },
    PatientMismatch {
        folder: String,
        name: String,
    },
    TooLarge {
        width: u32,
        height: u32,
    },
    Unreadable(String),
    Duplicate {
        first: PathBuf,
    },
    /// A FIFO, device or socket with a patch's name.
    NotAFile,
    /// More bytes than any 50x50 patch needs.
    TooBig {
        bytes: u64,
    },
    /// A symbolic link to a folder, which the walk does not follow.
    LinkedFolder,
}

impl SkipReason {
    /// A short stable name for grouping reasons in a report.
    pub fn kind(&self) -> &'static str {
        match self {
            SkipReason::NotPng => "not a PNG",
            SkipReason::Empty => "empty file",
            SkipReason::Corrupt(_) => "truncated or corrupt",
            SkipReason::BadName(_) => "bad name",
            SkipReason::LabelMismatch { .. } => "label mismatch",
            SkipReason::PatientMismatch { .. } => "patient mismatch",
            SkipReason::TooLarge { .. } => "larger than 50x50",
            SkipReason::Unreadable(_) => "unreadable",
            SkipReason::Duplicate { .. } => "duplicate",
            SkipReason::NotAFile => "not a regular file",
            SkipReason::TooBig { .. } => "file too big",
            SkipReason::LinkedFolder => "linked folder",
        }
    }
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::NotPng => write!(f, "not a PNG file"),
            SkipReason::Empty => write!(f, "empty file"),
            SkipReason::Corrupt(why) => write!(f, "truncated or corrupt PNG: {why}"),
            SkipReason::BadName(why) => write!(f, "bad name: {why}"),
            SkipReason::LabelMismatch { folder, name } => write!(
                f,
                "label mismatch: folder says class {}, name says class {}",
                folder.index(),
                name.index()
            ),
            SkipReason::PatientMismatch { folder, name } => write!(
                f,
                "patient mismatch: folder says patient {folder}, name says patient {name}"
            ),
            SkipReason::TooLarge { width, height } => {
                write!(f, "larger than 50x50: {width}x{height}")
            }
            SkipReason::Unreadable(why) => write!(f, "unreadable: {why}"),
            SkipReason::Duplicate { first } => {
                write!(f, "duplicate of {}", first.display())
            }
            SkipReason::NotAFile => write!(f, "not a regular file (a FIFO, device or socket); not read"),
            SkipReason::TooBig { bytes } => write!(
                f,
                "file too big: {bytes} bytes, more than a 50x50 patch can take ({} bytes); not read",
                MAX_PATCH_FILE_BYTES
            ),
            SkipReason::LinkedFolder => write!(
                f,
                "a symbolic link to a folder, not followed (the patches it points to may be counted elsewhere); copy the folder in to use it"
            ),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFile {
    pub path: PathBuf,
    pub reason: SkipReason,
}

/// What a scan found.
#[derive(Debug, Clone, Default)]
pub struct ScanReport {
    pub root: PathBuf,
    pub patients: usize,
    pub patches: usize,
    pub class_counts: [usize; 2],
    /// Patches smaller than 50x50, kept (padded) with their true size.
    pub edge_patches: usize,
    pub skipped: Vec<SkippedFile>,
    /// Nested copies of the dataset that were not walked, so nothing is counted twice.
    pub nested_copies_skipped: Vec<PathBuf>,
    pub synthetic: bool,
}

impl ScanReport {
    /// Skipped files per reason kind, in a stable order.
    pub fn skipped_by_kind(&self) -> BTreeMap<&'static str, usize> {
        let mut counts = BTreeMap::new();
        for file in &self.skipped {
            *counts.entry(file.reason.kind()).or_insert(0) += 1;
        }
        counts
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("{}: no such folder", .0.display())]
    Missing(PathBuf),
    #[error("{}: not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{}: cannot read folder: {why}", path.display())]
    Unreadable { path: PathBuf, why: String },
    #[error(
        "{}: no usable patch found ({skipped} files skipped); expected <patient>/<0|1>/<patient>_idx5_x<X>_y<Y>_class<C>.png",
        root.display()
    )]
    NoPatches { root: PathBuf, skipped: usize },
}

/// Progress of a scan, for progress bars.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanProgress {
    pub decoded: usize,
    pub total: usize,
}

/// A file found under `<patient>/<0|1>/` whose name is consistent with its folders.
struct Candidate {
    path: PathBuf,
    patient: String,
    x: u32,
    y: u32,
    label: Label,
}

/// Scans `root` (the Kaggle folder itself or any folder above it) and decodes every usable patch.
pub fn scan_dataset(
    root: &Path,
    progress: &(dyn Fn(ScanProgress) + Sync),
) -> Result<(PatchStore, ScanReport), ScanError> {
    if !root.exists() {
        return Err(ScanError::Missing(root.to_path_buf()));
    }
    if !root.is_dir() {
        return Err(ScanError::NotAFolder(root.to_path_buf()));
    }
    std::fs::read_dir(root).map_err(|err| ScanError::Unreadable {
        path: root.to_path_buf(),
        why: err.to_string(),
    })?;

    // Absolute paths: a run's predictions must still find their files from another folder.
    let root = &root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut report = ScanReport {
        root: root.to_path_buf(),
        synthetic: root.join(SYNTHETIC_MARKER_FILE).is_file(),
        ..ScanReport::default()
    };
    let candidates = find_candidates(root, &mut report);

    let total = candidates.len();
    let decoded_count = AtomicUsize::new(0);
    let mut pixels = vec![0u8; total * PATCH_BYTES];
    let outcomes: Vec<Result<(u8, u8), SkipReason>> = pixels
        .par_chunks_mut(PATCH_BYTES)
        .zip(candidates.par_iter())
        .map(|(slot, candidate)| {
            let outcome = read_patch_file(&candidate.path, slot);
            let done = decoded_count.fetch_add(1, Ordering::Relaxed) + 1;
            if done.is_multiple_of(1024) || done == total {
                progress(ScanProgress { decoded: done, total });
            }
            outcome
        })
        .collect();

    // Compact: move each usable patch's pixels down over the slots of skipped ones.
    let mut patient_index: HashMap<String, u32> = HashMap::new();
    let mut patients = Vec::new();
    let mut patches = Vec::with_capacity(total);
    for (slot, (candidate, outcome)) in candidates.into_iter().zip(outcomes).enumerate() {
        match outcome {
            Ok((width, height)) => {
                let kept = patches.len();
                if kept != slot {
                    pixels.copy_within(slot * PATCH_BYTES..(slot + 1) * PATCH_BYTES, kept * PATCH_BYTES);
                }
                let patient = *patient_index.entry(candidate.patient.clone()).or_insert_with(|| {
                    patients.push(candidate.patient.clone());
                    (patients.len() - 1) as u32
                });
                if usize::from(width) < PATCH_SIDE || usize::from(height) < PATCH_SIDE {
                    report.edge_patches += 1;
                }
                report.class_counts[candidate.label.index()] += 1;
                patches.push(Patch {
                    patient,
                    x: candidate.x,
                    y: candidate.y,
                    label: candidate.label,
                    width,
                    height,
                    path: candidate.path,
                });
            }
            Err(reason) => report.skipped.push(SkippedFile {
                path: candidate.path,
                reason,
            }),
        }
    }
    pixels.truncate(patches.len() * PATCH_BYTES);
    pixels.shrink_to_fit();
    report.skipped.sort_by(|a, b| a.path.cmp(&b.path));

    if patches.is_empty() {
        return Err(ScanError::NoPatches {
            root: root.to_path_buf(),
            skipped: report.skipped.len(),
        });
    }
    report.patients = patients.len();
    report.patches = patches.len();
    let store = PatchStore::new(root.to_path_buf(), report.synthetic, patients, patches, pixels);
    Ok((store, report))
}

/// Walks the tree in a stable order, keeping the first file of each (patient, x, y) and
/// recording every file that cannot be used before decoding.
fn find_candidates(root: &Path, report: &mut ScanReport) -> Vec<Candidate> {
    let mut nested = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|entry| {
            // Hidden folders are never patients: idc-studio keeps a dataset's annotations in
            // `.idc-studio`, and other tools keep theirs likewise.
            let hidden = entry.depth() > 0
                && entry.file_type().is_dir()
                && entry.file_name().to_string_lossy().starts_with('.');
            let skip = entry.depth() > 0 && entry.file_type().is_dir() && is_nested_copy(entry.path());
            if skip {
                nested.push(entry.path().to_path_buf());
            }
            !skip && !hidden
        });
    let mut first_seen: HashMap<(String, u32, u32), PathBuf> = HashMap::new();
    let mut candidates = Vec::new();
    for entry in walker {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                if let Some(path) = err.path() {
                    report.skipped.push(SkippedFile {
                        path: path.to_path_buf(),
                        reason: SkipReason::Unreadable(err.to_string()),
                    });
                }
                continue;
            }
        };
        if entry.file_type().is_dir() {
            continue;
        }
        let path = entry.path();
        let skip = |reason| SkippedFile {
            path: path.to_path_buf(),
            reason,
        };
        let name = match classify_file(&entry) {
            Ok(Some(name)) => name,
            Ok(None) => continue,
            Err(reason) => {
                report.skipped.push(skip(reason));
                continue;
            }
        };
        let key = (name.patient.clone(), name.x, name.y);
        if let Some(first) = first_seen.get(&key) {
            report
                .skipped
                .push(skip(SkipReason::Duplicate { first: first.clone() }));
            continue;
        }
        first_seen.insert(key, path.to_path_buf());
        candidates.push(Candidate {
            path: path.to_path_buf(),
            patient: name.patient,
            x: name.x,
            y: name.y,
            label: name.label,
        });
    }
    report.nested_copies_skipped = nested;
    candidates
}

/// What a file of the tree is: a patch of the IDC layout (its name read), a file the layout
/// leaves aside (`Ok(None)`: outside `<patient>/<0|1>/`, or hidden), or one that cannot be used
/// and why.
fn classify_file(entry: &walkdir::DirEntry) -> Result<Option<PatchName>, SkipReason> {
    let path = entry.path();
    // A linked patient or class folder: said, not silently passed over.
    if entry.path_is_symlink() && entry.depth() <= 2 && path.is_dir() {
        return Err(SkipReason::LinkedFolder);
    }
    let Some(folder_label) = class_folder_label(path) else {
        return Ok(None); // not under <patient>/<0|1>/: not part of the layout
    };
    let Some(file_name) = entry.file_name().to_str() else {
        return Err(SkipReason::BadName("the name is not valid UTF-8".into()));
    };
    if file_name.starts_with('.') {
        return Ok(None); // hidden files (.DS_Store and the like) are not patches
    }
    // Run files record a patch's path as text: one that is not UTF-8 could not be saved after
    // training.
    if path.to_str().is_none() {
        return Err(SkipReason::BadName(
            "a folder in its path is not valid UTF-8".into(),
        ));
    }
    if !file_name.to_ascii_lowercase().ends_with(".png") {
        return Err(SkipReason::NotPng);
    }
    let name = parse_patch_name(file_name).map_err(|why| SkipReason::BadName(why.to_string()))?;
    if name.label != folder_label {
        return Err(SkipReason::LabelMismatch {
            folder: folder_label,
            name: name.label,
        });
    }
    let folder_patient = grandparent_name(path);
    if folder_patient != name.patient {
        return Err(SkipReason::PatientMismatch {
            folder: folder_patient,
            name: name.patient,
        });
    }
    Ok(Some(name))
}

/// The Kaggle archive's second copy: a folder of that name beside patient folders.
fn is_nested_copy(dir: &Path) -> bool {
    if dir.file_name().and_then(|name| name.to_str()) != Some(NESTED_COPY_FOLDER) {
        return false;
    }
    let Some(parent) = dir.parent() else {
        return false;
    };
    let Ok(siblings) = std::fs::read_dir(parent) else {
        return false;
    };
    siblings.flatten().any(|sibling| {
        let path = sibling.path();
        path != dir && path.is_dir() && (path.join("0").is_dir() || path.join("1").is_dir())
    })
}

fn class_folder_label(file: &Path) -> Option<Label> {
    let folder = file.parent()?;
    folder.parent()?.file_name()?;
    match folder.file_name()?.to_str()? {
        "0" => Some(Label::NonIdc),
        "1" => Some(Label::Idc),
        _ => None,
    }
}

fn grandparent_name(file: &Path) -> String {
    file.parent()
        .and_then(Path::parent)
        .and_then(Path::file_name)
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default()
}
