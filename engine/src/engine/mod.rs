//! The engine handle: serves one [`Request`] on a loaded model,
//! streaming [`Event`]s and returning the whole [`Response`].
//!
//! A request goes through four steps: its conversation is checked and
//! rendered by the model's chat template ([`crate::template::chat`]), the
//! prompt's KV is built, tokens are generated ([`generate`]), and the text is
//! split into text blocks and tool calls ([`ToolCallParser`]) that become
//! events. The response's blocks are collected alongside the events, from
//! the same parser output, so a streamed answer folded with
//! [`crate::api::MessageAccumulator`] equals the returned one.

mod message;
pub mod prompt_cache;
mod raw;
mod tool_choice;

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use crate::api::{
    ApiError, Event, Request, Response, Role, StopReason, ThinkingConfig, ToolChoice, Usage,
};
use crate::generation::generate::{
    self, generate_constrained, GenerateError, GenerateOptions, Generated, ModelPasses,
    PromptTokens, Segment,
};
use crate::generation::sampler::SamplingParams;
use crate::generation::speculate::SpeculationOptions;
use crate::generation::thinking::{ThinkingLimits, ThinkingMode, OPEN_DELIMITER, PROMPTED_OPENING};
use crate::kv::{CacheStats, DiskStoreError, KvCache, KvType};
use crate::model::load::Model;
use crate::model::transformer::LogitsFor;
use crate::schedule::{BatchOptions, BatchStats, ForwardPass, Scheduler};
use crate::template::chat::template_input;
use crate::template::tool_calls::{ToolCallFormat, ToolCallParser};
use crate::template::TemplateError;
use message::MessageWriter;
use prompt_cache::{DiskCacheSettings, PromptCache, PromptCacheSettings, Resumed};
use tool_choice::{constraint_for, SharedGrammar};

/// Prompt tokens computed between two chances to cancel: a `ping` event
/// follows each chunk, so a caller stops a long prefill within about a
/// second on a laptop CPU instead of after the whole prompt.
const PREFILL_CHUNK: usize = 128;

/// The GGUF key of the chat template, read to recognise the tool-call syntax.
const GGUF_TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// How an [`Engine`] serves its model.
#[derive(Clone, Debug, PartialEq)]
pub struct EngineOptions {
    /// The name requests and responses use for the model.
    pub model_id: String,
    /// The context window: prompt plus `max_tokens` must fit in it.
    pub context_tokens: usize,
    /// Sampling for what a request leaves out (its temperature, top-p,
    /// top-k and seed replace these fields when given).
    pub default_sampling: SamplingParams,
    /// How the model thinks; `None`: decided from its metadata
    /// ([`ThinkingMode::detect`]).
    pub thinking_mode: Option<ThinkingMode>,
    /// How prompt prefixes are cached between requests.
    pub prompt_cache: PromptCacheSettings,
    /// How keys and values are stored (f16 unless a caller asks for f32).
    pub kv_type: KvType,
    /// Speculative decoding from the context (on by default); `None`: one token per pass.
    pub speculation: Option<SpeculationOptions>,
}

impl EngineOptions {
    /// Options for `model` under the name `model_id`: its trained context
    /// window and the default sampling parameters.
    pub fn for_model(model: &Model, model_id: impl Into<String>) -> EngineOptions {
        EngineOptions {
            model_id: model_id.into(),
            context_tokens: model.config().context_length,
            default_sampling: SamplingParams::default(),
            thinking_mode: None,
            prompt_cache: PromptCacheSettings::default(),
            kv_type: KvType::default(),
            speculation: Some(SpeculationOptions::default()),
        }
    }
}

/// Serves requests on one model, one request per call to [`Engine::run`];
/// shareable between threads.
pub struct Engine {
    model: Arc<Model>,
    options: EngineOptions,
    tool_format: Option<ToolCallFormat>,
    prompt_cache: PromptCache,
    grammar: SharedGrammar,
    messages_served: AtomicU64,
    /// Batches the passes of requests served at once; `None`: each request runs its
    /// own passes (one request at a time, as the CLI's).
    scheduler: Option<Scheduler>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("options", &self.options)
            .field("tool_format", &self.tool_format)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine for `model`; the tool-call syntax is recognised from the
    /// model's chat template and architecture.
    pub fn new(model: Arc<Model>, options: EngineOptions) -> Engine {
        let source = model.file().get(GGUF_TEMPLATE_KEY).and_then(|v| v.as_str());
        let tool_format = ToolCallFormat::detect(source, model.config().arch);
        let prompt_cache = PromptCache::new(
            model.transformer().kv_shape().with_dtype(options.kv_type),
            model.file().fingerprint(),
            &options.prompt_cache,
        );
        Engine {
            model,
            options,
            tool_format,
            prompt_cache,
            grammar: SharedGrammar::default(),
            messages_served: AtomicU64::new(0),
            scheduler: None,
        }
    }

