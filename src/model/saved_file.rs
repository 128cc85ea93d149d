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

/// `module` with the values saved in the burnpack file at `path`, all read now.
pub fn load_module<M: Module>(module: M, path: &Path) -> Result<M, String> {
    let record = ModuleRecord::from_bytes(read(path)?).map_err(|err| format!("{err}"))?;
    module.try_load_record(record).map_err(|err| format!("{err}"))
}

/// The optimiser state saved in the burnpack file at `path`, all read now.
pub fn load_optimizer_record(path: &Path) -> Result<OptimizerRecord, String> {
    OptimizerRecord::from_bytes(read(path)?).map_err(|err| format!("{err}"))
}

fn read(path: &Path) -> Result<Bytes, String> {
    std::fs::read(path)
        .map(Bytes::from_bytes_vec)
        .map_err(|err| format!("unreadable: {err}"))
}

/// Saves `module` to `path` through [`write_atomic`]: a kill leaves the old file or the new one,
/// and only ever temporaries that [`crate::atomic_file::remove_orphaned_temporaries`] knows.
pub fn save_module<M: Module>(module: M, path: &Path) -> Result<(), String> {
    let bytes = module
        .into_record()
        .into_bytes()
        .map_err(|err| format!("{err}"))?;
    write_atomic(path, &bytes).map_err(|err| err.to_string())
}

/// Saves an optimiser state as [`save_module`] saves a module.
pub fn save_optimizer_record(record: OptimizerRecord, path: &Path) -> Result<(), String> {
    let bytes = record.into_bytes().map_err(|err| format!("{err}"))?;
    write_atomic(path, &bytes).map_err(|err| err.to_string())
}
