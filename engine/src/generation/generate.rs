//! The generation loop of one sequence: prefill the prompt, then sample and
//! feed back one token at a time until a stop condition.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::generation::constraint::ToolConstraint;
use crate::generation::sampler::{Sampler, SamplingParams};
use crate::generation::speculate::{Drafter, SpeculationOptions, SpeculationStats};
use crate::generation::stop::{StopCheck, StopStrings};
use crate::generation::thinking::{Routed, ThinkingBudget, ThinkingLimits, END_DELIMITER};
use crate::kv::KvCache;
use crate::model::load::Model;
use crate::model::transformer::{ForwardError, LogitsFor};
use crate::schedule::ForwardPass;
use crate::tokenizer::StreamDecoder;

/// What to generate.
#[derive(Clone, Debug, PartialEq)]
pub struct GenerateOptions {
    /// The most tokens to generate.
    pub max_tokens: usize,
    /// How to pick each token.
    pub sampling: SamplingParams,
    /// Strings that end generation (not included in the text).
    pub stop: Vec<String>,
    /// End generation when the output has fallen into a loop (the same run of tokens
    /// over and over, [`is_looping`]), as if `max_tokens` were reached. Off for exact
    /// comparisons with other engines; an agent turns it on.
    pub stop_on_loop: bool,
    /// Speculative decoding from the context ([`crate::generation::speculate`]); `None`:
    /// one token per pass.
    pub speculation: Option<SpeculationOptions>,
}

/// The longest run of tokens a loop is looked for with.
const MAX_LOOP_PERIOD: usize = 64;

/// A loop is this many tokens of one run repeated at least ...
const MIN_LOOP_TOKENS: usize = 64;

/// ... and at least this many times.
const MIN_LOOP_REPEATS: usize = 4;

/// Whether `tokens` end in a loop: a run of 1 to [`MAX_LOOP_PERIOD`] tokens repeated
/// back to back at least [`MIN_LOOP_REPEATS`] times over at least [`MIN_LOOP_TOKENS`]
/// tokens. Greedy decoding of a small model falls into such loops (a list that names one
/// file forever) and never leaves them; what follows is the same run until the token limit.
pub fn is_looping(tokens: &[u32]) -> bool {
    loop_period(tokens).is_some()
}

/// The length of the run that `tokens` end by repeating, when they end in a loop (see
/// [`is_looping`]): the shortest such run.
pub fn loop_period(tokens: &[u32]) -> Option<usize> {
    (1..=MAX_LOOP_PERIOD).find(|&period| {
        let span = (period * MIN_LOOP_REPEATS).max(MIN_LOOP_TOKENS.div_ceil(period) * period);
        span <= tokens.len() && {
            let tail = &tokens[tokens.len() - span..];
            tail.iter().zip(&tail[period..]).all(|(a, b)| a == b)
        }
    })
}

/// Why generation ended.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The model produced an end-of-generation token.
    EndOfGeneration,
    /// A stop string appeared.
    StopString(String),
    /// `max_tokens` were generated.
    MaxTokens,
    /// The output fell into a loop ([`GenerateOptions::stop_on_loop`]).
    Loop,
    /// The context window is full.
    ContextFull,
    /// The caller asked to stop.
    Cancelled,
}

/// The result of a generation.
#[derive(Clone, Debug)]
pub struct Generated {
    /// The generated token ids (the end-of-generation token included, if any).
    pub tokens: Vec<u32>,
    /// The answer text, up to any stop string.
    pub text: String,
    /// The thinking segment's text, delimiters left out (empty without thinking).
    pub thinking: String,
    /// Tokens spent inside the thinking segment, delimiters not counted.
    pub thinking_tokens: usize,
    /// Why it ended.
    pub stop_reason: StopReason,
    /// Prompt tokens prefilled.
    pub prompt_tokens: usize,
    /// Time spent on the prompt.
    pub prompt_time: Duration,
    /// Time spent generating after the prompt.
    pub decode_time: Duration,
    /// What speculative decoding drafted and kept.
    pub speculation: SpeculationStats,
}

