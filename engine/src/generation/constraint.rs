//! Tool calls that always parse: the per-request state machine that masks the logits of
//! the answer segment so that `tool_choice` holds and every call is a valid call of one
//! of the request's tools.
//!
//! Outside a call decoding is free, except for the opening tag: with calls forbidden no
//! token may complete it, and with calls allowed a token may complete it only at its
//! own end, so that the call's grammar starts exactly after the tag. Once the tag is
//! written (or from the first answer token, when a call is required) an llguidance
//! matcher masks every token until the call's closing tag. A reply that opens with a
//! call written without tags (`{"name": …`, bare or wrapped, as small models do when
//! they forget the tag) is held to a valid call the same way from its opening brace,
//! and then ends: the parser reads such a call only as the whole reply. The matcher's next mask is
//! computed on another thread while the forward pass runs ([`ToolConstraint::overlap`]),
//! so the mask costs decode time only when it takes longer than the pass.

use std::sync::Arc;
use std::time::{Duration, Instant};

use llguidance::Matcher;
use toktrie::SimpleVob;

use crate::generation::generate::loop_period;
use crate::generation::grammar::GrammarEnv;
use crate::template::tool_calls::{untagged_start, ToolCallFormat, UntaggedStart};
use crate::tokenizer::Tokenizer;

/// The tokens that would complete the opening tag, given how the text ends.
#[derive(Debug)]
pub struct TagGuard {
    tag: Vec<u8>,
    /// Tokens that contain the whole tag: (id, whether the tag ends the token).
    containing: Vec<(u32, bool)>,
    /// For each k in 1..tag.len(): tokens that start with `tag[k..]` (completing a text
    /// that ends with `tag[..k]`), with whether the tag ends the token.
    completing: Vec<Vec<(u32, bool)>>,
}

impl TagGuard {
    /// The guard of `tag` over `tokenizer`'s vocabulary (control tokens never spell text).
    pub fn new(tag: &str, tokenizer: &Tokenizer) -> TagGuard {
        let tag = tag.as_bytes().to_vec();
        let control = tokenizer.control_tokens();
        let mut containing = Vec::new();
        let mut completing = vec![Vec::new(); tag.len()];
        for id in 0..tokenizer.vocab_size() as u32 {
            let bytes = tokenizer.token_bytes(id);
            if bytes.is_empty() || control.contains(&id) {
                continue;
            }
            if let Some(at) = find(bytes, &tag) {
                containing.push((id, at + tag.len() == bytes.len()));
            }
            for (k, list) in completing.iter_mut().enumerate().skip(1) {
                let rest = &tag[k..];
                if bytes.starts_with(rest) {
                    list.push((id, bytes.len() == rest.len()));
                }
            }
        }
        TagGuard {
            tag,
            containing,
            completing,
        }
    }

    /// Sets to -inf the logits of tokens that would write the tag after `tail`: all of
    /// them, or (with `allow_at_end`) those that would write more after it.
    fn mask(&self, tail: &[u8], allow_at_end: bool, logits: &mut [f32]) {
        let mut block = |(id, at_end): &(u32, bool)| {
            if !(allow_at_end && *at_end) {
                if let Some(l) = logits.get_mut(*id as usize) {
                    *l = f32::NEG_INFINITY;
                }
            }
        };
        self.containing.iter().for_each(&mut block);
        for (k, list) in self.completing.iter().enumerate().skip(1) {
            if tail.ends_with(&self.tag[..k]) {
                list.iter().for_each(&mut block);
            }
        }
    }
}

/// A matcher for `lark`, or why it cannot be one.
fn compile(env: &GrammarEnv, lark: &str) -> Result<Matcher, String> {
    let matcher = env.matcher(lark)?;
    match matcher.get_error() {
        Some(e) => Err(e),
        None => Ok(matcher),
    }
}

