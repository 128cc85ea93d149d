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
