//! `predict`'s input: PNG files decoded and rendered into model batches on a thread of their
//! own, ahead of the model, so that reading and rendering the next batches overlaps the
//! inference of this one (on a GPU, one thread rendering held inference to its pace).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, sync_channel};

use rayon::prelude::*;

use crate::dataset::decode::read_patch_file;
use crate::dataset::stain::patient_stains::TissueSampler;
use crate::dataset::stain::{OdTransform, REFERENCE_STAIN};
use crate::dataset::{PATCH_BYTES, PATCH_SIDE, parse_patch_name};
use crate::training::batches::{HostBatch, PREFETCH_DEPTH, Renderers};

/// Files decoded at once: their pixels held in memory together.
const CHUNK: usize = 4096;

/// A decoded patch (pixels in a store slot, width, height), or why the file is not one.
type Decoded = Result<(Vec<u8>, u8, u8), String>;

/// What the input thread sends, in the order of the files.
pub enum PredictInput {
    /// A batch of the files that decoded, with their paths in batch order.
    Batch { paths: Vec<PathBuf>, batch: HostBatch },
    /// A file that is not a usable patch, and why: `"path: reason"`.
    Failure(String),
}

/// For a run that normalises stain: the map of each file's patient's stain onto the reference,
/// the patient read from the file's name (a file whose name names none is a patient of its
/// own), each patient's stain estimated from all its files given, as in training.
#[derive(Debug, Default)]
pub struct FileStains {
    by_patient: HashMap<String, OdTransform>,
}

impl FileStains {
    /// Estimates the stains of `files`' patients (reading each file once more; files that
    /// cannot be read are left to the prediction to report). Also says which patients have
    /// no estimate and are left as scanned.
    pub fn estimate(files: &[PathBuf]) -> (FileStains, Vec<String>) {
        let mut groups: HashMap<String, Vec<&PathBuf>> = HashMap::new();
        for path in files {
            groups.entry(patient_of(path)).or_default().push(path);
        }
        let estimates: Vec<(String, Result<OdTransform, String>)> = groups
            .into_par_iter()
            .map(|(patient, paths)| {
                let mut sampler = TissueSampler::new(paths.len() * PATCH_SIDE * PATCH_SIDE);
                for path in &paths {
                    if let Ok((pixels, width, height)) = decode_file(path) {
                        sampler.add(&pixels, width, height);
                    }
                }
                let stain = sampler.finish(&patient, paths.len(), 0);
                let map = match (stain.macenko, stain.problem) {
                    (Some(macenko), _) => Ok(macenko.normalising_transform(&REFERENCE_STAIN)),
                    (None, problem) => Err(problem.unwrap_or_default()),
                };
                (patient, map)
            })
            .collect();
        let mut stains = FileStains::default();
        let mut warnings = Vec::new();
        for (patient, map) in estimates {
            match map {
                Ok(map) => {
                    stains.by_patient.insert(patient, map);
                }
                Err(why) => warnings.push(format!("{patient}: {why}; its files are predicted as scanned")),
            }
        }
        warnings.sort();
        (stains, warnings)
    }

    fn of(&self, path: &Path) -> Option<&OdTransform> {
        self.by_patient.get(&patient_of(path))
    }
}

/// The patient a file's name names, else the file itself.
fn patient_of(path: &Path) -> String {
    path.file_name()
        .and_then(|name| name.to_str())
        .and_then(|name| parse_patch_name(name).ok())
        .map_or_else(|| path.display().to_string(), |name| name.patient)
}

