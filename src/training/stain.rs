//! A run's stain normalisation applied to the patches it trains and predicts on: for a run that
//! normalises, each patient's stain is estimated (kept beside the dataset, so once) and the
//! store renders every patch through its patient's map. The pixels a reader sees stay as
//! scanned.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::dataset::PatchStore;
use crate::dataset::stain::patient_stains::StainEstimateStopped;
use crate::dataset::stain::{PatientStains, StainNormalisation};

/// Why a run's store could not be stain-normalised.
#[derive(Debug, thiserror::Error)]
pub enum StainError {
    #[error("could not start the stain estimate: {0}")]
    Thread(String),
    #[error("the stain estimate failed: {0}")]
    Crashed(String),
    #[error(transparent)]
    Stopped(#[from] StainEstimateStopped),
}

/// A store as a run sees it, and what the user should be told of its stains.
pub type Normalised = (Arc<PatchStore>, Vec<String>);

/// `store` as a run with `normalisation` must see it, and a warning when the estimate could
/// not be kept in `stain_folder` (it is then made again next time) or some patients have no
/// estimate (they stay as scanned). `progress(done, total)` counts patients.
pub fn store_for_normalisation(
    store: &Arc<PatchStore>,
    normalisation: StainNormalisation,
    stain_folder: Option<&Path>,
    progress: &(dyn Fn(usize, usize) + Sync),
    stop: &AtomicBool,
) -> Result<(Arc<PatchStore>, Vec<String>), StainEstimateStopped> {
    if normalisation == StainNormalisation::None {
        return Ok((Arc::clone(store), Vec::new()));
    }
    let (stains, unsaved) = match stain_folder {
        Some(folder) => PatientStains::for_store(store, folder, progress, stop)?,
        None => (PatientStains::estimate(store, None, progress, stop)?, None),
    };
    let mut warnings: Vec<String> = unsaved
        .map(|err| format!("the patients' stains could not be kept ({err}); they will be estimated again"))
        .into_iter()
        .collect();
    for stain in &stains.patients {
        if let Some(problem) = &stain.problem {
            warnings.push(format!(
                "patient {}: {problem}; its patches are left as scanned",
                stain.patient
            ));
        }
    }
    let normalised = store.with_stain_normalisation(stains.normalising_transforms());
    Ok((Arc::new(normalised), warnings))
}

/// [`store_for_normalisation`] on a thread of its own while this thread reports its progress
/// to `report(done, total)`, which need not be shareable across threads (a training listener).
/// `Ok(None)` when stopped; `Err` when the estimate's thread could not start or panicked.
pub fn normalise_reporting(
    store: &Arc<PatchStore>,
    normalisation: StainNormalisation,
    stain_folder: Option<&Path>,
    report: &mut dyn FnMut(usize, usize),
    stop: &AtomicBool,
) -> Result<Option<Normalised>, StainError> {
    if normalisation == StainNormalisation::None {
        return Ok(Some((Arc::clone(store), Vec::new())));
    }
    let done = AtomicUsize::new(0);
    let total = store.patients().len();
    let estimated = std::thread::scope(|scope| {
        let estimate = std::thread::Builder::new()
            .name("idc-stain-estimate".into())
            .spawn_scoped(scope, || {
                let progress = |finished: usize, _: usize| {
                    done.fetch_max(finished, Ordering::Relaxed);
                };
                store_for_normalisation(store, normalisation, stain_folder, &progress, stop)
            })
            .map_err(|err| StainError::Thread(err.to_string()))?;
        let mut reported = None;
        while !estimate.is_finished() {
            let now = done.load(Ordering::Relaxed);
            if reported != Some(now) {
                report(now, total);
                reported = Some(now);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        estimate.join().map_err(|panic| {
            StainError::Crashed(
                panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(ToString::to_string))
                    .unwrap_or_else(|| "unknown panic".into()),
            )
        })
    })?;
    report(total, total);
    Ok(estimated.ok())
}

/// `store` as a run with `normalisation` predicts on it, the patients' stains read from (or
/// estimated into) the dataset's stain folder: for predictions made after training (the slide's
/// heatmap, "More like this"), where the estimate is almost always kept already.
pub fn store_for_run(
    store: &Arc<PatchStore>,
    normalisation: StainNormalisation,
) -> Result<Arc<PatchStore>, StainError> {
    let folder = crate::dataset::stain::patient_stains::stain_folder_of(store.root());
    let never = AtomicBool::new(false);
    let (normalised, warnings) =
        store_for_normalisation(store, normalisation, Some(&folder), &|_, _| {}, &never)?;
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    Ok(normalised)
}
