//! GGUF metadata values.

use std::fmt;

/// The GGUF value type ids (the `gguf_type` enum of the format).
pub(crate) mod value_type {
    pub const U8: u32 = 0;
    pub const I8: u32 = 1;
    pub const U16: u32 = 2;
    pub const I16: u32 = 3;
    pub const U32: u32 = 4;
    pub const I32: u32 = 5;
    pub const F32: u32 = 6;
    pub const BOOL: u32 = 7;
    pub const STRING: u32 = 8;
    pub const ARRAY: u32 = 9;
    pub const U64: u32 = 10;
    pub const I64: u32 = 11;
    pub const F64: u32 = 12;

    /// The name of a value type id, for error messages.
    pub fn name(id: u32) -> Option<&'static str> {
        const NAMES: [&str; 13] = [
            "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64",
            "f64",
        ];
        NAMES.get(usize::try_from(id).ok()?).copied()
    }

    /// The fewest bytes one value of type `id` takes in a file: strings
    /// have an 8-byte length, arrays a 4-byte type and an 8-byte count.
    pub fn min_encoded_len(id: u32) -> Option<u64> {
        Some(match id {
            U8 | I8 | BOOL => 1,
            U16 | I16 => 2,
            U32 | I32 | F32 => 4,
            U64 | I64 | F64 | STRING => 8,
            ARRAY => 12,
            _ => return None,
        })
    }
}

/// One metadata value of a GGUF file.
#[derive(Clone, Debug, PartialEq)]
pub enum MetaValue {
    /// Unsigned 8-bit integer.
    U8(u8),
    /// Signed 8-bit integer.
    I8(i8),
    /// Unsigned 16-bit integer.
    U16(u16),
    /// Signed 16-bit integer.
    I16(i16),
    /// Unsigned 32-bit integer.
    U32(u32),
    /// Signed 32-bit integer.
    I32(i32),
    /// Unsigned 64-bit integer.
    U64(u64),
    /// Signed 64-bit integer.
    I64(i64),
    /// 32-bit float.
    F32(f32),
    /// 64-bit float.
    F64(f64),
    /// Boolean.
    Bool(bool),
    /// UTF-8 string.
    String(String),
    /// Array whose elements all have one type (possibly nested arrays).
    Array(Vec<MetaValue>),
}

impl MetaValue {
    /// The GGUF value type id of this value.
    pub(crate) fn type_id(&self) -> u32 {
        match self {
            MetaValue::U8(_) => value_type::U8,
            MetaValue::I8(_) => value_type::I8,
            MetaValue::U16(_) => value_type::U16,
            MetaValue::I16(_) => value_type::I16,
            MetaValue::U32(_) => value_type::U32,
            MetaValue::I32(_) => value_type::I32,
            MetaValue::U64(_) => value_type::U64,
            MetaValue::I64(_) => value_type::I64,
            MetaValue::F32(_) => value_type::F32,
            MetaValue::F64(_) => value_type::F64,
            MetaValue::Bool(_) => value_type::BOOL,
            MetaValue::String(_) => value_type::STRING,
            MetaValue::Array(_) => value_type::ARRAY,
        }
    }

    /// The type's name as GGUF tools print it ("u32", "string", "array", ...).
    pub fn type_name(&self) -> &'static str {
        value_type::name(self.type_id()).unwrap_or("unknown")
    }

    /// The value as an i128 if it is an integer of any width and sign.
    fn as_integer(&self) -> Option<i128> {
        Some(match *self {
            MetaValue::U8(v) => v.into(),
            MetaValue::I8(v) => v.into(),
            MetaValue::U16(v) => v.into(),
            MetaValue::I16(v) => v.into(),
            MetaValue::U32(v) => v.into(),
            MetaValue::I32(v) => v.into(),
            MetaValue::U64(v) => v.into(),
            MetaValue::I64(v) => v.into(),
            _ => return None,
        })
    }

    /// True for the integer types, of any width and sign.
    pub fn is_integer(&self) -> bool {
        self.as_integer().is_some()
    }

    /// The value as a u64 if it is an integer of any type that fits.
    pub fn as_u64(&self) -> Option<u64> {
        self.as_integer().and_then(|v| u64::try_from(v).ok())
    }

    /// The value as an i64 if it is an integer of any type that fits.
    pub fn as_i64(&self) -> Option<i64> {
        self.as_integer().and_then(|v| i64::try_from(v).ok())
    }

    /// The value as an f32 if it is a float or an integer (converted to
    /// the nearest f32).
    pub fn as_f32(&self) -> Option<f32> {
        match *self {
            MetaValue::F32(v) => Some(v),
            MetaValue::F64(v) => Some(v as f32),
            _ => self.as_integer().map(|v| v as f32),
        }
    }

    /// The value as a bool if it is one.
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            MetaValue::Bool(v) => Some(v),
            _ => None,
        }
    }

    /// The value as a string slice if it is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            MetaValue::String(v) => Some(v),
            _ => None,
        }
    }

    /// The elements if the value is an array.
    pub fn as_array(&self) -> Option<&[MetaValue]> {
        match self {
            MetaValue::Array(v) => Some(v),
            _ => None,
        }
    }
}

impl fmt::Display for MetaValue {
    /// Scalars as themselves; strings quoted; arrays by element count.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetaValue::F32(v) => write!(f, "{v}"),
            MetaValue::F64(v) => write!(f, "{v}"),
            MetaValue::Bool(v) => write!(f, "{v}"),
            MetaValue::String(v) => write!(f, "{v:?}"),
            MetaValue::Array(v) => write!(f, "[{} elements]", v.len()),
            integer => match integer.as_integer() {
                Some(v) => write!(f, "{v}"),
                None => f.write_str(integer.type_name()),
            },
        }
    }
}

macro_rules! meta_value_from {
    ($($ty:ty => $variant:ident),* $(,)?) => {
        $(impl From<$ty> for MetaValue {
            fn from(value: $ty) -> Self {
                MetaValue::$variant(value)
            }
        })*
    };
}

meta_value_from!(
    u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32, i32 => I32, u64 => U64,
    i64 => I64, f32 => F32, f64 => F64, bool => Bool, String => String,
);

impl From<&str> for MetaValue {
    fn from(value: &str) -> Self {
        MetaValue::String(value.to_owned())
    }
}

impl<T: Into<MetaValue>> From<Vec<T>> for MetaValue {
    fn from(values: Vec<T>) -> Self {
        MetaValue::Array(values.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_convert_across_widths_with_range_checks() {
        assert_eq!(MetaValue::I32(7).as_u64(), Some(7));
        assert_eq!(MetaValue::I32(-1).as_u64(), None);
        assert_eq!(MetaValue::U64(u64::MAX).as_i64(), None);
        assert_eq!(MetaValue::U8(200).as_f32(), Some(200.0));
        assert_eq!(MetaValue::F32(1.5).as_u64(), None);
        assert_eq!(MetaValue::String("x".into()).as_f32(), None);
    }

    #[test]
    fn conversions_build_the_expected_variants() {
        assert_eq!(
            MetaValue::from(vec!["a", "b"]).as_array().map(<[_]>::len),
            Some(2)
        );
        assert_eq!(MetaValue::from(3u32).type_name(), "u32");
        assert_eq!(MetaValue::from(vec![1.0f32]).to_string(), "[1 elements]");
    }
}
