//! Each patient's stain, estimated once from all its patches and kept beside the dataset: its
//! Macenko estimate (for normalisation) and its tissue's mean haematoxylin and eosin (to see at
//! a glance which patients were stained unlike the others).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::hed::hed_concentrations;
use super::macenko::{MacenkoStain, REFERENCE_STAIN, estimate_stain, is_tissue};
use super::optical_density::{OdTransform, densities};
use crate::dataset::{PATCH_SIDE, PatchStore};

/// Where a dataset's patient stains are kept: with its annotations (beside the dataset where it
/// can be written), since they are a fact of the dataset, not of one run.
pub fn stain_folder(annotations_folder: &Path) -> PathBuf {
    annotations_folder.join("stain")
}

/// [`stain_folder`] of the dataset at `dataset_root`, in this user's folders.
pub fn stain_folder_of(dataset_root: &Path) -> PathBuf {
    let annotations = crate::dataset::annotations_folder::annotations_folder(
        dataset_root,
        &crate::user_folders::data_home(),
    );
    stain_folder(&annotations)
}

/// The file of a dataset's patient stains, in [`stain_folder`].
pub const PATIENT_STAINS_FILE: &str = "patient_stains.json";
/// Tissue pixels sampled per patient, evenly over all its patches: enough for stable
/// percentiles, few enough that the largest real patient takes a fraction of a second.
const SAMPLES_PER_PATIENT: usize = 120_000;
/// Bumped when the estimate changes, so older files are estimated again.
const FORMAT_VERSION: u32 = 1;

/// One patient's stain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientStain {
    pub patient: String,
    /// What it was estimated from, to tell when the patient's patches changed.
    pub patches: usize,
    pub fingerprint: u64,
    /// Macenko's estimate; `None` with `problem` saying why.
    pub macenko: Option<MacenkoStain>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Mean haematoxylin and eosin concentration of its tissue (Ruifrok and Johnston's
    /// deconvolution), in optical density.
    pub mean_haematoxylin: f32,
    pub mean_eosin: f32,
}

/// Every patient's stain, in the order of the store's patients.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PatientStains {
    version: u32,
    pub patients: Vec<PatientStain>,
}

/// A patient stains file that cannot be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{}: {why}", path.display())]
pub struct PatientStainsFileError {
    pub path: PathBuf,
    pub why: String,
}

/// The estimate was stopped before every patient was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the stain estimate was stopped")]
pub struct StainEstimateStopped;

