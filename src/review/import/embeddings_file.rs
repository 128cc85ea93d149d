//! An imported run's embeddings: a float32 N×D NumPy `.npy`, one row per row of the predictions
//! file, in its order.

use std::path::Path;

use super::table::{ImportError, file_error};

/// The rows of an embeddings file, `dimensions` values each.
pub struct EmbeddingsFile {
    pub dimensions: usize,
    pub values: Vec<f32>,
}

/// Reads `path`, which must hold `rows` rows of float32 in C order.
pub fn read_embeddings_file(path: &Path, rows: usize) -> Result<EmbeddingsFile, ImportError> {
    let file = std::fs::File::open(path).map_err(|err| file_error(path, err))?;
    let npy = npyz::NpyFile::new(std::io::BufReader::new(file))
        .map_err(|err| file_error(path, format!("not a NumPy .npy file: {err}")))?;
    let shape = npy.shape().to_vec();
    let [count, dimensions] = shape[..] else {
        return Err(file_error(
            path,
            format!("holds an array of shape {shape:?}; an N×D array of embeddings is needed"),
        ));
    };
    if npy.order() != npyz::Order::C {
        return Err(file_error(
            path,
            "is in Fortran order; save it in C order (numpy.ascontiguousarray)",
        ));
    }
    if count as usize != rows {
        return Err(file_error(
            path,
            format!(
                "has {count} rows, but the predictions file has {rows}: one embedding a row, in its order"
            ),
        ));
    }
    if dimensions == 0 {
        return Err(file_error(path, "its rows have no values"));
    }
    let dtype = npy.dtype();
    let values: Vec<f32> = npy.into_vec().map_err(|err| {
        file_error(
            path,
            format!("its values are {}, not float32: {err}", dtype.descr()),
        )
    })?;
    if let Some(position) = values.iter().position(|value| !value.is_finite()) {
        return Err(file_error(
            path,
            format!(
                "row {} holds a value that is not a number",
                position / dimensions as usize
            ),
        ));
    }
    Ok(EmbeddingsFile {
        dimensions: dimensions as usize,
        values,
    })
}