/// The token that would take a looping call (`"pages": "1-1000000000…` until the token
/// limit, as a small model writes under the mask) round its loop once more.
fn loop_token(written: &[u32]) -> Option<u32> {
    let period = loop_period(written)?;
    written.get(written.len() - period).copied()
}

/// Steers a looping call out of its loop: `again` is masked, where the grammar allows
/// anything else (closing the string, say).
fn break_loop(again: u32, logits: &mut [f32]) {
    let others = logits
        .iter()
        .enumerate()
        .any(|(id, l)| id != again as usize && l.is_finite());
    if let (true, Some(l)) = (others, logits.get_mut(again as usize)) {
        *l = f32::NEG_INFINITY;
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// What the constraint allows where no call is being written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CallPolicy {
    /// No calls: the opening tag can never be written (`tool_choice: none`).
    Forbidden,
    /// Calls may start anywhere (`auto`, and after the first call of `any`/`tool`).
    Allowed,
}

/// The grammars of one request's calls.
#[derive(Clone, Debug)]
pub struct CallGrammars {
    /// The grammar that must match from the first answer token (`any`, a named tool),
    /// opening tag included; `None` lets the answer start freely.
    pub first: Option<String>,
    /// The grammar of a call after its opening tag (all of the request's tools).
    pub after_tag: String,
    /// The grammar of a call without tags from its opening brace, and the format whose
    /// parser reads one; `None` where such a call is not read (or not allowed).
    pub untagged: Option<(String, ToolCallFormat)>,
}

enum State {
    Free,
    /// Writing a call; with `ends_answer` nothing but the end may follow it.
    Call {
        matcher: Box<Matcher>,
        ends_answer: bool,
        /// The call's tokens so far, watched for a loop.
        written: Vec<u32>,
        /// Tokens that went round a loop of this call: masked for the rest of it, so the
        /// model cannot fall back into the same loop a token later.
        banned: Vec<u32>,
    },
}

/// Watching the start of the answer for a call written without tags.
struct UntaggedWatch {
    /// The untagged call's matcher at its start (before the opening brace).
    start: Matcher,
    format: ToolCallFormat,
    /// The answer so far.
    text: Vec<u8>,
}

/// The constraint on one request's answer; see the module docs.
pub struct ToolConstraint {
    env: Arc<GrammarEnv>,
    guard: Arc<TagGuard>,
    policy: CallPolicy,
    /// The call grammar's matcher at its start, cloned for each call: compiled once, so
    /// that the token that writes the tag does not wait for a compilation.
    after_tag: Option<Matcher>,
    /// Present while the answer may still open with a call without tags.
    untagged: Option<UntaggedWatch>,
    state: State,
    /// The end of the answer's bytes, as long as a proper prefix of the tag can be.
    tail: Vec<u8>,
    /// The mask computed during the last forward pass.
    pending: Option<Result<SimpleVob, String>>,
    tokenizer: Tokenizer,
    stats: MaskStats,
}

/// Where the masks' time went, for measuring what the constraint costs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MaskStats {
    /// Masks computed by the matcher.
    pub masks: u32,
    /// Time the matcher spent computing them, wherever it ran.
    pub compute: Duration,
    /// Time decoding waited for them: computed before sampling, or still being computed
    /// when the forward pass had finished.
    pub waited: Duration,
    /// All the time the decoding thread spent on the constraint (waiting for masks,
    /// applying them, following the text, starting the mask's thread): what it adds to
    /// decoding, short of what the mask's thread takes from the forward pass's cores.
    pub overhead: Duration,
}

impl std::fmt::Debug for ToolConstraint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolConstraint")
            .field("policy", &self.policy)
            .field("in_call", &matches!(self.state, State::Call { .. }))
            .finish_non_exhaustive()
    }
}