impl PatientStains {
    /// Estimates the stain of every patient of `store` on rayon's threads, reusing the patients
    /// of `earlier` whose patches are unchanged. `progress(done, total)` after each patient.
    pub fn estimate(
        store: &PatchStore,
        earlier: Option<&PatientStains>,
        progress: &(dyn Fn(usize, usize) + Sync),
        stop: &AtomicBool,
    ) -> Result<PatientStains, StainEstimateStopped> {
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); store.patients().len()];
        for (index, patch) in store.patches().iter().enumerate() {
            members[patch.patient as usize].push(index);
        }
        let total = members.len();
        let done = AtomicUsize::new(0);
        let patients = members
            .par_iter()
            .enumerate()
            .map(|(patient, indices)| {
                if stop.load(Ordering::Relaxed) {
                    return Err(StainEstimateStopped);
                }
                let name = &store.patients()[patient];
                let fingerprint = fingerprint(store, indices);
                let kept = earlier.and_then(|earlier| {
                    earlier.patients.iter().find(|stain| {
                        &stain.patient == name
                            && stain.patches == indices.len()
                            && stain.fingerprint == fingerprint
                    })
                });
                let stain = match kept {
                    Some(stain) => stain.clone(),
                    None => estimate_patient(store, name, indices, fingerprint),
                };
                progress(done.fetch_add(1, Ordering::Relaxed) + 1, total);
                Ok(stain)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(PatientStains {
            version: FORMAT_VERSION,
            patients,
        })
    }

    /// Per patient (store order), the map of its stain onto the reference; the identity for a
    /// patient without an estimate, who is left as scanned.
    pub fn normalising_transforms(&self) -> Vec<OdTransform> {
        self.patients
            .iter()
            .map(|stain| {
                stain.macenko.map_or(OdTransform::IDENTITY, |macenko| {
                    macenko.normalising_transform(&REFERENCE_STAIN)
                })
            })
            .collect()
    }

    /// Per patient, whether its stain lies far from the others': its haematoxylin's or its
    /// eosin's colour ([`StainHues`]) more than [`UNUSUAL_STAIN_DISTANCE`] robust standard
    /// deviations from the median (median and median absolute deviation, so the unusual patients
    /// do not hide themselves). The colours, not the amounts: how much of each stain a slide
    /// takes up follows its tissue (a tumour is crowded with nuclei) as much as its lab.
    pub fn unusual(&self) -> Vec<bool> {
        let hues: Vec<Option<StainHues>> = self.patients.iter().map(PatientStain::hues).collect();
        let known = |pick: fn(&StainHues) -> f32| -> Vec<f32> { hues.iter().flatten().map(pick).collect() };
        let (haematoxylin, eosin) = (
            RobustScale::of(&known(|hues| hues.haematoxylin)),
            RobustScale::of(&known(|hues| hues.eosin)),
        );
        hues.iter()
            .map(|hues| {
                hues.is_some_and(|hues| {
                    haematoxylin
                        .distance(hues.haematoxylin)
                        .max(eosin.distance(hues.eosin))
                        > UNUSUAL_STAIN_DISTANCE
                })
            })
            .collect()
    }

    /// The stains written to `folder` earlier, or `None` when there are none (or of an older
    /// format, to be estimated again).
    pub fn read(folder: &Path) -> Result<Option<PatientStains>, PatientStainsFileError> {
        let path = folder.join(PATIENT_STAINS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(file_error(&path, err)),
        };
        let stains: PatientStains =
            serde_json::from_str(&text).map_err(|err| file_error(&path, format!("damaged: {err}")))?;
        Ok((stains.version == FORMAT_VERSION).then_some(stains))
    }

    /// Writes the stains to `folder` (created if missing), atomically.
    pub fn write(&self, folder: &Path) -> Result<(), PatientStainsFileError> {
        let path = folder.join(PATIENT_STAINS_FILE);
        std::fs::create_dir_all(folder).map_err(|err| file_error(folder, err))?;
        let json = serde_json::to_vec_pretty(self).map_err(|err| file_error(&path, err))?;
        crate::atomic_file::write_atomic(&path, &json).map_err(|err| file_error(&path, err))
    }

    /// The patients of `store`'s stains: kept in `folder` where they are current, else
    /// estimated (the changed patients only) and written there. A folder that cannot be
    /// written loses only the cache: the estimate is returned with the reason it was not kept.
    pub fn for_store(
        store: &PatchStore,
        folder: &Path,
        progress: &(dyn Fn(usize, usize) + Sync),
        stop: &AtomicBool,
    ) -> Result<(PatientStains, Option<PatientStainsFileError>), StainEstimateStopped> {
        // A damaged cache is estimated again, not an error: it holds nothing the user made.
        let earlier = Self::read(folder).ok().flatten();
        let stains = Self::estimate(store, earlier.as_ref(), progress, stop)?;
        if earlier.as_ref() == Some(&stains) {
            return Ok((stains, None));
        }
        let unsaved = stains.write(folder).err();
        Ok((stains, unsaved))
    }
}

/// How many robust standard deviations from the median make a patient's stain unusual.
pub const UNUSUAL_STAIN_DISTANCE: f32 = 3.5;
/// The least spread of stain hues taken as one robust standard deviation, in degrees: one
/// lab's batches differ by a few degrees, and so does the estimate of a small patient.
const HUE_SPREAD_FLOOR: f32 = 5.0;

/// A stain's colour as an angle: its unit optical density seen along the grey axis (where
/// every channel absorbs alike), in degrees from 0 to 360. Haematoxylin sits near 115 and
/// eosin near 160; a bluer haematoxylin or a pinker eosin turns the angle.
pub fn hue_degrees(density: [f32; 3]) -> f32 {
    let [r, g, b] = density;
    let across = (r - g) / 2f32.sqrt();
    let up = (r + g - 2.0 * b) / 6f32.sqrt();
    up.atan2(across).to_degrees().rem_euclid(360.0)
}

/// A patient's two stain colours, as [`hue_degrees`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StainHues {
    pub haematoxylin: f32,
    pub eosin: f32,
}

impl PatientStain {
    /// Its stains' colours, where it has an estimate.
    pub fn hues(&self) -> Option<StainHues> {
        self.macenko.map(|stain| StainHues {
            haematoxylin: hue_degrees(stain.haematoxylin),
            eosin: hue_degrees(stain.eosin),
        })
    }
}

