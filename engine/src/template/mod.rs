//! Chat templates: the model's own Jinja template, rendered the way Hugging
//! Face transformers' `apply_chat_template` renders it.
//!
//! transformers compiles templates with jinja2 in a sandbox with
//! `trim_blocks` and `lstrip_blocks`, adds `raise_exception`, `strftime_now`
//! and a `tojson` filter backed by Python's `json.dumps`, and passes
//! `messages`, `tools`, `documents`, `add_generation_prompt`, the special
//! tokens and any extra keyword arguments. This module sets minijinja up the
//! same way, so that the prompt is byte-for-byte the one the model was trained
//! on (`tests/template_reference.rs` checks this against jinja2 itself).

pub mod chat;
mod pyjson;
mod pyrepr;
mod strftime;
pub mod tool_calls;

use crate::model::gguf::Gguf;
use crate::tokenizer::Tokenizer;
use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde_json::Map;

/// The GGUF key holding the model's default chat template.
const GGUF_TEMPLATE_KEY: &str = "tokenizer.chat_template";

/// The name the one template of a [`ChatTemplate`] is stored under.
const TEMPLATE_NAME: &str = "chat_template";

/// Variables the renderer sets itself, which `extra` must not override.
const RESERVED_VARIABLES: [&str; 4] = ["messages", "tools", "documents", "add_generation_prompt"];

/// Why a chat template could not be compiled or rendered.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template source is not valid Jinja.
    #[error("the chat template does not compile: {0:#}")]
    Syntax(#[source] minijinja::Error),
    /// The template called `raise_exception(message)`, usually because the
    /// conversation breaks one of its rules (roles must alternate, ...).
    #[error("the chat template rejected the conversation: {0}")]
    Raised(String),
    /// Rendering failed (an operation on a missing value, a bad filter argument, ...).
    #[error("the chat template failed to render: {0:#}")]
    Render(#[source] minijinja::Error),
    /// `extra` tried to set one of the variables the renderer sets itself.
    #[error("template variable `{0}` is set by the renderer and cannot be passed in `extra`")]
    ReservedVariable(String),
    /// The model file holds a chat template that is not a string.
    #[error("GGUF key tokenizer.chat_template holds a {0}, expected a string")]
    NotAString(String),
}

/// What a chat template is rendered with.
#[derive(Debug, Clone, Default)]
pub struct TemplateInput {
    /// The conversation, as JSON objects with `role`, `content` and, for
    /// assistant turns, `tool_calls` (OpenAI shape, arguments as objects).
    pub messages: Vec<serde_json::Value>,
    /// Tool definitions (JSON schemas). Empty means "no tools": the template
    /// sees `tools = none`, as it does when transformers gets `tools=None`.
    pub tools: Vec<serde_json::Value>,
    /// Append the header of an assistant turn for the model to complete.
    pub add_generation_prompt: bool,
    /// Extra template variables, such as `enable_thinking` or `date_string`.
    pub extra: Map<String, serde_json::Value>,
}

/// A compiled chat template, ready to render conversations.
pub struct ChatTemplate {
    env: Environment<'static>,
    bos_token: String,
    eos_token: String,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate")
            .field("bos_token", &self.bos_token)
            .field("eos_token", &self.eos_token)
            .finish_non_exhaustive()
    }
}

/// The error `raise_exception` returns, recognised again after rendering.
#[derive(Debug)]
struct RaisedByTemplate(String);

impl std::fmt::Display for RaisedByTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RaisedByTemplate {}

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(
        minijinja::ErrorKind::InvalidOperation,
        "raise_exception was called",
    )
    .with_source(RaisedByTemplate(message)))
}

