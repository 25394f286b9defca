//! A model ready to serve: the mapped file, its transformer, tokenizer and
//! chat template, loaded and checked together.

use std::path::Path;
use std::sync::Arc;

use crate::model::config::{ConfigError, ModelConfig};
use crate::model::gguf::{Gguf, GgufError};
use crate::model::transformer::Transformer;
use crate::model::weights::{Weights, WeightsError};
use crate::template::{ChatTemplate, TemplateError};
use crate::tokenizer::{Tokenizer, TokenizerError};

/// Everything needed to turn text into text with one model.
pub struct Model {
    file: Arc<Gguf>,
    transformer: Transformer,
    tokenizer: Tokenizer,
    template: Option<ChatTemplate>,
}

/// Why a model could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file is not a readable GGUF file.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// The metadata does not describe a supported transformer.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A tensor is missing or malformed.
    #[error(transparent)]
    Weights(#[from] WeightsError),
    /// The tokenizer metadata is unusable.
    #[error("{path}: {source}")]
    Tokenizer {
        /// The model file.
        path: String,
        /// What is wrong.
        source: TokenizerError,
    },
    /// The chat template does not compile.
    #[error("{path}: chat template: {source}")]
    Template {
        /// The model file.
        path: String,
        /// What is wrong.
        source: TemplateError,
    },
}

impl Model {
    /// Maps and checks the GGUF file at `path`.
    pub fn load(path: &Path) -> Result<Model, LoadError> {
        let file = Arc::new(Gguf::open(path)?);
        let config = ModelConfig::from_gguf(&file)?;
        let weights = Weights::load(&file, &config)?;
        let shown = path.display().to_string();
        let tokenizer = Tokenizer::from_gguf(&file).map_err(|source| LoadError::Tokenizer {
            path: shown.clone(),
            source,
        })?;
        let template =
            ChatTemplate::from_gguf(&file, &tokenizer).map_err(|source| LoadError::Template {
                path: shown,
                source,
            })?;
        Ok(Model {
            transformer: Transformer::new(config, weights),
            file,
            tokenizer,
            template,
        })
    }

    /// The mapped file.
    pub fn file(&self) -> &Gguf {
        &self.file
    }

    /// The configuration.
    pub fn config(&self) -> &ModelConfig {
        self.transformer.config()
    }

    /// The forward pass.
    pub fn transformer(&self) -> &Transformer {
        &self.transformer
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &Tokenizer {
        &self.tokenizer
    }

    /// The chat template, if the file carries one.
    pub fn template(&self) -> Option<&ChatTemplate> {
        self.template.as_ref()
    }
}
