//! 2x2 max pooling with stride 2, as CancerNet pools after each stage, as a burn backend
//! extension: here for the CPU backend, in max_pool_gpu.rs for a GPU. burn's flex version is a general N-d pooling that works out
//! the window bounds of every output element and keeps an `i64` index per output for the
//! backward pass; here the four candidates are compared directly and the backward pass finds
//! the winner again from the input, which the graph keeps anyway.
//!
//! Ties and NaN are resolved as burn does: the first of the window (row by row) wins a tie, and
//! a NaN wins over any number.

use burn::backend::autodiff::Autodiff;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::flex::FlexTensor;
use burn::backend::ops::ModuleOps;
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Backend, Dispatch, Flex, TensorMetadata, backend_extension};
use burn::nn::pool::MaxPool2d;
use burn::prelude::*;
use burn::tensor::DType;
use rayon::prelude::*;

use super::device::uses_cpu_kernels;
use super::gpu_layers::gpu_layers;

// As depthwise.rs: `Cube` (wgpu) is always compiled in; `Fusion` records each call as one opaque
// operation. The GPU's kernels are in max_pool_gpu.rs.
#[backend_extension(Flex, Cube: cfg(all()), Fusion, Autodiff)]
pub trait MaxPool2x2Backend: Backend {
    /// `x [batch, channels, height, width]` to `[batch, channels, height / 2, width / 2]`.
    #[fusion(dtype = x, shape = Shape::new([x[0], x[1], x[2] / 2, x[3] / 2]))]
    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// The input's gradient: each output's gradient goes to its window's maximum (the backward
    /// pass; not differentiated itself).
    #[fusion(dtype = x, shape = x)]
    fn max_pool_2x2_input_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self>;
}

fn pool_options() -> ([usize; 2], [usize; 2], [usize; 2], [usize; 2], bool) {
    // kernel, stride, padding, dilation, ceil mode
    ([2, 2], [2, 2], [0, 0], [1, 1], false)
}

impl MaxPool2x2Backend for Flex {
    fn max_pool_2x2(x: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 {
            let (kernel, stride, padding, dilation, ceil) = pool_options();
            return Self::max_pool2d(x, kernel, stride, padding, dilation, ceil);
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let values = x.as_slice::<f32>().expect("contiguous f32");
        let [batch, channels, height, width] = dims;
        FlexTensor::from_data(TensorData::new(
            forward_f32(values, dims),
            [batch, channels, height / 2, width / 2],
        ))
    }

    fn max_pool_2x2_input_gradient(x: FlexTensor, output_gradient: FlexTensor) -> FlexTensor {
        if x.dtype() != DType::F32 || output_gradient.dtype() != DType::F32 {
            let (kernel, stride, padding, dilation, ceil) = pool_options();
            let pooled = Self::max_pool2d_with_indices(
                x.clone(),
                kernel,
                stride,
                padding,
                dilation,
                ceil,
                burn::tensor::IntDType::I64,
            );
            return Self::max_pool2d_with_indices_backward(
                x,
                kernel,
                stride,
                padding,
                dilation,
                ceil,
                output_gradient,
                pooled.indices,
            )
            .x_grad;
        }
        let dims: [usize; 4] = x.shape().dims();
        let x = x.to_contiguous();
        let output_gradient = output_gradient.to_contiguous();
        let gradient = backward_f32(
            x.as_slice::<f32>().expect("contiguous f32"),
            output_gradient.as_slice::<f32>().expect("contiguous f32"),
            dims,
        );
        FlexTensor::from_data(TensorData::new(gradient, dims))
    }
}

impl<B, C> MaxPool2x2Backend for Autodiff<B, C>
where
    B: MaxPool2x2Backend,
    C: CheckpointStrategy,
{
    fn max_pool_2x2_input_gradient(
        x: FloatTensor<Self>,
        output_gradient: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        Self::from_inner(B::max_pool_2x2_input_gradient(
            Self::inner(x),
            Self::inner(output_gradient),
        ))
    }

    fn max_pool_2x2(x: FloatTensor<Self>) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct MaxPoolStep;

        impl<B: MaxPool2x2Backend> Backward<B, 1> for MaxPoolStep {
            type State = FloatTensor<B>;

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _checkpointer: &mut Checkpointer,
            ) {
                let [node_x] = ops.parents;
                let output_gradient = grads.consume::<B>(&ops.node);
                if let Some(node) = node_x {
                    grads.register::<B>(
                        node.id,
                        B::max_pool_2x2_input_gradient(ops.state, output_gradient),
                    );
                }
            }
        }

        match MaxPoolStep.prepare::<C>([x.node()]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => {
                let x = x.into_primitive();
                let output = B::max_pool_2x2(x.clone());
                prep.finish(x, output)
            }
            OpsKind::UnTracked(prep) => prep.finish(B::max_pool_2x2(x.into_primitive())),
        }
    }
}