impl ChatTemplate {
    /// Compiles `source` once; `bos_token` and `eos_token` are the texts of the
    /// model's special tokens, which templates print by name.
    pub fn new(
        source: &str,
        bos_token: &str,
        eos_token: &str,
    ) -> Result<ChatTemplate, TemplateError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(false);
        // jinja2's default Undefined: missing attributes are falsy and print empty.
        env.set_undefined_behavior(UndefinedBehavior::Lenient);
        env.set_auto_escape_callback(|_| AutoEscape::None);
        env.set_unknown_method_callback(minijinja_contrib::pycompat::unknown_method_callback);
        env.set_formatter(pyrepr::python_formatter);
        env.add_filter("tojson", pyjson::tojson_filter);
        env.add_filter("string", pyrepr::string_filter);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime::strftime_now);
        env.add_template_owned(TEMPLATE_NAME, neutralize_generation_tags(source))
            .map_err(TemplateError::Syntax)?;
        Ok(ChatTemplate {
            env,
            bos_token: bos_token.to_owned(),
            eos_token: eos_token.to_owned(),
        })
    }

    /// The model's own template (`tokenizer.chat_template`), with its BOS and
    /// EOS texts taken from `tokenizer`; `None` when the file has no template.
    pub fn from_gguf(
        g: &Gguf,
        tokenizer: &Tokenizer,
    ) -> Result<Option<ChatTemplate>, TemplateError> {
        let Some(value) = g.get(GGUF_TEMPLATE_KEY) else {
            return Ok(None);
        };
        let source = value
            .as_str()
            .ok_or_else(|| TemplateError::NotAString(value.type_name().to_owned()))?;
        let text_of = |id: Option<u32>| id.map(|id| tokenizer.token_text(id)).unwrap_or_default();
        let (bos, eos) = (text_of(tokenizer.bos()), text_of(tokenizer.eos()));
        ChatTemplate::new(source, &bos, &eos).map(Some)
    }

    /// Renders a conversation into the prompt text.
    pub fn render(&self, input: &TemplateInput) -> Result<String, TemplateError> {
        let mut context: Vec<(String, Value)> = vec![
            ("bos_token".to_owned(), Value::from(self.bos_token.as_str())),
            ("eos_token".to_owned(), Value::from(self.eos_token.as_str())),
        ];
        for (name, value) in &input.extra {
            if RESERVED_VARIABLES.contains(&name.as_str()) {
                return Err(TemplateError::ReservedVariable(name.clone()));
            }
            // Later entries win, so `extra` may override the special tokens,
            // as keyword arguments to apply_chat_template do.
            context.push((name.clone(), Value::from_serialize(value)));
        }
        let tools = if input.tools.is_empty() {
            Value::from(())
        } else {
            Value::from_serialize(&input.tools)
        };
        context.extend([
            (
                "messages".to_owned(),
                Value::from_serialize(&input.messages),
            ),
            ("tools".to_owned(), tools),
            ("documents".to_owned(), Value::from(())),
            (
                "add_generation_prompt".to_owned(),
                Value::from(input.add_generation_prompt),
            ),
        ]);
        let context: Value = context.into_iter().collect();
        let template = self
            .env
            .get_template(TEMPLATE_NAME)
            .map_err(TemplateError::Render)?;
        template.render(context).map_err(classify_render_error)
    }
}

/// transformers' `{% generation %}...{% endgeneration %}` only marks the
/// assistant's tokens for training masks and renders its body unchanged;
/// minijinja has no such tag, so it becomes `{% if true %}...{% endif %}`,
/// keeping any whitespace-control markers.
fn neutralize_generation_tags(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(open) = rest.find("{%") {
        let (before, tag) = rest.split_at(open + 2);
        out.push_str(before);
        let markers = tag.len() - tag.trim_start_matches(['-', '+']).len();
        let after_markers = &tag[markers..];
        let body = after_markers.trim_start();
        let spaces = &after_markers[..after_markers.len() - body.len()];
        let word_len = body
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(body.len());
        let replacement = match &body[..word_len] {
            "generation" => Some("if true"),
            "endgeneration" => Some("endif"),
            _ => None,
        };
        match replacement {
            Some(word) => {
                out.push_str(&tag[..markers]);
                out.push_str(spaces);
                out.push_str(word);
                rest = &body[word_len..];
            }
            None => rest = tag,
        }
    }
    out.push_str(rest);
    out
}

fn classify_render_error(err: minijinja::Error) -> TemplateError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(current) = source {
        if let Some(raised) = current.downcast_ref::<RaisedByTemplate>() {
            return TemplateError::Raised(raised.0.clone());
        }
        source = current.source();
    }
    TemplateError::Render(err)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn render(source: &str, messages: serde_json::Value) -> Result<String, TemplateError> {
        let template = ChatTemplate::new(source, "<s>", "</s>")?;
        let input = TemplateInput {
            messages: serde_json::from_value(messages).unwrap(),
            ..TemplateInput::default()
        };
        template.render(&input)
    }

    #[test]
    fn raise_exception_becomes_a_typed_error() {
        let err = render("{{ raise_exception('roles must alternate') }}", json!([])).unwrap_err();
        assert!(
            matches!(err, TemplateError::Raised(ref m) if m == "roles must alternate"),
            "{err}"
        );
    }

    #[test]
    fn syntax_errors_are_reported_at_compile_time() {
        let err = ChatTemplate::new("{% if %}", "", "").unwrap_err();
        assert!(matches!(err, TemplateError::Syntax(_)), "{err}");
    }

    #[test]
    fn missing_attributes_are_falsy_and_print_empty() {
        let out = render(
            "{% for m in messages %}[{{ m.missing }}]{% if m.missing %}yes{% else %}no{% endif %}{% endfor %}",
            json!([{"role": "user"}]),
        )
        .unwrap();
        assert_eq!(out, "[]no");
    }

    #[test]
    fn values_print_like_python() {
        let out = render(
            "{{ messages[0].content }} {{ true }} {{ [1, 'a'] }}",
            json!([{"content": null}]),
        )
        .unwrap();
        assert_eq!(out, "None True [1, 'a']");
    }

    #[test]
    fn generation_tags_render_their_body() {
        let source = "a {%- generation %} b {% endgeneration -%} c{% if generations %}x{% endif %}";
        assert_eq!(
            neutralize_generation_tags(source),
            "a {%- if true %} b {% endif -%} c{% if generations %}x{% endif %}"
        );
        assert_eq!(render(source, json!([])).unwrap(), "a b c");
    }

    #[test]
    fn extra_cannot_replace_the_messages() {
        let template = ChatTemplate::new("{{ messages }}", "", "").unwrap();
        let mut input = TemplateInput::default();
        input.extra.insert("messages".into(), json!([]));
        assert!(matches!(
            template.render(&input),
            Err(TemplateError::ReservedVariable(_))
        ));
    }
}