/// The median of some values and their robust standard deviation (1.4826 x the median
/// absolute deviation, at least [`HUE_SPREAD_FLOOR`]).
struct RobustScale {
    median: f32,
    sigma: f32,
}

impl RobustScale {
    fn of(values: &[f32]) -> RobustScale {
        let median = |mut values: Vec<f32>| {
            values.sort_by(f32::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or(0.0)
        };
        let centre = median(values.to_vec());
        let spread = median(values.iter().map(|value| (value - centre).abs()).collect());
        RobustScale {
            median: centre,
            sigma: (1.4826 * spread).max(HUE_SPREAD_FLOOR),
        }
    }

    /// How many robust standard deviations `value` is from the median.
    fn distance(&self, value: f32) -> f32 {
        (value - self.median).abs() / self.sigma
    }
}

fn file_error(path: &Path, why: impl std::fmt::Display) -> PatientStainsFileError {
    PatientStainsFileError {
        path: path.to_path_buf(),
        why: why.to_string(),
    }
}

/// A cheap identity of a patient's set of patches: their positions and sizes.
fn fingerprint(store: &PatchStore, indices: &[usize]) -> u64 {
    indices.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &index| {
        let patch = store.patch(index);
        let key = (u64::from(patch.x) << 32)
            ^ u64::from(patch.y)
            ^ (u64::from(patch.width) << 16)
            ^ (u64::from(patch.height) << 24);
        (hash ^ key).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// One patient's estimate from tissue pixels sampled evenly over all its patches.
fn estimate_patient(store: &PatchStore, name: &str, indices: &[usize], fingerprint: u64) -> PatientStain {
    let area: usize = indices
        .iter()
        .map(|&index| {
            let patch = store.patch(index);
            usize::from(patch.width) * usize::from(patch.height)
        })
        .sum();
    let mut sampler = TissueSampler::new(area);
    for &index in indices {
        let patch = store.patch(index);
        sampler.add(store.pixels(index), patch.width, patch.height);
    }
    sampler.finish(name, indices.len(), fingerprint)
}

/// Pixels of one patient's patches, every `stride`-th of them so that about
/// [`SAMPLES_PER_PATIENT`] are kept whatever its size, gathered into its stain.
pub struct TissueSampler {
    stride: usize,
    seen: usize,
    densities: Vec<[f32; 3]>,
    haematoxylin: f64,
    eosin: f64,
    tissue: usize,
}

impl TissueSampler {
    /// For patches that hold about `area` pixels in all.
    pub fn new(area: usize) -> TissueSampler {
        let stride = area.div_ceil(SAMPLES_PER_PATIENT).max(1);
        TissueSampler {
            stride,
            seen: 0,
            densities: Vec::with_capacity(area / stride + 1),
            haematoxylin: 0.0,
            eosin: 0.0,
            tissue: 0,
        }
    }

    /// Samples a stored patch (50x50x3, of which `width` x `height` is real).
    pub fn add(&mut self, pixels: &[u8], width: u8, height: u8) {
        for y in 0..usize::from(height) {
            for x in 0..usize::from(width) {
                self.seen += 1;
                if !self.seen.is_multiple_of(self.stride) {
                    continue;
                }
                let at = (y * PATCH_SIDE + x) * 3;
                let rgb = [pixels[at], pixels[at + 1], pixels[at + 2]];
                let od = densities(rgb);
                if is_tissue(&od) {
                    let [h, e, _] = hed_concentrations(rgb);
                    self.haematoxylin += f64::from(h);
                    self.eosin += f64::from(e);
                    self.tissue += 1;
                }
                self.densities.push(od);
            }
        }
    }

    /// The stain of what was sampled, for patient `name` with `patches` patches.
    pub fn finish(self, name: &str, patches: usize, fingerprint: u64) -> PatientStain {
        let mean = |sum: f64| {
            if self.tissue == 0 {
                0.0
            } else {
                (sum / self.tissue as f64) as f32
            }
        };
        let estimate = estimate_stain(&self.densities);
        PatientStain {
            patient: name.to_string(),
            patches,
            fingerprint,
            problem: estimate.as_ref().err().map(ToString::to_string),
            macenko: estimate.ok(),
            mean_haematoxylin: mean(self.haematoxylin),
            mean_eosin: mean(self.eosin),
        }
    }
}
