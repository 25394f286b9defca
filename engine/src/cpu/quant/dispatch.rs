//! Run-time choice between the AVX2 kernels and the scalar references.
//!
//! A kernel is chosen once (per matrix, say) and then called per row, so
//! the hot loop pays for neither feature detection nor a type match.

use super::q8::{Q8KBlock, Q8_0Block};
use super::{q8, vec_dot};
use crate::model::gguf::types::GgmlType;

/// True when this CPU has what the x86 SIMD kernels need: AVX2, with FMA
/// and F16C (which every AVX2 CPU also has).
pub fn has_avx2() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        is_x86_feature_detected!("avx2")
            && is_x86_feature_detected!("fma")
            && is_x86_feature_detected!("f16c")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// An AVX2 `Q8_K` kernel: unsafe only because it needs those CPU features.
#[cfg(target_arch = "x86_64")]
type Avx2Q8KKernel = unsafe fn(&[u8], &[Q8KBlock]) -> f32;

/// One implementation of a dot product kernel.
#[derive(Clone, Copy, Debug)]
enum Kernel<Y: 'static> {
    Scalar(fn(&[u8], &[Y]) -> f32),
    /// Invariant: only built after [`has_avx2`] returned true.
    #[cfg(target_arch = "x86_64")]
    Avx2(unsafe fn(&[u8], &[Y]) -> f32),
}

impl<Y> Kernel<Y> {
    #[inline]
    fn call(self, row: &[u8], y: &[Y]) -> f32 {
        match self {
            Kernel::Scalar(kernel) => kernel(row, y),
            // SAFETY: `Avx2` kernels are only built once AVX2, FMA and F16C
            // were detected, which is their only precondition.
            #[cfg(target_arch = "x86_64")]
            Kernel::Avx2(kernel) => unsafe { kernel(row, y) },
        }
    }

    fn is_simd(&self) -> bool {
        !matches!(self, Kernel::Scalar(_))
    }
}

/// A dot product of a quantized weight row with `Q8_K` activations, for
/// one weight type (`Q4_K`, `Q5_K`, `Q6_K`).
#[derive(Clone, Copy, Debug)]
pub struct Q8KDot {
    ty: GgmlType,
    kernel: Kernel<Q8KBlock>,
    /// The same dot product against [`Q8K_COLS`] activation rows at once,
    /// where this CPU and type have one. Invariant: only set after
    /// [`has_avx2`] returned true.
    #[cfg(target_arch = "x86_64")]
    cols: Option<Avx2Q8KColsKernel>,
}

/// Activation rows the multi-row kernels ([`Q8KDot::dot_cols`]) take at once:
/// enough to reuse each unpacked weight block several times, few enough
/// that the accumulators stay (mostly) in the 16 vector registers.
pub const Q8K_COLS: usize = 4;

/// An AVX2 multi-row `Q8_K` kernel.
#[cfg(target_arch = "x86_64")]
type Avx2Q8KColsKernel = unsafe fn(&[u8], &[&[Q8KBlock]; Q8K_COLS]) -> [f32; Q8K_COLS];

impl Q8KDot {
    /// The fastest kernel this CPU runs for rows of type `ty`, or `None` if
    /// `ty` is not computed against `Q8_K` activations.
    pub fn best(ty: GgmlType) -> Option<Q8KDot> {
        let scalar = Self::scalar(ty)?;
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            let avx2: Option<Avx2Q8KKernel> = match ty {
                GgmlType::Q4_K => Some(super::avx2::vec_dot_q4_k_q8_k),
                GgmlType::Q6_K => Some(super::avx2::vec_dot_q6_k_q8_k),
                _ => None,
            };
            let cols: Option<Avx2Q8KColsKernel> = match ty {
                GgmlType::Q4_K => Some(super::avx2::vec_dot_q4_k_q8_k_cols::<Q8K_COLS>),
                GgmlType::Q6_K => Some(super::avx2::vec_dot_q6_k_q8_k_cols::<Q8K_COLS>),
                _ => None,
            };
            if let Some(kernel) = avx2 {
                return Some(Q8KDot {
                    ty,
                    kernel: Kernel::Avx2(kernel),
                    cols,
                });
            }
        }
        Some(scalar)
    }

    /// The scalar reference kernel for rows of type `ty`, or `None` if `ty`
    /// is not computed against `Q8_K` activations.
    pub fn scalar(ty: GgmlType) -> Option<Q8KDot> {
        let kernel: fn(&[u8], &[Q8KBlock]) -> f32 = match ty {
            GgmlType::Q4_K => vec_dot::vec_dot_q4_k_q8_k,
            GgmlType::Q5_K => vec_dot::vec_dot_q5_k_q8_k,
            GgmlType::Q6_K => vec_dot::vec_dot_q6_k_q8_k,
            _ => return None,
        };
        Some(Q8KDot {
            ty,
            kernel: Kernel::Scalar(kernel),
            #[cfg(target_arch = "x86_64")]
            cols: None,
        })
    }

    /// The weight type this kernel reads.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// True for a SIMD kernel, false for the scalar reference.
    pub fn is_simd(&self) -> bool {
        self.kernel.is_simd()
    }

    /// [`Q8KDot::dot`] of `row` with each of `ys`: one pass over the row,
    /// each result bit-identical to `dot(row, ys[j])` (so how a batch is
    /// split never changes a result).
    ///
    /// # Panics
    /// If `row` is not `ty.block_bytes() * y.len()` bytes for each `y`.
    #[inline]
    pub fn dot_cols(&self, row: &[u8], ys: &[&[Q8KBlock]; Q8K_COLS]) -> [f32; Q8K_COLS] {
        #[cfg(target_arch = "x86_64")]
        if let Some(kernel) = self.cols {
            // SAFETY: `cols` is only set once AVX2, FMA and F16C were detected.
            return unsafe { kernel(row, ys) };
        }
        ys.map(|y| self.dot(row, y))
    }

    /// The dot product of `row` (one block of `ty` per activation block)
    /// with `y`, whose `bsums` must match its `qs`.
    ///
    /// # Panics
    /// If `row` is not `ty.block_bytes() * y.len()` bytes.
    #[inline]
    pub fn dot(&self, row: &[u8], y: &[Q8KBlock]) -> f32 {
        self.kernel.call(row, y)
    }
}