    /// Runs the passes of requests served at the same time (from several threads)
    /// together from now on, by a [`Scheduler`] with `options`: continuous batching.
    pub fn start_scheduler(&mut self, options: BatchOptions) -> std::io::Result<()> {
        self.scheduler = Some(Scheduler::start(Arc::clone(&self.model), options)?);
        Ok(())
    }

    /// The batch scheduler's counters; `None` without one.
    pub fn batch_stats(&self) -> Option<BatchStats> {
        self.scheduler.as_ref().map(Scheduler::stats)
    }

    /// What runs this engine's forward passes.
    fn passes(&self) -> &dyn ForwardPass {
        match &self.scheduler {
            Some(scheduler) => scheduler,
            None => self.model.transformer(),
        }
    }

    /// Spills the prompt cache to `settings.dir` from now on, and serves
    /// prefixes that earlier processes left there.
    pub fn attach_disk_cache(
        &mut self,
        settings: &DiskCacheSettings,
    ) -> Result<(), DiskStoreError> {
        self.prompt_cache.attach_disk(settings)
    }

    /// The prompt cache's counters: hits, misses, blocks in memory and on
    /// disk, evictions.
    pub fn cache_stats(&self) -> CacheStats {
        self.prompt_cache.stats()
    }

    /// The name of the model this engine serves.
    pub fn model_id(&self) -> &str {
        &self.options.model_id
    }

    /// The model.
    pub fn model(&self) -> &Arc<Model> {
        &self.model
    }

    /// The options the engine was made with.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The tool-call syntax the model writes, if hearth knows it.
    pub fn tool_call_format(&self) -> Option<ToolCallFormat> {
        self.tool_format
    }

    /// How the model thinks when a request asks it to: the override of the
    /// options, or what its metadata says.
    pub fn thinking_mode(&self) -> ThinkingMode {
        self.options.thinking_mode.unwrap_or_else(|| {
            let source = self
                .model
                .file()
                .get(GGUF_TEMPLATE_KEY)
                .and_then(|v| v.as_str());
            ThinkingMode::detect(source, self.model.tokenizer())
        })
    }

    /// The token ids `req`'s prompt renders to: the checked conversation
    /// through the model's chat template, special tokens parsed. With a
    /// thinking budget the prompt ends inside an opened thinking segment.
    pub fn prompt_tokens(&self, req: &Request) -> Result<Vec<u32>, ApiError> {
        self.check_model(req)?;
        let template = self.model.template().ok_or_else(|| {
            ApiError::invalid_request(format!(
                "model {} has no chat template, so it cannot serve chat requests",
                self.options.model_id
            ))
        })?;
        let budget = ThinkingConfig::budget(req.thinking.as_ref());
        let mode = self.thinking_mode();
        let mut input = template_input(req)?;
        if mode == ThinkingMode::Native {
            // Without a `thinking` field the template renders as it always did.
            match (&req.thinking, budget) {
                (Some(_), 0) => input.extra.insert("enable_thinking".into(), false.into()),
                (Some(_), _) => input.extra.insert("enable_thinking".into(), true.into()),
                (None, _) => None,
            };
        }
        let mut text = template.render(&input).map_err(|e| match e {
            TemplateError::Raised(message) => ApiError::invalid_request(format!(
                "the chat template of {} rejected the conversation: {message}",
                self.options.model_id
            )),
            other => ApiError::internal(format!("rendering the prompt failed: {other}")),
        })?;
        if budget > 0 {
            match mode {
                // Some templates open the segment themselves when thinking is enabled.
                ThinkingMode::Native if text.trim_end().ends_with(OPEN_DELIMITER) => {}
                ThinkingMode::Native => {
                    text.push_str(OPEN_DELIMITER);
                    text.push('\n');
                }
                ThinkingMode::Prompted => text.push_str(PROMPTED_OPENING),
            }
        }
        let tokenizer = self.model.tokenizer();
        let mut ids = tokenizer
            .encode(&text, true)
            .map_err(|e| ApiError::internal(format!("tokenizing the prompt failed: {e}")))?;
        // Templates that print the BOS token themselves (Llama's) would get it
        // twice from a tokenizer that also adds one; the model saw it once.
        if let (Some(bos), [first, second, ..]) = (tokenizer.bos(), ids.as_slice()) {
            if tokenizer.add_bos() && *first == bos && *second == bos {
                ids.remove(0);
            }
        }
        Ok(ids)
    }