/// Generation could not start or failed on the way.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// The prompt alone does not fit the context window.
    #[error("the prompt is {prompt} tokens; the context window is {context} tokens")]
    PromptTooLong {
        /// Prompt tokens (plus any already in the cache).
        prompt: usize,
        /// The window.
        context: usize,
    },
    /// The prompt is empty.
    #[error("the prompt is empty")]
    EmptyPrompt,
    /// The sampling parameters are out of range.
    #[error("invalid sampling parameters: {0}")]
    Sampling(String),
    /// The thinking segment's delimiters could not be tokenized.
    #[error("thinking: {0}")]
    Thinking(String),
    /// The forward pass failed.
    #[error(transparent)]
    Forward(#[from] ForwardError),
}

/// Generates a continuation of `prompt` (appended to what `kv` holds),
/// calling `on_text` with each piece of final text as it is produced; the
/// callback can stop generation by returning `ControlFlow::Break`.
pub fn generate(
    model: &Model,
    kv: &mut KvCache,
    prompt: &[u32],
    opts: &GenerateOptions,
    on_text: &mut dyn FnMut(&str) -> ControlFlow<()>,
) -> Result<Generated, GenerateError> {
    generate_segmented(model, kv, prompt, opts, None, &mut |_, piece| {
        on_text(piece)
    })
}

/// Like [`generate`], with a thinking segment first when `thinking` is given: `prompt`
/// must end where the segment opens, the budget state machine ([`ThinkingBudget`]) keeps
/// it within its limits and closes it, and `on_piece` gets each piece of text with the
/// segment it belongs to. Stop strings apply to the answer only.
pub fn generate_segmented(
    model: &Model,
    kv: &mut KvCache,
    prompt: &[u32],
    opts: &GenerateOptions,
    thinking: Option<ThinkingLimits>,
    on_piece: &mut dyn FnMut(Segment, &str) -> ControlFlow<()>,
) -> Result<Generated, GenerateError> {
    generate_constrained(model, kv, prompt.into(), opts, thinking, None, on_piece)
}

/// The tokens a generation continues from.
#[derive(Clone, Copy, Debug)]
pub struct PromptTokens<'a> {
    /// Tokens whose keys and values the cache already holds, in order (the sampler's
    /// penalties and speculative drafts look back over them too).
    pub cached: &'a [u32],
    /// Tokens to run through the model before the first new token; never empty.
    pub new: &'a [u32],
    /// More tokens speculative drafts may copy from, beside the sequence itself (see
    /// [`crate::generation::speculate::lookup`]); usually empty.
    pub drafts_also_from: &'a [u32],
}

impl<'a> From<&'a [u32]> for PromptTokens<'a> {
    /// A prompt none of which is cached yet.
    fn from(new: &'a [u32]) -> PromptTokens<'a> {
        PromptTokens {
            cached: &[],
            new,
            drafts_also_from: &[],
        }
    }
}

/// The model a generation runs on, and what runs its forward passes: the model's own
/// transformer, or a [`crate::schedule::Scheduler`] that batches them with other
/// sequences'.
#[derive(Clone, Copy)]
pub struct ModelPasses<'a> {
    /// The model (its tokenizer and configuration).
    pub model: &'a Model,
    /// What runs the passes.
    pub passes: &'a dyn ForwardPass,
}

impl<'a> From<&'a Model> for ModelPasses<'a> {
    /// Passes run by the model's transformer, one sequence at a time.
    fn from(model: &'a Model) -> ModelPasses<'a> {
        ModelPasses {
            model,
            passes: model.transformer(),
        }
    }
}