impl ToolConstraint {
    /// A constraint for one answer; fails when a grammar does not compile.
    pub fn new(
        env: Arc<GrammarEnv>,
        guard: Arc<TagGuard>,
        tokenizer: Tokenizer,
        policy: CallPolicy,
        grammars: CallGrammars,
    ) -> Result<ToolConstraint, String> {
        // Compiled now, so that a schema llguidance cannot take fails the request up front.
        let after_tag = match policy {
            CallPolicy::Allowed => Some(compile(&env, &grammars.after_tag)?),
            CallPolicy::Forbidden => None,
        };
        let state = match &grammars.first {
            Some(first) => State::Call {
                matcher: Box::new(compile(&env, first)?),
                ends_answer: false,
                written: Vec::new(),
                banned: Vec::new(),
            },
            None => State::Free,
        };
        let untagged = match (&grammars.untagged, policy, &state) {
            (Some((lark, format)), CallPolicy::Allowed, State::Free) => Some(UntaggedWatch {
                start: compile(&env, lark)?,
                format: *format,
                text: Vec::new(),
            }),
            _ => None,
        };
        Ok(ToolConstraint {
            env,
            guard,
            policy,
            after_tag,
            untagged,
            state,
            tail: Vec::new(),
            pending: None,
            tokenizer,
            stats: MaskStats::default(),
        })
    }

    /// Whether a call is being written (the matcher decides every token).
    pub fn in_call(&self) -> bool {
        matches!(self.state, State::Call { .. })
    }

    /// The tokens the call's grammar forces next, at most `room` of them (the rest of a
    /// named tool's name and the `"arguments": {"text": "` after it, the closing tag):
    /// empty outside a call. The model can only refuse them by spelling the same bytes
    /// with other tokens, so checked as a draft in one batched pass they save their own
    /// passes (jump-forward decoding), and each token is still the sampler's pick.
    pub fn forced_tokens(&mut self, room: usize) -> Vec<u32> {
        let State::Call { matcher, .. } = &mut self.state else {
            return Vec::new();
        };
        let started = Instant::now();
        let mut forced = matcher.compute_ff_tokens();
        self.stats.overhead += started.elapsed();
        forced.truncate(room);
        forced
    }

    /// Runs `forward` (the forward pass) while the next mask is computed.
    pub fn overlap<T>(&mut self, forward: impl FnOnce() -> T) -> T {
        let State::Call { matcher, .. } = &mut self.state else {
            return forward();
        };
        if self.pending.is_some() {
            return forward();
        }
        let started = Instant::now();
        let mut forward_time = Duration::ZERO;
        let (out, mask, compute, waited) = std::thread::scope(|s| {
            let worker = s.spawn(|| {
                let started = Instant::now();
                let mask = matcher.compute_mask_or_eos().map_err(|e| e.to_string());
                (mask, started.elapsed())
            });
            let forwarding = Instant::now();
            let out = forward();
            forward_time = forwarding.elapsed();
            let joined = Instant::now();
            let (mask, compute) = worker.join().unwrap_or_else(|_| {
                let e = "the mask computation panicked".to_string();
                (Err(e), Duration::ZERO)
            });
            (out, mask, compute, joined.elapsed())
        });
        self.count(compute, waited);
        self.pending = Some(mask);
        self.stats.overhead += started.elapsed().saturating_sub(forward_time);
        out
    }

    /// Masks `logits` (of the next answer token) to what the constraint allows.
    pub fn apply(&mut self, logits: &mut [f32]) {
        let started = Instant::now();
        self.apply_mask(logits);
        self.stats.overhead += started.elapsed();
    }

    fn apply_mask(&mut self, logits: &mut [f32]) {
        match &mut self.state {
            State::Free => self
                .guard
                .mask(&self.tail, self.policy == CallPolicy::Allowed, logits),
            State::Call {
                matcher,
                written,
                banned,
                ..
            } => {
                if let Some(again) = loop_token(written) {
                    if !banned.contains(&again) {
                        banned.push(again);
                    }
                }
                let banned = banned.clone();
                let mask = match self.pending.take() {
                    Some(mask) => mask,
                    None => {
                        let started = Instant::now();
                        let mask = matcher.compute_mask_or_eos().map_err(|e| e.to_string());
                        let took = started.elapsed();
                        self.count(took, took);
                        mask
                    }
                };
                match mask {
                    Ok(mask) => {
                        for (id, l) in logits.iter_mut().enumerate() {
                            if id >= self.env.vocab_size() || !mask.is_allowed(id as u32) {
                                *l = f32::NEG_INFINITY;
                            }
                        }
                        for &again in &banned {
                            break_loop(again, logits);
                        }
                    }
                    Err(e) => self.give_up(&e),
                }
            }
        }
    }

