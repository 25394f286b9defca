//! The tensor element types hearth computes with, and the names of every
//! ggml type id (so that errors about the ones we do not support are clear).
//!
//! The types and their block layouts are part of the file format, so they
//! live with the reader; the CPU kernels import this module and nothing else
//! of `model`, which keeps the dependency one-way (the model uses the
//! kernels, the kernels know only the format's types).

use std::fmt;

/// Elements in one block of the K-quant types (ggml's `QK_K`).
pub const QK_K: usize = 256;
/// Elements in one block of the 32-element quant types (ggml's `QK4_0`, `QK8_0`).
pub const QK32: usize = 32;

/// Bytes in one `Q4_0` block: `f16 d; u8 qs[16]`.
pub const Q4_0_BLOCK_BYTES: usize = 2 + QK32 / 2;
/// Bytes in one `Q8_0` block: `f16 d; i8 qs[32]`.
pub const Q8_0_BLOCK_BYTES: usize = 2 + QK32;
/// Bytes in one `Q4_K` block: `f16 d; f16 dmin; u8 scales[12]; u8 qs[128]`.
pub const Q4_K_BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 2;
/// Bytes in one `Q5_K` block: `f16 d; f16 dmin; u8 scales[12]; u8 qh[32]; u8 qs[128]`.
pub const Q5_K_BLOCK_BYTES: usize = 2 + 2 + 12 + QK_K / 8 + QK_K / 2;
/// Bytes in one `Q6_K` block: `u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d`.
pub const Q6_K_BLOCK_BYTES: usize = QK_K / 2 + QK_K / 4 + QK_K / 16 + 2;

/// A tensor element type that hearth can dequantize and compute with.
///
/// The discriminants are not the ggml ids: use [`GgmlType::id`] and
/// [`GgmlType::from_id`] to convert.
#[allow(non_camel_case_types)] // The names are ggml's, as users see them in GGUF tools.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GgmlType {
    /// 32-bit IEEE float.
    F32,
    /// 16-bit IEEE float.
    F16,
    /// bfloat16: the upper half of an f32.
    BF16,
    /// 4-bit, blocks of 32 with one f16 scale.
    Q4_0,
    /// 8-bit, blocks of 32 with one f16 scale.
    Q8_0,
    /// 4-bit K-quant: super-blocks of 256 in 8 sub-blocks with 6-bit scales and mins.
    Q4_K,
    /// 5-bit K-quant: like `Q4_K` plus one high bit per element.
    Q5_K,
    /// 6-bit K-quant: super-blocks of 256 in 16 sub-blocks with 8-bit scales.
    Q6_K,
}