/// Like [`generate_segmented`], with the answer's tokens masked by `constraint` (the
/// thinking segment stays free): greedy and sampled decoding alike only pick tokens it
/// allows.
pub fn generate_constrained<'a>(
    on: impl Into<ModelPasses<'a>>,
    kv: &mut KvCache,
    prompt: PromptTokens<'_>,
    opts: &GenerateOptions,
    thinking: Option<ThinkingLimits>,
    mut constraint: Option<&mut ToolConstraint>,
    on_piece: &mut dyn FnMut(Segment, &str) -> ControlFlow<()>,
) -> Result<Generated, GenerateError> {
    let ModelPasses { model, passes } = on.into();
    let PromptTokens {
        cached,
        new: prompt,
        drafts_also_from,
    } = prompt;
    opts.sampling.validate().map_err(GenerateError::Sampling)?;
    if prompt.is_empty() {
        return Err(GenerateError::EmptyPrompt);
    }
    let context = kv.limit();
    if kv.len() + prompt.len() > context {
        return Err(GenerateError::PromptTooLong {
            prompt: kv.len() + prompt.len(),
            context,
        });
    }
    let tok = model.tokenizer();
    let mut budget = thinking
        .map(|limits| ThinkingBudget::new(tok, limits))
        .transpose()
        .map_err(|e| GenerateError::Thinking(e.to_string()))?;
    let mut sampler = Sampler::new(opts.sampling.clone());
    // The whole sequence so far, whatever the cache held: the sampler's penalties must
    // not depend on what was cached, and drafts copy from all of it.
    let mut history: Vec<u32> = Vec::with_capacity(cached.len() + prompt.len() + opts.max_tokens);
    history.extend_from_slice(cached);
    history.extend_from_slice(prompt);
    let mut drafter = opts.speculation.map(Drafter::new);
    // The draft the last batched pass checked, while its tokens are being confirmed.
    let mut checking: Option<Checking> = None;
    let mut decoder = StreamDecoder::new(tok);
    let mut stops = StopStrings::new(&opts.stop);
    if thinking.is_some() {
        // A small model sometimes closes its thinking again in the answer after the budget
        // closed it; the delimiter is never answer text.
        stops = stops.hiding(END_DELIMITER);
    }
    let mut out = Output {
        text: String::new(),
        thinking: String::new(),
        // Without a segment there is no paragraph break to drop before the answer.
        answer_started: thinking.is_none(),
        on_piece,
    };
    let mut tokens = Vec::new();

    let started = Instant::now();
    let mut logits = passes.forward(prompt, kv, LogitsFor::Last)?;
    let prompt_time = started.elapsed();
    let decode_started = Instant::now();

    let stop_reason = loop {
        if tokens.len() >= opts.max_tokens {
            break StopReason::MaxTokens;
        }
        let forced = budget.as_mut().and_then(ThinkingBudget::forced_token);
        let next = match (forced, budget.as_mut().filter(|b| !b.is_closed())) {
            (Some(forced), _) => forced,
            (None, Some(b)) => {
                b.mask(&mut logits, decoder.pending(), tok);
                let sampled = sampler.sample(&mut logits, &history);
                if tok.is_end_of_generation(sampled) {
                    // An answer must follow: the segment is closed (or continued) instead.
                    b.end_of_generation();
                    b.forced_token().unwrap_or(sampled)
                } else if b.closes_too_early(&tok.token_text(sampled)) {
                    b.wait();
                    b.forced_token().unwrap_or(sampled)
                } else {
                    sampled
                }
            }
            (None, None) => {
                if let Some(c) = constraint.as_deref_mut() {
                    c.apply(&mut logits);
                }
                let sampled = sampler.sample(&mut logits, &history);
                if let Some(c) = constraint.as_deref_mut() {
                    c.commit(sampled);
                }
                sampled
            }
        };
        tokens.push(next);
        history.push(next);
        if tok.is_end_of_generation(next) {
            break StopReason::EndOfGeneration;
        }
        let piece = decoder.push(next).unwrap_or_default();
        let answer_piece = match budget.as_mut().filter(|b| !b.is_closed()) {
            Some(b) => match b.push(&piece) {
                Routed::Thinking(text) => {
                    if out.thinking(&text).is_break() {
                        break StopReason::Cancelled;
                    }
                    None
                }
                Routed::Closed { thinking, answer } => {
                    if out.thinking(&thinking).is_break() {
                        break StopReason::Cancelled;
                    }
                    Some(answer)
                }
            },
            None => Some(piece),
        };
        if let Some(piece) = answer_piece {
            match stops.push(&piece) {
                StopCheck::Continue(text) => {
                    if out.answer(&text).is_break() {
                        break StopReason::Cancelled;
                    }
                }
                StopCheck::Stop { text, matched } => {
                    // The stop string itself is withheld; generation ends here.
                    let _ = out.answer(&text);
                    break StopReason::StopString(matched);
                }
            }
        }
        if tokens.len() >= opts.max_tokens {
            break StopReason::MaxTokens;
        }
        if opts.stop_on_loop && is_looping(&tokens) {
            break StopReason::Loop;
        }
        // A checked draft's tokens past `next` are in the cache but not yet the sequence's.
        if kv.len() - checking.as_ref().map_or(0, Checking::unconfirmed) >= context {
            break StopReason::ContextFull;
        }
        if let Some(check) = checking.as_mut() {
            if let Some(row) = check.confirm(next, model.config().vocab_size) {
                // The model picked the drafted token: its pass is already done.
                logits = row;
                if check.is_done() {
                    finish_check(checking.take(), kv, drafter.as_mut());
                }
                continue;
            }
            // The model chose otherwise: forget the rest of the draft.
            finish_check(checking.take(), kv, drafter.as_mut());
        }
        let room = [
            context.saturating_sub(kv.len() + 1),
            opts.max_tokens.saturating_sub(tokens.len() + 1),
            budget
                .as_ref()
                .and_then(ThinkingBudget::tokens_left)
                .map_or(usize::MAX, |left| left as usize),
        ]
        .into_iter()
        .min()
        .unwrap_or(0);
        // Beside other sequences an extra row costs them time too; drafts pay only alone.
        // What a call's grammar forces is drafted first: the model all but always takes it.
        let mut from_grammar = false;
        let draft = match drafter.as_mut() {
            Some(d) if !passes.shared() => {
                let answering = budget.as_ref().is_none_or(ThinkingBudget::is_closed);
                let forced = match constraint.as_deref_mut() {
                    Some(c) if answering => c.forced_tokens(room),
                    _ => Vec::new(),
                };
                from_grammar = !forced.is_empty();
                if from_grammar {
                    forced
                } else {
                    d.draft(&history, drafts_also_from, room)
                }
            }
            _ => Vec::new(),
        };
        let mut batch = Vec::with_capacity(1 + draft.len());
        batch.push(next);
        batch.extend_from_slice(&draft);
        let scored = if draft.is_empty() {
            LogitsFor::Last
        } else {
            LogitsFor::From(0)
        };
        let mut forward = || passes.forward(&batch, kv, scored);
        let rows = match constraint.as_deref_mut() {
            Some(c) => c.overlap(forward),
            None => forward(),
        }?;
        if draft.is_empty() {
            logits = rows;
        } else {
            let vocab = model.config().vocab_size;
            logits = rows[..vocab].to_vec();
            checking = Some(Checking {
                draft,
                rows,
                accepted: 0,
                from_grammar,
            });
        }
    };
    // Drafted tokens past the end were never confirmed: the cache keeps exactly what plain
    // decoding leaves in it (every token but the last).
    finish_check(checking.take(), kv, drafter.as_mut());
    let thinking_tokens = budget.as_ref().map_or(0, |b| b.thinking_tokens() as usize);
    let still_thinking = budget.as_ref().is_some_and(|b| !b.is_closed());
    if !matches!(
        stop_reason,
        StopReason::Cancelled | StopReason::StopString(_)
    ) {
        let rest = decoder.finish();
        if let (true, Some(b)) = (still_thinking, budget.as_mut()) {
            let mut held = match b.push(&rest) {
                Routed::Thinking(text) => text,
                Routed::Closed { thinking, .. } => thinking,
            };
            held.push_str(&b.take_held());
            let _ = out.thinking(&held);
        } else {
            let mut tail = match stops.push(&rest) {
                StopCheck::Continue(out) => out,
                StopCheck::Stop { text, .. } => text,
            };
            tail.push_str(&stops.finish());
            let _ = out.answer(&tail);
        }
    }
    Ok(Generated {
        tokens,
        text: out.text,
        thinking: out.thinking,
        thinking_tokens,
        stop_reason,
        prompt_tokens: prompt.len(),
        prompt_time,
        decode_time: decode_started.elapsed(),
        speculation: drafter.map(|d| d.stats()).unwrap_or_default(),
    })
}

