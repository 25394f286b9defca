//! `hearth model pull|list|info`.

use std::collections::BTreeMap;

use anyhow::anyhow;
use hearth_engine::model::config::ModelConfig;
use hearth_engine::model::gguf::Gguf;
use hearth_hub as hub;
use serde_json::json;

use crate::args::{ModelArgs, ModelCommand};
use crate::commands::resolve_model;
use crate::config::Environment;
use crate::error::CliError;

/// Runs `hearth model …`.
pub fn run(env: &Environment, a: ModelArgs) -> Result<(), CliError> {
    match a.command {
        ModelCommand::Pull { name } => pull(env, &name),
        ModelCommand::List { json } => list(env, json),
        ModelCommand::Info { model, json } => info(env, &model, json),
    }
}

fn pull(env: &Environment, name: &str) -> Result<(), CliError> {
    let known = hub::find_known(name).ok_or_else(|| {
        let names: Vec<&str> = hub::known_models().iter().map(|m| m.name).collect();
        CliError::usage(anyhow!(
            "unknown model '{name}'; known models: {}",
            names.join(", ")
        ))
    })?;
    let path = hub::pull(known, &env.hub_options()).map_err(CliError::failure)?;
    println!("{}", path.display());
    Ok(())
}

fn list(env: &Environment, as_json: bool) -> Result<(), CliError> {
    let models = hub::list_cached(&env.hub_options()).map_err(CliError::failure)?;
    if as_json {
        let rows: Vec<_> = models
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "path": m.path,
                    "size": m.size,
                    "present": m.present,
                    "known": m.known.is_some(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    for m in &models {
        let status = if m.present { "cached" } else { "not pulled" };
        let default = if m
            .known
            .is_some_and(|k| std::ptr::eq(k, hub::default_model()))
        {
            " (default)"
        } else {
            ""
        };
        println!(
            "{:<40} {:>9}  {:<10} {}{}",
            m.name,
            human_bytes(m.size),
            status,
            m.path.display(),
            default
        );
    }
    Ok(())
}

fn info(env: &Environment, model: &str, as_json: bool) -> Result<(), CliError> {
    let path = resolve_model(env, model)?;
    let g = Gguf::open(&path).map_err(CliError::usage)?;
    let config = ModelConfig::from_gguf(&g).map_err(CliError::usage)?;
    let mut mix: BTreeMap<&str, (usize, u64)> = BTreeMap::new();
    let mut params = 0u64;
    for t in g.tensors() {
        let e = mix.entry(t.ty.name()).or_default();
        e.0 += 1;
        e.1 += t.n_bytes as u64;
        params += t.n_elements();
    }
    let template = g.get("tokenizer.chat_template").is_some();
    if as_json {
        let mix_json: serde_json::Map<String, serde_json::Value> = mix
            .iter()
            .map(|(k, (n, b))| (k.to_string(), json!({"tensors": n, "bytes": b})))
            .collect();
        let v = json!({
            "path": path,
            "name": config.name,
            "architecture": g.get_str("general.architecture").unwrap_or_default(),
            "parameters": params,
            "file_size": g.file_size(),
            "gguf_version": g.version(),
            "context_length": config.context_length,
            "layers": config.n_layers,
            "embedding": config.n_embd,
            "feed_forward": config.n_ff,
            "heads": config.n_heads,
            "kv_heads": config.n_kv_heads,
            "head_dim": config.head_dim,
            "vocab_size": config.vocab_size,
            "rope_base": config.rope_base,
            "chat_template": template,
            "quantization": mix_json,
        });
        println!("{v:#}");
        return Ok(());
    }
    println!("path:            {}", path.display());
    if let Some(name) = &config.name {
        println!("name:            {name}");
    }
    println!(
        "architecture:    {} (GGUF v{})",
        g.get_str("general.architecture").unwrap_or_default(),
        g.version()
    );
    println!("parameters:      {} ({params})", human_count(params));
    println!(
        "file size:       {} ({} bytes)",
        human_bytes(g.file_size()),
        g.file_size()
    );
    println!("context length:  {}", config.context_length);
    println!(
        "shape:           {} layers, {} wide, FFN {}, {} heads / {} KV heads of {}, vocab {}",
        config.n_layers,
        config.n_embd,
        config.n_ff,
        config.n_heads,
        config.n_kv_heads,
        config.head_dim,
        config.vocab_size
    );
    println!("chat template:   {}", if template { "yes" } else { "no" });
    println!("quantization:");
    for (ty, (n, bytes)) in &mix {
        println!("  {ty:<6} {n:>4} tensors  {:>9}", human_bytes(*bytes));
    }
    Ok(())
}

fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn human_count(n: u64) -> String {
    match n {
        n if n >= 1_000_000_000 => format!("{:.2}B", n as f64 / 1e9),
        n if n >= 1_000_000 => format!("{:.1}M", n as f64 / 1e6),
        n if n >= 1_000 => format!("{:.1}K", n as f64 / 1e3),
        n => n.to_string(),
    }
}
