//! Principal components of the embeddings: the neighbour search runs on the first few (a
//! 256-unit distance is sixteen times the work of a 16-unit one, and the last components are
//! mostly noise), and the layout starts from the first two, so that the map begins with the
//! data's broad shape rather than at random.

use nalgebra::{DMatrix, SymmetricEigen};
use rayon::prelude::*;

/// Rows multiplied at once: a 4,096 x 256 block is 4 MB.
const BLOCK_ROWS: usize = 4096;

/// The directions of most variance of a set of rows, most first.
pub struct Components {
    units: usize,
    mean: Vec<f32>,
    /// `count` directions of `units` values, one after another.
    directions: Vec<f32>,
    pub count: usize,
}

impl Components {
    /// The first `count` principal components of `rows` (`units` values a row).
    pub fn fit(rows: &[f32], units: usize, count: usize) -> Components {
        let patches = rows.len() / units;
        let count = count.min(units);
        let mean = column_means(rows, units);
        let covariance = rows
            .par_chunks(BLOCK_ROWS * units)
            .map(|block| {
                let block_rows = block.len() / units;
                let centred = DMatrix::<f32>::from_fn(block_rows, units, |row, unit| {
                    block[row * units + unit] - mean[unit]
                });
                (centred.transpose() * &centred).cast::<f64>()
            })
            .reduce(|| DMatrix::<f64>::zeros(units, units), |a, b| a + b)
            / patches.max(1) as f64;
        let eigen = SymmetricEigen::new(covariance);
        let mut order: Vec<usize> = (0..units).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]));
        let directions = order[..count]
            .iter()
            .flat_map(|&column| {
                eigen
                    .eigenvectors
                    .column(column)
                    .iter()
                    .map(|&v| v as f32)
                    .collect::<Vec<_>>()
            })
            .collect();
        Components {
            units,
            mean,
            directions,
            count,
        }
    }

    /// Every row's coordinates along the components, `count` values a row.
    pub fn project(&self, rows: &[f32]) -> Vec<f32> {
        let directions = DMatrix::<f32>::from_row_slice(self.count, self.units, &self.directions);
        let mut projected = vec![0f32; rows.len() / self.units * self.count];
        projected
            .par_chunks_mut(BLOCK_ROWS * self.count)
            .zip(rows.par_chunks(BLOCK_ROWS * self.units))
            .for_each(|(out, block)| {
                let block_rows = block.len() / self.units;
                let centred = DMatrix::<f32>::from_fn(self.units, block_rows, |unit, row| {
                    block[row * self.units + unit] - self.mean[unit]
                });
                // count x block_rows, column-major: each patch's coordinates lie together.
                let product = &directions * centred;
                out.copy_from_slice(product.as_slice());
            });
        projected
    }
}

fn column_means(rows: &[f32], units: usize) -> Vec<f32> {
    let patches = (rows.len() / units).max(1) as f64;
    let sums = rows
        .par_chunks(BLOCK_ROWS * units)
        .map(|block| {
            let mut sums = vec![0f64; units];
            for row in block.chunks(units) {
                sums.iter_mut()
                    .zip(row)
                    .for_each(|(sum, &v)| *sum += f64::from(v));
            }
            sums
        })
        .reduce(
            || vec![0f64; units],
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
                a
            },
        );
    sums.iter().map(|sum| (sum / patches) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_component_follows_the_spread_and_projection_centres() {
        // Points along (1, 1, 0) with a little spread along z.
        let mut rows = Vec::new();
        for step in 0..100 {
            let t = step as f32 - 50.0;
            rows.extend([t + 3.0, t + 3.0, 0.01 * (step % 3) as f32]);
        }
        let components = Components::fit(&rows, 3, 2);
        let first = &components.directions[..3];
        let along = (first[0] + first[1]).abs() / 2f32.sqrt();
        assert!(along > 0.999, "first direction {first:?}");
        let projected = components.project(&rows);
        assert_eq!(projected.len(), 200);
        let mean_first: f32 = projected.chunks(2).map(|p| p[0]).sum::<f32>() / 100.0;
        assert!(mean_first.abs() < 1e-3);
        let spread = (projected[0] - projected[198]).abs();
        assert!((spread - 99.0 * 2f32.sqrt()).abs() < 0.01, "{spread}");
    }
}