/// Ends the check of a draft: the cache forgets its tokens the model did not pick, and the
/// drafter learns how many of its own it did.
fn finish_check(check: Option<Checking>, kv: &mut KvCache, drafter: Option<&mut Drafter>) {
    let Some(check) = check else { return };
    kv.truncate(kv.len() - check.unconfirmed());
    match drafter {
        Some(d) if check.from_grammar => d.settle_forced(check.draft.len(), check.accepted),
        Some(d) => d.settle(check.draft.len(), check.accepted),
        None => {}
    }
}

/// A draft checked by one batched pass, confirmed token by token as the model picks.
struct Checking {
    /// The drafted tokens.
    draft: Vec<u32>,
    /// The pass's logits, a row per batch token (the token before the draft, then the
    /// draft's): row `i` scores the position drafted token `i` was guessed for.
    rows: Vec<f32>,
    /// Drafted tokens the model picked so far.
    accepted: usize,
    /// Whether the draft is what a call's grammar forced, not the drafter's guess.
    from_grammar: bool,
}

impl Checking {
    /// When `picked` is the next drafted token: the logits after it.
    fn confirm(&mut self, picked: u32, vocab: usize) -> Option<Vec<f32>> {
        if self.draft.get(self.accepted) != Some(&picked) {
            return None;
        }
        self.accepted += 1;
        let row = self.accepted * vocab;
        self.rows.get(row..row + vocab).map(<[f32]>::to_vec)
    }