    /// Takes `token`, the answer's next token, into account.
    pub fn commit(&mut self, token: u32) {
        let started = Instant::now();
        self.follow(token);
        self.stats.overhead += started.elapsed();
    }

    fn follow(&mut self, token: u32) {
        self.pending = None;
        match &mut self.state {
            State::Free => {
                self.tail
                    .extend_from_slice(self.tokenizer.token_bytes(token));
                if let Some(start) = &self.after_tag {
                    if self.tail.ends_with(&self.guard.tag) {
                        self.tail.clear();
                        self.untagged = None;
                        self.state = State::Call {
                            matcher: Box::new(start.deep_clone()),
                            ends_answer: false,
                            written: Vec::new(),
                            banned: Vec::new(),
                        };
                        return;
                    }
                }
                self.watch_untagged(token);
                let keep = self.guard.tag.len().saturating_sub(1);
                if self.tail.len() > keep {
                    self.tail.drain(..self.tail.len() - keep);
                }
            }
            State::Call {
                matcher,
                ends_answer,
                written,
                ..
            } => {
                written.push(token);
                if let Err(e) = matcher.consume_token(token) {
                    let e = e.to_string();
                    self.give_up(&e);
                } else if matcher.is_stopped() && !*ends_answer {
                    // The closing tag is written: free text (or another call) follows.
                    self.state = State::Free;
                    self.tail.clear();
                }
            }
        }
    }

    /// Follows the start of the answer: once it opens a call without tags, the call's
    /// matcher takes over from the opening brace, which it is given with what followed.
    fn watch_untagged(&mut self, token: u32) {
        let Some(watch) = &mut self.untagged else {
            return;
        };
        watch
            .text
            .extend_from_slice(self.tokenizer.token_bytes(token));
        let text = String::from_utf8_lossy(&watch.text);
        let brace = match untagged_start(&text, &watch.format) {
            UntaggedStart::Undecided => return,
            UntaggedStart::No => {
                self.untagged = None;
                return;
            }
            UntaggedStart::Brace(at) => at,
        };
        let opened = text.get(brace..).unwrap_or_default().as_bytes().to_vec();
        let mut matcher = watch.start.deep_clone();
        self.untagged = None;
        let fed = match matcher.tok_env() {
            Ok(env) => matcher.consume_tokens(&env.tokenize_bytes(&opened)),
            Err(e) => Err(e),
        };
        match fed {
            Ok(()) => {
                self.state = State::Call {
                    matcher: Box::new(matcher),
                    ends_answer: true,
                    written: Vec::new(),
                    banned: Vec::new(),
                };
            }
            // The model's own text before the mask already left the grammar (a tool it
            // does not name, say): the parser gives such a reply back as text.
            Err(e) => log::debug!("untagged call left unconstrained: {e}"),
        }
    }

    /// Where the masks' time went so far.
    pub fn stats(&self) -> MaskStats {
        self.stats
    }

    fn count(&mut self, compute: Duration, waited: Duration) {
        self.stats.masks += 1;
        self.stats.compute += compute;
        self.stats.waited += waited;
    }

    /// A matcher that fails leaves the rest of the answer free rather than ending the
    /// request: the call parser still reports a malformed call as such.
    fn give_up(&mut self, error: &str) {
        log::warn!("tool-call constraint abandoned: {error}");
        self.state = State::Free;
        self.pending = None;
        self.tail.clear();
    }
}