/// `pool.forward(x)` for CancerNet's 2x2, stride 2 pooling: our kernels on the CPU and on a GPU
/// (max_pool_gpu.rs), burn's on a GPU for tensors other than f32 or when
/// `IDC_STUDIO_GPU_MAX_POOL` says `burn` (gpu_layers.rs).
pub fn max_pool_2x2(pool: &MaxPool2d, x: Tensor<4>) -> Tensor<4> {
    if !uses_cpu_kernels(&x.device()) && (gpu_layers().burns_max_pool || x.dtype() != DType::F32) {
        return pool.forward(x);
    }
    Tensor::from_dispatch(Dispatch::max_pool_2x2(x.into_dispatch()))
}

/// Which of `[a, b, c, d]` burn's pooling picks: the first maximum, NaN above all (the GPU
/// kernels' `winner` is the same rule).
#[inline]
fn winner(window: [f32; 4]) -> (usize, f32) {
    let mut best = (0, window[0]);
    for (index, &value) in window.iter().enumerate().skip(1) {
        if value > best.1 || value.is_nan() {
            best = (index, value);
        }
    }
    best
}

fn forward_f32(x: &[f32], [batch, channels, height, width]: [usize; 4]) -> Vec<f32> {
    let (out_height, out_width) = (height / 2, width / 2);
    let mut output = vec![0f32; batch * channels * out_height * out_width];
    if output.is_empty() {
        return output;
    }
    output
        .par_chunks_mut(out_height * out_width)
        .zip(x.par_chunks(height * width))
        .for_each(|(output, plane)| {
            for row in 0..out_height {
                let top = &plane[2 * row * width..][..width];
                let bottom = &plane[(2 * row + 1) * width..][..width];
                for (column, out) in output[row * out_width..][..out_width].iter_mut().enumerate() {
                    let left = 2 * column;
                    *out = winner([top[left], top[left + 1], bottom[left], bottom[left + 1]]).1;
                }
            }
        });
    output
}

fn backward_f32(x: &[f32], output_gradient: &[f32], dims: [usize; 4]) -> Vec<f32> {
    let [_, _, height, width] = dims;
    let (out_height, out_width) = (height / 2, width / 2);
    let mut gradient = vec![0f32; x.len()];
    if out_height * out_width == 0 {
        return gradient;
    }
    gradient
        .par_chunks_mut(height * width)
        .zip(x.par_chunks(height * width))
        .zip(output_gradient.par_chunks(out_height * out_width))
        .for_each(|((gradient, plane), output_gradient)| {
            for row in 0..out_height {
                for column in 0..out_width {
                    let top = 2 * row * width + 2 * column;
                    let bottom = top + width;
                    let (index, _) = winner([plane[top], plane[top + 1], plane[bottom], plane[bottom + 1]]);
                    let target = [top, top + 1, bottom, bottom + 1][index];
                    gradient[target] = output_gradient[row * out_width + column];
                }
            }
        });
    gradient
}

#[cfg(test)]
mod tests {
    use burn::nn::pool::MaxPool2dConfig;

    use super::*;

    #[test]
    fn is_burns_max_pooling_forward_and_backward() {
        let device = Device::flex().autodiff();
        let pool = MaxPool2dConfig::new([2, 2]).with_strides([2, 2]).init();
        // Odd sides: the last row and column are left out, as burn does. Ties: a window's values
        // are v, v + 2, v + 3 and v again (mod 5), so where v = 4 the first and last tie.
        let shape = [2, 3, 7, 9];
        let count: usize = shape.iter().product();
        let values: Vec<f32> = (0..count).map(|i| ((i * 37) % 5) as f32).collect();
        let x = Tensor::<4>::from_data(TensorData::new(values, shape), &device).require_grad();
        let weights = Tensor::<4>::from_data(
            TensorData::new(
                (0..2 * 3 * 3 * 4).map(|i| i as f32 + 1.0).collect::<Vec<f32>>(),
                [2, 3, 3, 4],
            ),
            &device,
        );
        let ours = max_pool_2x2(&pool, x.clone());
        let burns = pool.forward(x.clone());
        assert_eq!(ours.dims(), [2, 3, 3, 4]);
        let difference = (ours.clone() - burns.clone()).abs().max().into_scalar::<f32>();
        assert_eq!(difference, 0.0);
        let ours = x.grad(&(ours * weights.clone()).sum().backward()).unwrap();
        let burns = x.grad(&(burns * weights).sum().backward()).unwrap();
        assert_eq!(
            ours.into_data().try_to_vec::<f32>().unwrap(),
            burns.into_data().try_to_vec::<f32>().unwrap()
        );
    }

    #[test]
    fn nan_wins_its_window() {
        assert_eq!(winner([1.0, 3.0, 3.0, 2.0]), (1, 3.0));
        let (index, value) = winner([1.0, f32::NAN, 5.0, 2.0]);
        assert_eq!(index, 1);
        assert!(value.is_nan());
    }
}