    /// Whether every drafted token was picked.
    fn is_done(&self) -> bool {
        self.accepted == self.draft.len()
    }

    /// Drafted tokens in the cache that the model has not picked (yet).
    fn unconfirmed(&self) -> usize {
        self.draft.len() - self.accepted
    }
}

/// Which part of the message a piece of text belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Segment {
    /// The thinking segment.
    Thinking,
    /// The answer after it (or the whole output without thinking).
    Answer,
}

/// Collects the generated text per segment and passes every non-empty piece on.
struct Output<'a> {
    text: String,
    thinking: String,
    answer_started: bool,
    on_piece: &'a mut dyn FnMut(Segment, &str) -> ControlFlow<()>,
}

impl Output<'_> {
    fn thinking(&mut self, piece: &str) -> ControlFlow<()> {
        if piece.is_empty() {
            return ControlFlow::Continue(());
        }
        self.thinking.push_str(piece);
        (self.on_piece)(Segment::Thinking, piece)
    }

    fn answer(&mut self, piece: &str) -> ControlFlow<()> {
        let piece = if self.answer_started {
            piece
        } else {
            // The paragraph break after the thinking segment is layout, not answer.
            let trimmed = piece.trim_start();
            self.answer_started = !trimmed.is_empty();
            trimmed
        };
        if piece.is_empty() {
            return ControlFlow::Continue(());
        }
        self.text.push_str(piece);
        (self.on_piece)(Segment::Answer, piece)
    }
}

#[cfg(test)]
mod loop_tests {
    use super::is_looping;

    #[test]
    fn a_run_repeated_over_enough_tokens_is_a_loop() {
        // A file name of 7 tokens listed again and again.
        let mut tokens: Vec<u32> = (100..130).collect();
        for _ in 0..10 {
            tokens.extend([1, 2, 3, 4, 5, 6, 7]);
        }
        assert!(is_looping(&tokens));
        // Nine times is 63 tokens: not yet.
        tokens.truncate(30 + 63);
        assert!(!is_looping(&tokens));
        // One token 64 times is; 63 is not.
        assert!(is_looping(&[9; 64]));
        assert!(!is_looping(&[9; 63]));
        // Text that varies is never a loop.
        let varied: Vec<u32> = (0..500).collect();
        assert!(!is_looping(&varied));
        assert!(!is_looping(&[]));
    }
}
