//! A request's `tool_choice`, checked against its tools and turned into the
//! constraint its answer is decoded under.

use std::sync::{Arc, OnceLock};

use crate::api::{ApiError, Request, ToolChoice, ToolDefinition};
use crate::generation::constraint::{CallGrammars, CallPolicy, TagGuard, ToolConstraint};
use crate::generation::grammar::{call_grammar, untagged_call_grammar, GrammarEnv};
use crate::template::tool_calls::ToolCallFormat;
use crate::tokenizer::Tokenizer;

/// The environment of the model's vocabulary and the guard of its opening tag.
type Built = (Arc<GrammarEnv>, Arc<TagGuard>);

/// What constrained requests of one model share, built on the first of them: walking a
/// 150k-token vocabulary takes longer than a request should wait for every time.
#[derive(Debug, Default)]
pub(super) struct SharedGrammar {
    built: OnceLock<Result<Built, String>>,
}

impl SharedGrammar {
    fn get(&self, tokenizer: &Tokenizer, format: &ToolCallFormat) -> Result<Built, String> {
        self.built
            .get_or_init(|| {
                let env = GrammarEnv::new(tokenizer)?;
                let guard = TagGuard::new(format.open, tokenizer);
                Ok((Arc::new(env), Arc::new(guard)))
            })
            .clone()
    }
}

/// The constraint `req`'s answer is decoded under, or `None` for free decoding; a
/// `tool_choice` that cannot hold for this request is an invalid request.
pub(super) fn constraint_for(
    req: &Request,
    format: Option<&ToolCallFormat>,
    tokenizer: &Tokenizer,
    shared: &SharedGrammar,
) -> Result<Option<ToolConstraint>, ApiError> {
    let choice = req.tool_choice.clone().unwrap_or_default();
    if req.tool_choice.is_some() && req.tools.is_empty() {
        return Err(ApiError::invalid_request(
            "tool_choice: given, but the request has no tools to choose from",
        ));
    }
    let first_tools: Vec<&ToolDefinition> = match &choice {
        ToolChoice::Auto | ToolChoice::None => Vec::new(),
        ToolChoice::Any => req.tools.iter().collect(),
        ToolChoice::Tool { name } => vec![tool_named(req, name, "tool_choice.name")?],
        ToolChoice::AnyOf { names } => {
            if names.is_empty() {
                return Err(ApiError::invalid_request(
                    "tool_choice.names: empty; name at least one of the request's tools",
                ));
            }
            names
                .iter()
                .map(|name| tool_named(req, name, "tool_choice.names"))
                .collect::<Result<_, _>>()?
        }
    };
    if req.tools.is_empty() {
        return Ok(None);
    }
    let required = !first_tools.is_empty();
    let Some(format) = format else {
        // Without a known call syntax no call can be read, so `none` and `auto` hold.
        return if required {
            Err(ApiError::invalid_request(
                "tool_choice: this model has no tool-call syntax hearth knows, so it cannot be \
                 made to call a tool",
            ))
        } else {
            Ok(None)
        };
    };
    let (env, guard) = match shared.get(tokenizer, format) {
        Ok(built) => built,
        Err(e) if !required && choice == ToolChoice::Auto => {
            log::warn!("tool calls are decoded unconstrained: {e}");
            return Ok(None);
        }
        Err(e) => return Err(ApiError::internal(format!("tool_choice: {e}"))),
    };
    // Calls after the first may be of any tool, except where the choice names the only
    // tools that may be called at all.
    let callable: Vec<&ToolDefinition> = match choice {
        ToolChoice::AnyOf { .. } => first_tools.clone(),
        _ => req.tools.iter().collect(),
    };
    // A reply that opens with a call but forgets the tag is held to a valid call too,
    // where the parser reads such replies as calls.
    let untagged =
        (!required && format.fenced_json).then(|| (untagged_call_grammar(&callable), *format));
    let grammars = CallGrammars {
        first: required.then(|| call_grammar(format, &first_tools, true)),
        after_tag: call_grammar(format, &callable, false),
        untagged,
    };
    let policy = match choice {
        ToolChoice::None => CallPolicy::Forbidden,
        _ => CallPolicy::Allowed,
    };
    match ToolConstraint::new(env, guard, tokenizer.clone(), policy, grammars) {
        Ok(constraint) => Ok(Some(constraint)),
        Err(e) if choice == ToolChoice::Auto => {
            // The request ran unconstrained before tool_choice existed; a schema
            // llguidance cannot enforce must not stop it now.
            log::warn!("tool calls are decoded unconstrained: {e}");
            Ok(None)
        }
        Err(e) => Err(ApiError::invalid_request(format!(
            "tools: an input_schema cannot be enforced for tool_choice: {e}"
        ))),
    }
}

/// The tool of `req` named `name`, or an invalid request naming `field` and the tools there are.
fn tool_named<'r>(
    req: &'r Request,
    name: &str,
    field: &str,
) -> Result<&'r ToolDefinition, ApiError> {
    req.tools.iter().find(|t| t.name == name).ok_or_else(|| {
        let names: Vec<&str> = req.tools.iter().map(|t| t.name.as_str()).collect();
        ApiError::invalid_request(format!(
            "{field}: no tool is named {name:?}; the request's tools are {names:?}"
        ))
    })
}