impl GgmlType {
    /// Every supported type, in ggml id order (for error messages and tests).
    pub const ALL: [GgmlType; 8] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::Q4_0,
        GgmlType::Q8_0,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
        GgmlType::BF16,
    ];

    /// The supported type with ggml id `id`, or `None` for any other id.
    pub fn from_id(id: u32) -> Option<GgmlType> {
        Self::ALL.into_iter().find(|ty| ty.id() == id)
    }

    /// The ggml type id, as stored in GGUF tensor infos.
    pub fn id(self) -> u32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
            GgmlType::Q4_0 => 2,
            GgmlType::Q8_0 => 8,
            GgmlType::Q4_K => 12,
            GgmlType::Q5_K => 13,
            GgmlType::Q6_K => 14,
            GgmlType::BF16 => 30,
        }
    }

    /// ggml's name for the type ("Q4_K", "F32", ...).
    pub fn name(self) -> &'static str {
        match self {
            GgmlType::F32 => "F32",
            GgmlType::F16 => "F16",
            GgmlType::BF16 => "BF16",
            GgmlType::Q4_0 => "Q4_0",
            GgmlType::Q8_0 => "Q8_0",
            GgmlType::Q4_K => "Q4_K",
            GgmlType::Q5_K => "Q5_K",
            GgmlType::Q6_K => "Q6_K",
        }
    }

    /// Elements per block: 1 for the float types, 32 or 256 for quant types.
    pub fn block_len(self) -> usize {
        match self {
            GgmlType::F32 | GgmlType::F16 | GgmlType::BF16 => 1,
            GgmlType::Q4_0 | GgmlType::Q8_0 => QK32,
            GgmlType::Q4_K | GgmlType::Q5_K | GgmlType::Q6_K => QK_K,
        }
    }

    /// Bytes per block.
    pub fn block_bytes(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 | GgmlType::BF16 => 2,
            GgmlType::Q4_0 => Q4_0_BLOCK_BYTES,
            GgmlType::Q8_0 => Q8_0_BLOCK_BYTES,
            GgmlType::Q4_K => Q4_K_BLOCK_BYTES,
            GgmlType::Q5_K => Q5_K_BLOCK_BYTES,
            GgmlType::Q6_K => Q6_K_BLOCK_BYTES,
        }
    }

    /// Bytes holding `n_elements` elements, or `None` unless `n_elements`
    /// is a multiple of [`GgmlType::block_len`] (or the size overflows).
    pub fn row_bytes(self, n_elements: usize) -> Option<usize> {
        if !n_elements.is_multiple_of(self.block_len()) {
            return None;
        }
        (n_elements / self.block_len()).checked_mul(self.block_bytes())
    }

    /// True for the types whose blocks carry quantized integers and scales.
    pub fn is_quantized(self) -> bool {
        self.block_len() > 1
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// ggml's name for any type id, known to hearth or not ("IQ2_XXS" for 16),
/// or `None` for an id ggml never assigned. Ids that ggml has since removed
/// keep their historical names, which is what old files carry.
pub fn ggml_type_name(id: u32) -> Option<&'static str> {
    const NAMES: [&str; 42] = [
        "F32",
        "F16",
        "Q4_0",
        "Q4_1",
        "Q4_2",
        "Q4_3",
        "Q5_0",
        "Q5_1",
        "Q8_0",
        "Q8_1", // 0..=9
        "Q2_K",
        "Q3_K",
        "Q4_K",
        "Q5_K",
        "Q6_K",
        "Q8_K",
        "IQ2_XXS",
        "IQ2_XS",
        "IQ3_XXS",
        "IQ1_S", // 10..=19
        "IQ4_NL",
        "IQ3_S",
        "IQ2_S",
        "IQ4_XS",
        "I8",
        "I16",
        "I32",
        "I64",
        "F64",
        "IQ1_M", // 20..=29
        "BF16",
        "Q4_0_4_4",
        "Q4_0_4_8",
        "Q4_0_8_8",
        "TQ1_0",
        "TQ2_0",
        "IQ4_NL_4_4",
        "IQ4_NL_4_8",
        "IQ4_NL_8_8",
        "MXFP4", // 30..=39
        "NVFP4",
        "Q1_0", // 40..=41
    ];
    usize::try_from(id)
        .ok()
        .and_then(|index| NAMES.get(index))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_agree_with_the_full_name_table() {
        for ty in GgmlType::ALL {
            assert_eq!(GgmlType::from_id(ty.id()), Some(ty));
            assert_eq!(ggml_type_name(ty.id()), Some(ty.name()));
        }
        assert_eq!(GgmlType::from_id(16), None);
        assert_eq!(ggml_type_name(16), Some("IQ2_XXS"));
        assert_eq!(ggml_type_name(42), None);
    }

    #[test]
    fn block_sizes_match_ggml() {
        // ggml's type_size for each supported type (ggml.c type_traits).
        let expected = [
            (GgmlType::F32, 1, 4),
            (GgmlType::F16, 1, 2),
            (GgmlType::BF16, 1, 2),
            (GgmlType::Q4_0, 32, 18),
            (GgmlType::Q8_0, 32, 34),
            (GgmlType::Q4_K, 256, 144),
            (GgmlType::Q5_K, 256, 176),
            (GgmlType::Q6_K, 256, 210),
        ];
        for (ty, len, bytes) in expected {
            assert_eq!((ty.block_len(), ty.block_bytes()), (len, bytes), "{ty}");
        }
    }

    #[test]
    fn row_bytes_requires_whole_blocks() {
        assert_eq!(GgmlType::Q4_K.row_bytes(1536), Some(6 * 144));
        assert_eq!(GgmlType::Q4_K.row_bytes(100), None);
        assert_eq!(GgmlType::F16.row_bytes(3), Some(6));
        assert_eq!(GgmlType::Q8_0.row_bytes(0), Some(0));
        assert_eq!(GgmlType::F32.row_bytes(usize::MAX), None);
    }
}