/// Decodes `files` (in parallel, a chunk at a time) and renders them into batches of
/// `batch_size` on `render_threads` threads, each re-stained through `stains` where given, on a
/// thread named `idc-predict-input` that ends when the receiver is dropped.
pub fn prefetch_files(
    files: Vec<PathBuf>,
    batch_size: usize,
    render_threads: usize,
    stains: Option<Arc<FileStains>>,
) -> std::io::Result<Receiver<PredictInput>> {
    let (sender, receiver) = sync_channel(PREFETCH_DEPTH);
    let renderers = Renderers::new(render_threads)?;
    std::thread::Builder::new()
        .name("idc-predict-input".into())
        .spawn(move || {
            for chunk in files.chunks(CHUNK) {
                let decoded: Vec<(&PathBuf, Decoded)> =
                    chunk.par_iter().map(|path| (path, decode_file(path))).collect();
                let mut good = Vec::with_capacity(decoded.len());
                for (path, outcome) in decoded {
                    match outcome {
                        Ok(patch) => good.push((path, patch)),
                        Err(why) => {
                            if sender
                                .send(PredictInput::Failure(format!("{}: {why}", path.display())))
                                .is_err()
                            {
                                return; // the consumer stopped listening
                            }
                        }
                    }
                }
                for items in good.chunks(batch_size) {
                    let pixels: Vec<(&[u8], u8, u8, Option<&OdTransform>)> = items
                        .iter()
                        .map(|(path, (slot, width, height))| {
                            let stain = stains.as_ref().and_then(|stains| stains.of(path));
                            (slot.as_slice(), *width, *height, stain)
                        })
                        .collect();
                    let batch = HostBatch::from_pixels(&renderers, &pixels, batch_size);
                    let paths = items.iter().map(|(path, _)| (*path).clone()).collect();
                    if sender.send(PredictInput::Batch { paths, batch }).is_err() {
                        return;
                    }
                }
            }
        })?;
    Ok(receiver)
}

/// A file's patch, or why it is not one.
fn decode_file(path: &Path) -> Decoded {
    let mut slot = vec![0u8; PATCH_BYTES];
    let (width, height) = read_patch_file(path, &mut slot).map_err(|reason| reason.to_string())?;
    Ok((slot, width, height))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Five files in a folder: four patches of different sizes and colours, and one that is not
    /// a PNG, third in order.
    fn files(folder: &std::path::Path) -> Vec<PathBuf> {
        let mut files = Vec::new();
        for (index, (width, height)) in [(50, 50), (50, 31), (0, 0), (12, 50), (50, 50)]
            .into_iter()
            .enumerate()
        {
            let path = folder.join(format!("patch{index}.png"));
            if width == 0 {
                std::fs::write(&path, b"not a png").unwrap();
            } else {
                let image = image::RgbImage::from_fn(width, height, |x, y| {
                    image::Rgb([(x * 5) as u8, (y * 5) as u8, (index * 40) as u8])
                });
                image.save(&path).unwrap();
            }
            files.push(path);
        }
        files
    }

    /// A batch's paths and its images' bits.
    type Read = (Vec<PathBuf>, Vec<u32>);

    fn read_all(files: Vec<PathBuf>, render_threads: usize) -> (Vec<Read>, Vec<String>) {
        let (mut batches, mut failures) = (Vec::new(), Vec::new());
        for input in prefetch_files(files, 2, render_threads, None).unwrap() {
            match input {
                PredictInput::Batch { paths, batch } => {
                    assert_eq!(batch.len(), paths.len());
                    batches.push((paths, batch.images.iter().map(|value| value.to_bits()).collect()));
                }
                PredictInput::Failure(failure) => failures.push(failure),
            }
        }
        (batches, failures)
    }

    #[test]
    fn files_arrive_in_order_in_full_batches_with_the_bad_one_named_whoever_renders() {
        let folder = tempfile::tempdir().unwrap();
        let files = files(folder.path());
        let (batches, failures) = read_all(files.clone(), 1);
        let paths: Vec<Vec<PathBuf>> = batches.iter().map(|(paths, _)| paths.clone()).collect();
        assert_eq!(
            paths,
            [
                vec![files[0].clone(), files[1].clone()],
                vec![files[3].clone(), files[4].clone()]
            ]
        );
        assert_eq!(failures.len(), 1);
        assert!(
            failures[0].starts_with(&files[2].display().to_string()),
            "{failures:?}"
        );
        // The same batches, value for value, from a pool of renderers.
        assert_eq!(read_all(files, 3), (batches, failures));
    }
}
