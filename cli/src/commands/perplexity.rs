//! `hearth perplexity`: teacher-forced perplexity of a text file.

use anyhow::anyhow;
use hearth_engine::eval::perplexity;

use crate::args::PerplexityArgs;
use crate::commands::load_model;
use crate::config::Environment;
use crate::error::CliError;
use crate::progress;

/// Runs `hearth perplexity`.
pub fn run(env: &Environment, a: PerplexityArgs) -> Result<(), CliError> {
    let text = std::fs::read_to_string(&a.file)
        .map_err(|e| CliError::usage(anyhow!("cannot read {}: {e}", a.file.display())))?;
    let model = load_model(env, &a.model.model)?;
    let mut tokens = model
        .tokenizer()
        .encode(&text, false)
        .map_err(CliError::failure)?;
    if let Some(max) = a.chunks {
        tokens.truncate(max.saturating_mul(a.ctx));
    }
    let total = (tokens.len() / a.ctx.max(1)) as u64;
    let bar = progress::bar(total, "perplexity");
    let result = perplexity(&model, &tokens, a.ctx, &mut |done, _, ppl| {
        bar.set_position(done as u64);
        bar.set_message(format!("perplexity {ppl:.4}"));
    })
    .map_err(CliError::usage)?;
    bar.finish_and_clear();
    if a.json {
        let v = serde_json::json!({
            "perplexity": result.perplexity,
            "tokens": result.tokens,
            "chunks": result.chunks,
            "ctx": result.ctx,
        });
        println!("{v}");
    } else {
        println!(
            "perplexity: {:.4} over {} scored tokens ({} windows of {})",
            result.perplexity, result.tokens, result.chunks, result.ctx
        );
    }
    Ok(())
}
