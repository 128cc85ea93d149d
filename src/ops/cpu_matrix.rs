//! Matrix products on the CPU through the `gemm` crate directly, for our backend extensions
//! (the 1x1 convolutions in pointwise.rs, the dense layer in dense.rs): operands are views into
//! a tensor's values with any strides, and the output is written without being zeroed first.
//! burn's flex product is the same `gemm` (strided too), but it allocates its output zeroed as
//! bytes and then copies it into an aligned buffer: two more passes over every output.

use burn::backend::flex::FlexTensor;
use burn::tensor::DType;

/// A matrix inside a slice: element `(row, column)` is at `row * row_stride + column *
/// column_stride`.
#[derive(Clone, Copy)]
pub(crate) struct Strided<'a> {
    values: &'a [f32],
    row_stride: usize,
    column_stride: usize,
}

impl<'a> Strided<'a> {
    pub(crate) fn row_major(values: &'a [f32], columns: usize) -> Self {
        Self {
            values,
            row_stride: columns,
            column_stride: 1,
        }
    }

    pub(crate) fn transposed(self) -> Self {
        Self {
            values: self.values,
            row_stride: self.column_stride,
            column_stride: self.row_stride,
        }
    }

    /// Panics unless a `rows x columns` matrix fits in the slice, so that `gemm`
    /// never reads outside it.
    fn check(&self, rows: usize, columns: usize) {
        if rows > 0 && columns > 0 {
            let last = (rows - 1) * self.row_stride + (columns - 1) * self.column_stride;
            assert!(
                last < self.values.len(),
                "a matrix product reads past its operand"
            );
        }
    }
}

/// `out [m, n]` (row-major, contiguous) = `lhs [m, k]` times `rhs [k, n]`, or `+=` when
/// `accumulate`. Every element of `out` is written; without `accumulate` none is read (gemm sets
/// its `alpha` to 0 then, and its kernels store without loading).
///
/// # Safety
/// `out` must be valid for writing `out_len` values, and for reading them, initialised, when
/// `accumulate`; nothing else may access them meanwhile.
pub(crate) unsafe fn multiply(
    out: *mut f32,
    out_len: usize,
    [m, n, k]: [usize; 3],
    lhs: Strided,
    rhs: Strided,
    accumulate: bool,
    parallelism: gemm::Parallelism,
) {
    assert!(m * n <= out_len, "a matrix product writes past its output");
    lhs.check(m, k);
    rhs.check(k, n);
    if m * n == 0 {
        return;
    }
    if k == 0 {
        if !accumulate {
            // SAFETY: `out` holds `m * n <= out_len` values (asserted above; the caller's
            // contract).
            unsafe { std::ptr::write_bytes(out, 0, m * n) };
        }
        return;
    }
    let stride = |value: usize| isize::try_from(value).expect("a stride fits in isize");
    // SAFETY: the operands lie within their slices (checked above) and `out` holds `m * n`
    // values (the caller's contract); `gemm` reads them only when `read_dst` (`accumulate`).
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            out,
            1,
            stride(n),
            accumulate,
            lhs.values.as_ptr(),
            stride(lhs.column_stride),
            stride(lhs.row_stride),
            rhs.values.as_ptr(),
            stride(rhs.column_stride),
            stride(rhs.row_stride),
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        );
    }
}

pub(crate) fn values(tensor: &FlexTensor) -> &[f32] {
    tensor
        .as_slice::<f32>()
        .expect("a contiguous f32 tensor has a slice view")
}

pub(crate) fn all_f32(tensors: [&FlexTensor; 2]) -> bool {
    tensors.iter().all(|tensor| tensor.dtype() == DType::F32)
}
