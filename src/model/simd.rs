//! Runtime choice of vector width for our CPU kernels: the release binary targets every x86-64
//! CPU (SSE2, 4 floats a vector), but a kernel's loop compiled again with AVX2 enabled works on
//! 8 floats at a time. The choice is made per call from the CPU's features, so the same binary
//! runs everywhere.

/// `fn $name(args) -> ret` that runs `$portable(args)` compiled with AVX2 when the CPU has it.
/// `$portable` should be `#[inline(always)]` so that it is compiled into each version.
macro_rules! with_avx2 {
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
