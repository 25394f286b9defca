//! Prompt-lookup drafting for speculative decoding.
//!
//! An agent's output copies long runs of what it has just read: the `old` text of an
//! edit, a file rewritten with one line changed, a path or identifier named again. The
//! tokens after the latest earlier occurrence of the output's last few tokens are a
//! cheap guess (a draft) at what comes next. The generation loop runs the draft through
//! the model in one batched pass, which on a memory-bound CPU costs about what one token
//! costs (each weight is read once for the whole batch), keeps the drafted tokens the
//! model itself picks, and drops the rest from the KV cache. Every token is still chosen
//! from the model's own logits by the same sampler, mask and budget, so the output is
//! what plain decoding gives: token for token under greedy decoding (the batched pass's
//! logits are bit-identical to one-token passes), in distribution when sampling.

use serde::Serialize;

/// How drafts are made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SpeculationOptions {
    /// The most tokens one draft holds.
    pub max_draft: usize,
    /// The longest run of the output's last tokens looked up in the context.
    pub max_ngram: usize,
    /// The shortest such run: a single token matches too often to be worth a pass.
    pub min_ngram: usize,
}

impl Default for SpeculationOptions {
    fn default() -> SpeculationOptions {
        SpeculationOptions {
            max_draft: 15,
            max_ngram: 4,
            min_ngram: 2,
        }
    }
}

/// What drafting did in one generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct SpeculationStats {
    /// Tokens drafted and run through the model.
    pub drafted: usize,
    /// Drafted tokens the model agreed with (they cost no pass of their own).
    pub accepted: usize,
    /// Batched passes that checked a draft.
    pub passes: usize,
    /// Of the drafted and accepted tokens, those a tool call's grammar forced (jump-forward:
    /// the rest of a named tool's name, the closing tag), not guessed from the context.
    pub forced: usize,
}

/// Drafts from the context and adapts the draft length to how many are accepted: long
/// while they are accepted whole, short after a miss, and none for a while after several
/// drafts in a row were rejected outright (free prose, where lookups match by chance), so
/// a generation that does not copy pays almost nothing for the attempt.
#[derive(Clone, Debug)]
pub struct Drafter {
    options: SpeculationOptions,
    /// The next draft's length, as an index into [`LENGTHS`].
    level: usize,
    /// Drafts in a row of which no token was accepted.
    misses: u32,
    /// Drafts in a row accepted whole at this length.
    whole: u32,
    /// Tokens to decode plainly before drafting again.
    paused: usize,
    stats: SpeculationStats,
}

/// Draft lengths, each one less than a batch size the packed kernels take whole (they
/// work on 4 activation rows at a time): on the 2-core VNNI machine, with one token's
/// pass as 1, a pass of 2 tokens costs 1.1, 4 tokens 1.35, 8 tokens 2.3 and 16 tokens
/// 3.7, while 5 already costs 1.75 (`hearth bench --tests pp1,pp2,pp4,pp5,pp8,pp16`;
/// bench/RESULTS.md). A draft grows a step while it is accepted whole.
const LENGTHS: [usize; 4] = [1, 3, 7, 15];

/// The first draft's length (an index into [`LENGTHS`]): 3 drafted tokens cost a third
/// of a token's pass more, and one accepted pays for it.
const FIRST_LEVEL: usize = 1;

/// Rejected drafts in a row before drafting pauses.
const MISSES_BEFORE_PAUSE: u32 = 2;

impl Drafter {
    /// A drafter under `options`.
    pub fn new(options: SpeculationOptions) -> Drafter {
        Drafter {
            options,
            level: FIRST_LEVEL,
            misses: 0,
            whole: 0,
            paused: 0,
            stats: SpeculationStats::default(),
        }
    }

    /// The draft to check after the last token of `context` (all the tokens so far:
    /// prompt and output), at most `room` tokens long, copied from `context` or else from
    /// `also_from` (more text the output may copy, see [`lookup`]); empty when there is
    /// nothing worth checking.
    pub fn draft(&mut self, context: &[u32], also_from: &[u32], room: usize) -> Vec<u32> {
        if self.paused > 0 {
            self.paused -= 1;
            return Vec::new();
        }
        let length = LENGTHS[self.level].min(self.options.max_draft).min(room);
        if length == 0 {
            return Vec::new();
        }
        lookup(
            context,
            also_from,
            self.options.min_ngram,
            self.options.max_ngram,
            length,
        )
        .to_vec()
    }

    /// Records that `accepted` of a draft of `drafted` tokens were kept.
    pub fn settle(&mut self, drafted: usize, accepted: usize) {
        self.stats.drafted += drafted;
        self.stats.accepted += accepted;
        self.stats.passes += 1;
        let top = LENGTHS.len() - 1;
        if accepted == drafted {
            self.misses = 0;
            self.whole += 1;
            // The longest drafts cost most when cut short: reached only after two whole
            // ones in a row (a copy that breaks every line stays at 7).
            if self.level + 2 < LENGTHS.len() || self.whole >= 2 {
                self.level = (self.level + 1).min(top);
                self.whole = 0;
            }
        } else if accepted > 0 {
            // The shortest length that would have held what was accepted and one more.
            self.misses = 0;
            self.whole = 0;
            self.level = LENGTHS
                .iter()
                .position(|&length| length > accepted)
                .unwrap_or(top);
        } else {
            self.misses += 1;
            self.whole = 0;
            self.level = self.level.saturating_sub(1);
            if self.misses >= MISSES_BEFORE_PAUSE {
                // Longer pauses the longer drafts keep failing, up to a few dozen tokens.
                self.paused = 4 << (self.misses - MISSES_BEFORE_PAUSE).min(3);
            }
        }
    }

