//! What every GPU kernel of ours (depthwise, ReLU + batch norm, AdaGrad, ...) needs around its
//! launch on burn's cubecl backend: the dtype check, new contiguous f32 tensors, launch shapes of
//! one thread per value, and a workgroup's sum for the reducing kernels.

use burn::prelude::Shape;
use burn::tensor::DType;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use cubecl::calculate_cube_count_elemwise;
use cubecl::prelude::*;

/// Whether every tensor holds f32 values, the only dtype our kernels read.
pub(crate) fn all_f32(tensors: &[&CubeTensor]) -> bool {
    tensors.iter().all(|tensor| tensor.dtype == DType::F32)
}

/// A new contiguous f32 tensor of `shape` on `like`'s device (its values not yet written).
pub(crate) fn empty_f32(like: &CubeTensor, shape: impl Into<Shape>) -> CubeTensor {
    empty_device_contiguous_dtype(like.client.clone(), like.device.clone(), shape.into(), DType::F32)
}

/// Workgroups of the device's usual size, enough for `threads` threads (the kernels return early
/// past their last one).
pub(crate) fn one_thread_each(tensor: &CubeTensor, threads: usize) -> (CubeCount, CubeDim) {
    let cube_dim = CubeDim::new(&tensor.client, threads);
    (
        calculate_cube_count_elemwise(&tensor.client, threads, cube_dim),
        cube_dim,
    )
}

/// A new contiguous f32 tensor of `like`'s shape, and the launch shape for one thread per value.
pub(crate) fn output_like(like: &CubeTensor) -> (CubeTensor, CubeCount, CubeDim) {
    let shape = like.meta.shape().clone();
    let values = shape.num_elements();
    let output = empty_f32(like, shape);
    let (cube_count, cube_dim) = one_thread_each(&output, values);
    (output, cube_count, cube_dim)
}

/// The sum of every thread's `value` in the workgroup, returned to all of them. Every thread of
/// the workgroup must call it (it waits at barriers); `scratch` holds a value per thread, and the
/// workgroup's size is a power of two.
#[cube]
pub(crate) fn workgroup_sum(scratch: &mut Shared<[f32]>, value: f32) -> f32 {
    scratch[UNIT_POS as usize] = value;
    sync_cube();
    let mut stride = CUBE_DIM / 2;
    while stride > 0 {
        if UNIT_POS < stride {
            let other = scratch[(UNIT_POS + stride) as usize];
            scratch[UNIT_POS as usize] += other;
        }
        sync_cube();
        stride /= 2;
    }
    let total = scratch[0];
    // Nobody writes the scratch again before everyone has read the total.
    sync_cube();
    total
}
