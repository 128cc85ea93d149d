//! New output buffers that a kernel of ours writes in full, never zeroed first. Zeroing a buffer
//! that is then overwritten is one more pass over it for nothing, and for memory fresh from the
//! allocator it is also where the pages are first touched. Left out of the depthwise
//! convolution, max pooling and batch norm, it made CPU inference about a sixth faster and
//! training about a tenth (README, "Speed on the CPU").

use std::mem::MaybeUninit;

/// A buffer of `len` values written by `fill`, which gets them uninitialised.
///
/// # Safety
/// `fill` must write every one of the `len` values.
pub(crate) unsafe fn written(len: usize, fill: impl FnOnce(&mut [MaybeUninit<f32>])) -> Vec<f32> {
    let mut values = Vec::<f32>::with_capacity(len);
    fill(&mut values.spare_capacity_mut()[..len]);
    // SAFETY: `fill` wrote every one of the `len` values (the caller's contract); if it
    // panicked, the buffer is dropped empty.
    unsafe { values.set_len(len) };
    values
}

/// [`written`] for a writer that takes the buffer's start (`gemm`'s output pointer).
///
/// # Safety
/// `fill` must write every one of the `len` values, and no others.
pub(crate) unsafe fn written_by(len: usize, fill: impl FnOnce(*mut f32)) -> Vec<f32> {
    // SAFETY: passed on to the caller.
    unsafe { written(len, |values| fill(values.as_mut_ptr().cast())) }
}

/// Initialised values seen as a kernel's output, for tests that compare two kernels' writes.
#[cfg(test)]
pub(crate) fn as_output(values: &mut [f32]) -> &mut [MaybeUninit<f32>] {
    // SAFETY: `MaybeUninit<f32>` has `f32`'s layout, and the kernels write only initialised
    // values through it, so `values` stays initialised.
    unsafe { &mut *(values as *mut [f32] as *mut [MaybeUninit<f32>]) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_holds_what_its_writer_wrote() {
        // SAFETY: the writer writes all five values.
        let values = unsafe {
            written(5, |out| {
                for (index, value) in out.iter_mut().enumerate() {
                    value.write(index as f32 * 1.5);
                }
            })
        };
        assert_eq!(values, [0.0, 1.5, 3.0, 4.5, 6.0]);
    }
}
