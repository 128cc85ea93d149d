//! Reading a saved module or optimiser state whole, when it is loaded.
//!
//! burn's own `try_load_file` and `OptimizerRecord::load` parse the file's header and leave each
//! tensor's values in the file, to be read by path when the tensor is first used. A model loaded
//! that way and used later (the app's patient predictions, `eval`) fails if its file is deleted
//! in between, with a panic on a device thread, or silently takes the values of a file that
//! replaced it (a run's `model.bpk` rewritten by a resumed run). A CancerNet file is 5 MB: read
//! it all now, and nothing later depends on the file.

use std::path::Path;

use burn::module::Module;
use burn::optim::OptimizerRecord;
use burn::store::ModuleRecord;
use burn::tensor::Bytes;

use crate::atomic_file::write_atomic;

/// Why a saved module or optimiser state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SavedFileError {
    #[error("unreadable: {0}")]
    Read(#[source] std::io::Error),
    /// burn could not decode the file (not a burnpack, or not this model's).
    #[error("{0}")]
    Decode(String),
    #[error("{0}")]
    Encode(String),
    #[error("{0}")]
    Write(#[source] std::io::Error),
}

/// `module` with the values saved in the burnpack file at `path`, all read now.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, SavedFileError> {
    let record =
        ModuleRecord::from_bytes(read(path)?).map_err(|err| SavedFileError::Decode(err.to_string()))?;
    module
        .try_load_record(record)
        .map_err(|err| SavedFileError::Decode(err.to_string()))
}

/// The optimiser state saved in the burnpack file at `path`, all read now.
pub fn load_optimizer_record(path: &Path) -> Result<OptimizerRecord, SavedFileError> {
    OptimizerRecord::from_bytes(read(path)?).map_err(|err| SavedFileError::Decode(err.to_string()))
}

fn read(path: &Path) -> Result<Bytes, SavedFileError> {
    std::fs::read(path)
        .map(Bytes::from_bytes_vec)
        .map_err(SavedFileError::Read)
}

/// Saves `module` to `path` through [`write_atomic`]: a kill leaves the old file or the new one,
/// and only ever temporaries that [`crate::atomic_file::remove_orphaned_temporaries`] knows.
pub fn save_module<M: Module>(module: M, path: &Path) -> Result<(), SavedFileError> {
    let bytes = module
        .into_record()
        .into_bytes()
        .map_err(|err| SavedFileError::Encode(err.to_string()))?;
    write_atomic(path, &bytes).map_err(SavedFileError::Write)
}

/// Saves an optimiser state as [`save_module`] saves a module.
pub fn save_optimizer_record(record: OptimizerRecord, path: &Path) -> Result<(), SavedFileError> {
    let bytes = record
        .into_bytes()
        .map_err(|err| SavedFileError::Encode(err.to_string()))?;
    write_atomic(path, &bytes).map_err(SavedFileError::Write)
}
