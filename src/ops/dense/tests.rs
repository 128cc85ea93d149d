//! The dense product against burn's `linear`, forward and backward.

use super::cpu::product;
use super::*;
use crate::ops::cpu_matrix::Strided;

fn tensor(shape: [usize; 2], seed: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..shape[0] * shape[1])
        .map(|i| ((i * 37 + seed * 11) % 23) as f32 / 11.0 - 1.0)
        .collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

#[test]
fn is_burns_linear_forward_and_backward() {
    let device = Device::flex().autodiff();
    // A batch of one, an odd batch, and sides that are not multiples of gemm's blocks.
    for [batch, inputs, out] in [[1, 5, 3], [7, 37, 9], [32, 300, 20]] {
        let x = tensor([batch, inputs], 1, &device).require_grad();
        let weight = tensor([inputs, out], 2, &device).require_grad();
        let upstream = tensor([batch, out], 3, &device);
        let burns = linear(x.clone(), weight.clone(), None);
        let ours = dense_product(x.clone(), weight.clone());
        let forward = (burns.clone() - ours.clone()).abs().max().into_scalar::<f32>();
        let burns_gradients = (burns * upstream.clone()).sum().backward();
        let our_gradients = (ours * upstream).sum().backward();
        let difference = |tensor: &Tensor<2>| {
            (tensor.grad(&burns_gradients).unwrap() - tensor.grad(&our_gradients).unwrap())
                .abs()
                .max()
                .into_scalar::<f32>()
        };
        let (input, weight) = (difference(&x), difference(&weight));
        assert!(
            forward < 1e-5 && input < 1e-5 && weight < 1e-5,
            "[{batch}, {inputs}] x [{inputs}, {out}]: differs by {forward} (output), {input} (input \
             gradient), {weight} (weight gradient)"
        );
    }
}

#[test]
fn the_products_do_not_depend_on_the_thread_count() {
    // CancerNet's dense layer at a batch of 32.
    let [batch, inputs, out] = [32, 4608, 256];
    let values = |len: usize, step: usize| -> Vec<f32> {
        (0..len).map(|i| ((i * step) % 31) as f32 * 0.37 - 5.0).collect()
    };
    let (x, weight, g) = (
        values(batch * inputs, 29),
        values(inputs * out, 7),
        values(batch * out, 13),
    );
    let all = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| {
                let x = Strided::row_major(&x, inputs);
                [
                    product(x, Strided::row_major(&weight, out), [batch, out, inputs]),
                    product(
                        Strided::row_major(&g, out),
                        Strided::row_major(&weight, out).transposed(),
                        [batch, inputs, out],
                    ),
                    product(x.transposed(), Strided::row_major(&g, out), [inputs, out, batch]),
                ]
            })
    };
    let one = all(1);
    assert_eq!(one, all(2));
    assert_eq!(one, all(5));
    assert!(one.iter().all(|values| values.iter().any(|&value| value != 0.0)));
}
