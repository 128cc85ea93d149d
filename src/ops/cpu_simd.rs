//! Runtime choice of vector width for our CPU kernels: the release binary targets every x86-64
//! CPU (SSE2, 4 floats a vector), but a kernel's loop compiled again with AVX2 enabled works on
//! 8 floats at a time. The choice is made per call from the CPU's features, so the same binary
//! runs everywhere.
//!
//! The compiler does not turn a reduction (a sum along a row) into vector code on its own, even
//! when written as eight sums side by side: those kernels have an AVX2 version written with
//! [`Lanes`], which adds and multiplies lane by lane in the portable version's order, so both
//! give the same numbers bit for bit (each kernel's tests check it).

/// `fn $name(args) -> ret` that runs `$portable(args)` compiled with AVX2 when the CPU has it.
/// `$portable` should be `#[inline(always)]` so that it is compiled into each version.
macro_rules! with_avx2 {
    // A hand-written AVX2 version, `$avx2`: a `#[target_feature(enable = "avx2")] fn`.
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $portable:ident, avx2: $avx2:ident) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU has AVX2, checked just above.
                return unsafe { $avx2($($arg),*) };
            }
            $portable($($arg),*)
        }
    };
    ($(#[$meta:meta])* fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? => $portable:ident) => {
        $(#[$meta])*
        fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx2")]
                fn avx2($($arg: $ty),*) $(-> $ret)? {
                    $portable($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            $portable($($arg),*)
        }
    };
}

pub(crate) use with_avx2;

#[cfg(target_arch = "x86_64")]
pub(crate) use lanes::Lanes;

/// Eight f32 lanes in one AVX2 register. Every operation is lane by lane and rounds as the scalar
/// one does (no fused multiply-add), so a kernel written with them matches its portable version.
#[cfg(target_arch = "x86_64")]
mod lanes {
    use std::arch::x86_64::{
        __m256, _CMP_GT_OQ, _CMP_TRUE_UQ, _CMP_UNORD_Q, _mm256_add_ps, _mm256_and_ps, _mm256_andnot_ps,
        _mm256_blendv_ps, _mm256_castpd_ps, _mm256_castps_pd, _mm256_cmp_ps, _mm256_loadu_ps, _mm256_max_ps,
        _mm256_mul_ps, _mm256_or_ps, _mm256_permute4x64_pd, _mm256_set1_ps, _mm256_setzero_ps,
        _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps, _mm256_unpacklo_ps,
    };

    pub(crate) const WIDTH: usize = 8;

    #[derive(Clone, Copy)]
    pub(crate) struct Lanes(__m256);

    /// A mask of the lanes where `later` replaces `best`: greater, or NaN.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn replaces(best: __m256, later: __m256) -> __m256 {
        _mm256_or_ps(
            _mm256_cmp_ps::<_CMP_GT_OQ>(later, best),
            _mm256_cmp_ps::<_CMP_UNORD_Q>(later, later),
        )
    }

    /// Lanes 2-3 and 4-5 swapped (64-bit pairs 0, 2, 1, 3): puts `_mm256_shuffle_ps`'s
    /// per-half results in order, and is its own inverse.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn swap_middle_pairs(values: __m256) -> __m256 {
        _mm256_castpd_ps(_mm256_permute4x64_pd::<0b11_01_10_00>(_mm256_castps_pd(values)))
    }

    impl Lanes {
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn zero() -> Self {
            Self(_mm256_setzero_ps())
        }

        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn splat(value: f32) -> Self {
            Self(_mm256_set1_ps(value))
        }

        /// The first eight values of `values` (which must have them).
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn load(values: &[f32]) -> Self {
            let values = &values[..WIDTH];
            // SAFETY: `values` holds the eight values read (the slice above checks it).
            Self(unsafe { _mm256_loadu_ps(values.as_ptr()) })
        }

        /// Writes the lanes over the first eight values of `values`.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn store(self, values: &mut [f32]) {
            let values = &mut values[..WIDTH];
            // SAFETY: `values` holds the eight values written (the slice above checks it).
            unsafe { _mm256_storeu_ps(values.as_mut_ptr(), self.0) }
        }

        /// Writes the lanes into the first eight values of `values`, initialised or not.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn store_into(self, values: &mut [std::mem::MaybeUninit<f32>]) {
            let values = &mut values[..WIDTH];
            // SAFETY: `values` holds the eight values written (the slice above checks it), and
            // `MaybeUninit<f32>` has `f32`'s layout.
            unsafe { _mm256_storeu_ps(values.as_mut_ptr().cast(), self.0) }
        }

        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn add(self, other: Self) -> Self {
            Self(_mm256_add_ps(self.0, other.0))
        }

        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn mul(self, other: Self) -> Self {
            Self(_mm256_mul_ps(self.0, other.0))
        }

        /// `value.max(0.0)`: NaN gives 0, as `f32::max` does (`maxps` returns its second operand
        /// when either is NaN).
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn relu(self) -> Self {
            Self(_mm256_max_ps(self.0, _mm256_setzero_ps()))
        }

        /// `if value > 0.0 { 1.0 } else { 0.0 }` (NaN gives 0).
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn positive_indicator(self) -> Self {
            let positive = _mm256_cmp_ps::<_CMP_GT_OQ>(self.0, _mm256_setzero_ps());
            Self(_mm256_and_ps(positive, _mm256_set1_ps(1.0)))
        }

        /// Lane by lane, `other` where the bits of `self` are set (a mask's lanes are all ones or
        /// all zeros): `other` or 0.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn and(self, mask: Self) -> Self {
            Self(_mm256_and_ps(self.0, mask.0))
        }

        /// Lane by lane, `if later > self || later.is_nan() { later } else { self }` (max
        /// pooling's rule: the first maximum wins, NaN above all).
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn first_max(self, later: Self) -> Self {
            Self(_mm256_blendv_ps(self.0, later.0, replaces(self.0, later.0)))
        }

        /// For four values per lane in order, which one max pooling picks (the first maximum, a
        /// NaN above all): four masks, one set per lane.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn winner_masks(values: [Self; 4]) -> [Self; 4] {
            let mut best = values[0].0;
            let mut replaced = [_mm256_setzero_ps(); 4];
            for index in 1..4 {
                replaced[index] = replaces(best, values[index].0);
                best = _mm256_blendv_ps(best, values[index].0, replaced[index]);
            }
            // The winner is the last value that replaced the best so far; the first where none did.
            replaced[0] = _mm256_cmp_ps::<_CMP_TRUE_UQ>(best, best);
            let mut taken = _mm256_setzero_ps();
            let mut masks = [Self::zero(); 4];
            for index in (0..4).rev() {
                masks[index] = Self(_mm256_andnot_ps(taken, replaced[index]));
                taken = _mm256_or_ps(taken, replaced[index]);
            }
            masks
        }

        /// The even-indexed and the odd-indexed of the sixteen values from `values[0]`.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn deinterleave(values: &[f32]) -> [Self; 2] {
            let (first, second) = (Self::load(values).0, Self::load(&values[WIDTH..]).0);
            // Per 128-bit half: `first`'s 0 and 2 then `second`'s 0 and 2 (1 and 3 for odd).
            let even = _mm256_shuffle_ps::<0b10_00_10_00>(first, second);
            let odd = _mm256_shuffle_ps::<0b11_01_11_01>(first, second);
            [Self(swap_middle_pairs(even)), Self(swap_middle_pairs(odd))]
        }

        /// Writes `even` and `odd` alternately over the first sixteen values of `values`: the
        /// inverse of [`Self::deinterleave`].
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn interleave(even: Self, odd: Self, values: &mut [std::mem::MaybeUninit<f32>]) {
            let (even, odd) = (swap_middle_pairs(even.0), swap_middle_pairs(odd.0));
            Self(_mm256_unpacklo_ps(even, odd)).store_into(values);
            Self(_mm256_unpackhi_ps(even, odd)).store_into(&mut values[WIDTH..]);
        }

        /// The lanes added in order, 0 to 7, as `[f32; 8]::iter().sum()` does.
        #[target_feature(enable = "avx2")]
        #[inline]
        pub(crate) fn sum(self) -> f32 {
            let mut values = [0f32; WIDTH];
            self.store(&mut values);
            values.iter().sum()
        }
    }
}

/// Values for checking a kernel's AVX2 version against its portable one: positive and negative,
/// with exact zeros of both signs among them, different for each `seed`.
#[cfg(test)]
pub(crate) fn test_values(count: usize, seed: u64) -> Vec<f32> {
    let mut state = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    (0..count)
        .map(|index| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            match index % 11 {
                3 => 0.0,
                7 => -0.0,
                _ => ((state >> 40) as f32 / (1u64 << 24) as f32 - 0.45) * 3.0,
            }
        })
        .collect()
}

/// Whether the CPU running the tests has AVX2 (without it there is only the portable version).
#[cfg(test)]
pub(crate) fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