/// A dot product of a quantized weight row with `Q8_0` activations, for
/// one weight type (`Q8_0`, `Q4_0`).
#[allow(non_camel_case_types)] // Named after the `Q8_0` layout, like `Q8_0Block`.
#[derive(Clone, Copy, Debug)]
pub struct Q8_0Dot {
    ty: GgmlType,
    kernel: Kernel<Q8_0Block>,
}

impl Q8_0Dot {
    /// The fastest kernel this CPU runs for rows of type `ty`, or `None` if
    /// `ty` is not computed against `Q8_0` activations.
    pub fn best(ty: GgmlType) -> Option<Q8_0Dot> {
        let scalar = Self::scalar(ty)?;
        #[cfg(target_arch = "x86_64")]
        if has_avx2() {
            let kernel: unsafe fn(&[u8], &[Q8_0Block]) -> f32 = match ty {
                GgmlType::Q8_0 => super::avx2::vec_dot_q8_0_q8_0,
                _ => super::avx2::vec_dot_q4_0_q8_0,
            };
            return Some(Q8_0Dot {
                ty,
                kernel: Kernel::Avx2(kernel),
            });
        }
        Some(scalar)
    }

    /// The scalar reference kernel for rows of type `ty`, or `None` if `ty`
    /// is not computed against `Q8_0` activations.
    pub fn scalar(ty: GgmlType) -> Option<Q8_0Dot> {
        let kernel: fn(&[u8], &[Q8_0Block]) -> f32 = match ty {
            GgmlType::Q8_0 => vec_dot::vec_dot_q8_0_q8_0,
            GgmlType::Q4_0 => vec_dot::vec_dot_q4_0_q8_0,
            _ => return None,
        };
        Some(Q8_0Dot {
            ty,
            kernel: Kernel::Scalar(kernel),
        })
    }

    /// The weight type this kernel reads.
    pub fn ty(&self) -> GgmlType {
        self.ty
    }

    /// True for a SIMD kernel, false for the scalar reference.
    pub fn is_simd(&self) -> bool {
        self.kernel.is_simd()
    }

    /// The dot product of `row` (one block of `ty` per activation block) with `y`.
    /// Weight quants of -128 (which no ggml quantizer writes) may saturate
    /// in the SIMD kernel.
    ///
    /// # Panics
    /// If `row` is not `ty.block_bytes() * y.len()` bytes.
    #[inline]
    pub fn dot(&self, row: &[u8], y: &[Q8_0Block]) -> f32 {
        self.kernel.call(row, y)
    }
}

/// The fastest `Q8_K` dot product kernel for `ty` (see [`Q8KDot::best`]).
pub fn q8k_dot_kernel(ty: GgmlType) -> Option<Q8KDot> {
    Q8KDot::best(ty)
}

/// The fastest `Q8_0` dot product kernel for `ty` (see [`Q8_0Dot::best`]).
pub fn q8_0_dot_kernel(ty: GgmlType) -> Option<Q8_0Dot> {
    Q8_0Dot::best(ty)
}

/// [`q8::quantize_row_q8_k`] with AVX2 when this CPU has it; the output is
/// identical either way for finite input.
///
/// # Panics
/// If `x.len()` is not `256 * out.len()`.
pub fn quantize_row_q8_k_fast(x: &[f32], out: &mut [Q8KBlock]) {
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2, FMA and F16C were just detected.
        unsafe { super::avx2::quantize_row_q8_k(x, out) };
        return;
    }
    q8::quantize_row_q8_k(x, out);
}