    /// Serves one request, calling `on_event` with every event in order
    /// (`message_start` … `message_stop`). When `on_event` returns
    /// `ControlFlow::Break`, generation stops at the next token, the blocks
    /// begun are closed and the message ends with stop reason `cancelled`.
    ///
    /// A request that is wrong fails before any event with an
    /// `invalid_request_error`; a failure while generating sends an `error`
    /// event and returns it. With a thinking budget the message starts with
    /// a thinking block that holds at most that many tokens.
    pub fn run(
        &self,
        req: &Request,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        let prompt = self.prompt_tokens(req)?;
        self.serve_prompt(prompt, req, true, on_event)
    }

    /// Serves `req` from its rendered `prompt`, as [`Engine::run`] describes; the reply is
    /// read for tool calls only with `read_calls` (a raw prompt's continuation is text).
    fn serve_prompt(
        &self,
        prompt: Vec<u32>,
        req: &Request,
        read_calls: bool,
        on_event: &mut dyn FnMut(&Event) -> ControlFlow<()>,
    ) -> Result<Response, ApiError> {
        let max_tokens = req.max_tokens as usize;
        let context = self.options.context_tokens;
        if prompt.len() + max_tokens > context {
            return Err(ApiError::invalid_request(format!(
                "the prompt is {} tokens and max_tokens is {max_tokens}: together {} tokens, \
                 over the context window of {context} tokens",
                prompt.len(),
                prompt.len() + max_tokens
            )));
        }
        let options = GenerateOptions {
            max_tokens,
            sampling: self.sampling_for(req)?,
            stop: req.stop_sequences.clone(),
            stop_on_loop: req.stop_on_loop,
            speculation: self.options.speculation,
        };
        let mut constraint = constraint_for(
            req,
            self.tool_format.as_ref(),
            self.model.tokenizer(),
            &self.grammar,
        )?;
        let Resumed {
            mut kv,
            cached,
            created,
        } = self
            .prompt_cache
            .resume_in(req.cache_salt.as_deref(), &prompt, context);
        let usage = Usage {
            input_tokens: count(prompt.len() - cached - created),
            cache_read_input_tokens: count(cached),
            cache_creation_input_tokens: count(created),
            ..Usage::default()
        };
        let serial = self.messages_served.fetch_add(1, Ordering::Relaxed);
        let mut writer = MessageWriter::new(on_event);
        writer.send(Event::MessageStart {
            message: Response {
                id: format!("msg_{serial:08}"),
                kind: "message".to_string(),
                role: Role::Assistant,
                model: self.options.model_id.clone(),
                content: Vec::new(),
                stop_reason: None,
                stop_sequence: None,
                usage,
            },
        });
        // A fenced JSON block is read as a call only when there are tools to
        // call and calls are allowed; otherwise it is the code block it looks like.
        let format = self.tool_format.map(|f| ToolCallFormat {
            fenced_json: f.fenced_json
                && !req.tools.is_empty()
                && req.tool_choice != Some(ToolChoice::None),
            ..f
        });
        let mut parser = if read_calls {
            ToolCallParser::new(format)
                .with_tool_names(req.tools.iter().map(|t| t.name.clone()).collect())
        } else {
            ToolCallParser::verbatim()
        };
        // A call's arguments are JSON strings: what they copy from the context (an edit's
        // old text from a file read earlier) comes out escaped, so drafts look there too.
        let escaped = if self.options.speculation.is_some()
            && read_calls
            && !req.tools.is_empty()
            && req.tool_choice != Some(ToolChoice::None)
        {
            json_escaped(self.model.tokenizer(), &prompt)
        } else {
            Vec::new()
        };
        // Seated from the prefill to the last token: passes wait for this sequence (so
        // what the sequence needs of the CPU alone is done before).
        let seat = self.scheduler.as_ref().map(Scheduler::seat);
        if let Err(error) = self.prefill(&prompt, &mut kv, &mut writer) {
            writer.send(Event::Error {
                error: error.clone(),
            });
            return Err(error);
        }
        let outcome = if writer.cancelled {
            None
        } else {
            let computed = kv.len();
            let result = generate_constrained(
                ModelPasses {
                    model: &self.model,
                    passes: self.passes(),
                },
                &mut kv,
                PromptTokens {
                    cached: &prompt[..computed],
                    new: &prompt[computed..],
                    drafts_also_from: &escaped,
                },
                &options,
                thinking_limits(req),
                constraint.as_mut(),
                &mut |segment, piece| {
                    match segment {
                        Segment::Thinking => writer.thinking(piece),
                        Segment::Answer => writer.apply(parser.push(piece)),
                    }
                    if writer.cancelled {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            match result {
                Ok(generated) => Some(generated),
                Err(e) => {
                    let error = match e {
                        GenerateError::Forward(f) => {
                            ApiError::internal(format!("the forward pass failed: {f}"))
                        }
                        other => ApiError::invalid_request(other.to_string()),
                    };
                    writer.send(Event::Error {
                        error: error.clone(),
                    });
                    return Err(error);
                }
            }
        };
        drop(seat);
        let finished = outcome
            .as_ref()
            .is_some_and(|g| g.stop_reason != generate::StopReason::Cancelled);
        let tail = parser.finish(finished && !writer.cancelled);
        writer.apply(tail);
        let (stop_reason, stop_sequence) = match &outcome {
            _ if writer.cancelled || !finished => (StopReason::Cancelled, None),
            _ if writer.tool_calls > 0 => (StopReason::ToolUse, None),
            Some(Generated {
                stop_reason: generate::StopReason::StopString(s),
                ..
            }) => (StopReason::StopSequence, Some(s.clone())),
            Some(Generated {
                stop_reason: generate::StopReason::EndOfGeneration,
                ..
            }) => (StopReason::EndTurn, None),
            _ => (StopReason::MaxTokens, None),
        };
        let usage = Usage {
            output_tokens: outcome.as_ref().map_or(0, |g| count(g.tokens.len())),
            thinking_tokens: outcome.as_ref().map_or(0, |g| count(g.thinking_tokens)),
            drafted_tokens: outcome.as_ref().map_or(0, |g| count(g.speculation.drafted)),
            accepted_tokens: outcome
                .as_ref()
                .map_or(0, |g| count(g.speculation.accepted)),
            ..usage
        };
        let response = writer.finish(
            serial,
            &self.options.model_id,
            stop_reason,
            stop_sequence,
            usage,
        );
        // After the last event: the caller has its answer while the
        // sequence's blocks are cached (and possibly written to disk).
        let mut sequence = prompt;
        if let Some(generated) = &outcome {
            sequence.extend_from_slice(&generated.tokens);
        }
        self.prompt_cache
            .store_in(req.cache_salt.as_deref(), &sequence, &kv);
        Ok(response)
    }

    /// Computes and caches the KV of all of `tokens`, starting from their
    /// longest cached prefix, as a request would whose prompt and generated
    /// tokens they were: a later request that starts with them is then
    /// served from the cache. A server can warm a shared prefix (system text
    /// and tools) before its first request; a replayed session
    /// (`hearth bench cache`) stands in for the replies it generated.
    /// Returns how many of `tokens` came from the cache.
    pub fn warm_cache(&self, tokens: &[u32]) -> Result<usize, ApiError> {
        let context = self.options.context_tokens;
        if tokens.len() > context {
            return Err(ApiError::invalid_request(format!(
                "{} tokens to cache are over the context window of {context} tokens",
                tokens.len()
            )));
        }
        let Resumed { mut kv, cached, .. } = self.prompt_cache.resume(tokens, context);
        self.compute_kv(tokens, tokens.len(), &mut kv, &mut || {
            ControlFlow::Continue(())
        })?;
        self.prompt_cache.store(tokens, &kv);
        Ok(cached)
    }

    /// Computes the KV of `prompt` after the `kv.len()` positions already
    /// held, in whole chunks with a `ping` event after each, up to its last
    /// chunk (1 to [`PREFILL_CHUNK`] tokens): generation computes that one,
    /// with the logits it starts from, in the same pass. (Leaving only the
    /// last token to generation cost a second pass over the weights and the
    /// context on every request: tens of milliseconds on a short warm turn.)
    /// Stops early when the caller cancels, leaving `kv` holding the chunks
    /// computed.
    fn prefill(
        &self,
        prompt: &[u32],
        kv: &mut KvCache,
        writer: &mut MessageWriter<'_>,
    ) -> Result<(), ApiError> {
        let remaining = prompt.len().saturating_sub(kv.len());
        if remaining == 0 || writer.cancelled {
            return Ok(());
        }
        let last_chunk = (remaining - 1) % PREFILL_CHUNK + 1;
        self.compute_kv(prompt, prompt.len() - last_chunk, kv, &mut || {
            writer.send(Event::Ping);
            if writer.cancelled {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
    }

    /// Extends `kv` with the KV of `tokens[kv.len()..upto]`, in chunks of
    /// [`PREFILL_CHUNK`] tokens, computing no logits; `after_chunk` runs
    /// after each and stops the work when it breaks.
    fn compute_kv(
        &self,
        tokens: &[u32],
        upto: usize,
        kv: &mut KvCache,
        after_chunk: &mut dyn FnMut() -> ControlFlow<()>,
    ) -> Result<(), ApiError> {
        while kv.len() < upto {
            let chunk = &tokens[kv.len()..upto.min(kv.len() + PREFILL_CHUNK)];
            self.passes()
                .forward(chunk, kv, LogitsFor::From(chunk.len()))
                .map_err(|e| ApiError::internal(format!("the forward pass failed: {e}")))?;
            if after_chunk().is_break() {
                break;
            }
        }
        Ok(())
    }

    fn check_model(&self, req: &Request) -> Result<(), ApiError> {
        match &req.model {
            Some(m) if *m != self.options.model_id => Err(ApiError::invalid_request(format!(
                "model {m:?} is not served here; this engine serves {:?}",
                self.options.model_id
            ))),
            _ => Ok(()),
        }
    }

    fn sampling_for(&self, req: &Request) -> Result<SamplingParams, ApiError> {
        let defaults = &self.options.default_sampling;
        let params = SamplingParams {
            temperature: req.temperature.unwrap_or(defaults.temperature),
            top_p: req.top_p.unwrap_or(defaults.top_p),
            top_k: req.top_k.map_or(defaults.top_k, |k| k as usize),
            seed: req.seed.unwrap_or(defaults.seed),
            ..defaults.clone()
        };
        params
            .validate()
            .map_err(|e| ApiError::invalid_request(format!("sampling: {e}")))?;
        Ok(params)
    }
}

/// The limits of a request's thinking segment; `None` when it has none.
fn thinking_limits(req: &Request) -> Option<ThinkingLimits> {
    match req.thinking {
        Some(ThinkingConfig::Enabled {
            budget_tokens,
            min_tokens,
        }) if budget_tokens > 0 => Some(ThinkingLimits {
            budget: budget_tokens,
            min_tokens: min_tokens.unwrap_or(0),
        }),
        _ => None,
    }
}

/// Token counts in usage are u32; a sequence longer than that cannot exist
/// in a context window, so saturating never changes a real count.
fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// `tokens`' text as it reads inside a JSON string, tokenized: quotes, backslashes and
/// line breaks escaped. Empty if it cannot be tokenized (drafts then only look elsewhere).
fn json_escaped(tokenizer: &crate::tokenizer::Tokenizer, tokens: &[u32]) -> Vec<u32> {
    let quoted = serde_json::Value::String(tokenizer.decode(tokens)).to_string();
    let inner = quoted
        .strip_prefix('"')
        .and_then(|q| q.strip_suffix('"'))
        .unwrap_or(&quoted);
    tokenizer.encode(inner, false).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Engines are shared between threads (a server, the agent's worker).
    #[test]
    fn engine_is_send_and_sync() {
        fn shareable<T: Send + Sync>() {}
        shareable::<Engine>();
    }
}