    /// Records the check of a draft a call's grammar forced: counted, but it says nothing
    /// of how well the context predicts the output, so the draft length stays.
    pub fn settle_forced(&mut self, drafted: usize, accepted: usize) {
        self.stats.drafted += drafted;
        self.stats.accepted += accepted;
        self.stats.forced += accepted;
        self.stats.passes += 1;
    }

    /// What drafting did so far.
    pub fn stats(&self) -> SpeculationStats {
        self.stats
    }
}

/// The up to `length` tokens that followed the latest earlier occurrence of the last
/// `n` tokens of `context`, for the longest `n` from `max_ngram` down to `min_ngram` that
/// occurs, in `context` itself or else in `also_from`; empty when none does.
///
/// `also_from` holds what the output may copy in another form than the context has it:
/// a tool call's arguments are a JSON string, so a file's lines copied into `old` come
/// out escaped (`\"`, `\n`) and tokenize unlike the file in the tool result.
pub fn lookup<'a>(
    context: &'a [u32],
    also_from: &'a [u32],
    min_ngram: usize,
    max_ngram: usize,
    length: usize,
) -> &'a [u32] {
    let min_ngram = min_ngram.max(1);
    for n in (min_ngram..=max_ngram).rev() {
        if context.len() <= n {
            continue;
        }
        let tail = &context[context.len() - n..];
        if let Some(draft) =
            after_latest(context, tail, length).or_else(|| after_latest(also_from, tail, length))
        {
            return draft;
        }
    }
    &[]
}

/// The up to `length` tokens after the latest occurrence of `pattern` in `haystack` that
/// some token follows (so the tail of the context never matches itself).
fn after_latest<'a>(haystack: &'a [u32], pattern: &[u32], length: usize) -> Option<&'a [u32]> {
    let n = pattern.len();
    // Latest first: what was read most recently is what is being copied.
    let start = (0..haystack.len().checked_sub(n)?)
        .rev()
        .find(|&start| &haystack[start..start + n] == pattern)?;
    let from = start + n;
    Some(&haystack[from..(from + length).min(haystack.len())])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_takes_what_followed_the_latest_longest_match() {
        // "a b c d e" then later "x b c" -> the tail "b c" matched at 1, then "d e".
        let context = [1, 2, 3, 4, 5, 9, 2, 3];
        assert_eq!(lookup(&context, &[], 2, 4, 3), &[4, 5, 9]);
        // A longer match wins over a later shorter one.
        let context = [7, 2, 3, 4, 8, 3, 4, 6, 7, 2, 3, 4];
        assert_eq!(lookup(&context, &[], 2, 4, 2), &[8, 3]);
        // The latest of equal matches.
        let context = [2, 3, 5, 2, 3, 6, 2, 3];
        assert_eq!(lookup(&context, &[], 2, 2, 1), &[6]);
        // No match, too short a context, or a match only of the tail itself.
        assert!(lookup(&[1, 2, 3, 4], &[], 2, 4, 4).is_empty());
        assert!(lookup(&[1], &[], 2, 4, 4).is_empty());
        // The draft stops at the context's end.
        assert_eq!(lookup(&[1, 2, 1, 2], &[], 2, 2, 8), &[1, 2]);
        // Another source is searched when the context has no match, and a longer match
        // there wins over a shorter one in the context.
        assert_eq!(lookup(&[1, 2, 3, 4], &[3, 4, 7, 8], 2, 4, 4), &[7, 8]);
        assert_eq!(lookup(&[3, 4, 8, 2, 3, 4], &[2, 3, 4, 6], 2, 4, 4), &[6]);
        assert_eq!(
            lookup(&[3, 4, 5, 2, 3, 4], &[2, 3, 4, 6], 2, 2, 4),
            &[5, 2, 3, 4]
        );
        assert!(
            lookup(&[7, 1, 2], &[1, 2], 2, 2, 4).is_empty(),
            "a match must be followed"
        );
    }

    #[test]
    fn the_draft_grows_while_accepted_and_pauses_after_misses() {
        let mut d = Drafter::new(SpeculationOptions::default());
        let context: Vec<u32> = (0..40).chain(0..10).collect();
        assert_eq!(d.draft(&context, &[], 100).len(), 3);
        d.settle(3, 3);
        assert_eq!(d.draft(&context, &[], 100).len(), 7);
        d.settle(7, 7);
        assert_eq!(
            d.draft(&context, &[], 100).len(),
            7,
            "15 after two whole 7s"
        );
        d.settle(7, 7);
        assert_eq!(d.draft(&context, &[], 100).len(), 15);
        assert_eq!(d.draft(&context, &[], 2).len(), 2, "room caps the draft");
        d.settle(15, 15);
        assert_eq!(d.draft(&context, &[], 100).len(), 15, "15 is the longest");
        d.settle(15, 5);
        assert_eq!(d.draft(&context, &[], 100).len(), 7);
        d.settle(7, 0);
        d.settle(3, 0);
        // Two outright misses: the next few steps draft nothing.
        for _ in 0..4 {
            assert!(d.draft(&context, &[], 100).is_empty());
        }
        assert_eq!(d.draft(&context, &[], 100).len(), 1);
        let stats = d.stats();
        assert_eq!((stats.drafted, stats.accepted, stats.passes), (57, 37, 7));
        // max_draft caps every length.
        let mut short = Drafter::new(SpeculationOptions {
            max_draft: 2,
            ..SpeculationOptions::default()
        });
        assert_eq!(short.draft(&context, &[], 100).len(), 2);
    }
}
