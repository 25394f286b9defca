//! The grammar side of constrained tool calls: llguidance's token environment built
//! from hearth's own tokenizer, and the Lark grammar of one call of a request's tools.

use std::sync::Arc;

use llguidance::api::TopLevelGrammar;
use llguidance::{Matcher, ParserFactory};
use serde_json::{json, Value};
use toktrie::{TokEnv, TokRxInfo, TokTrie, TokenId, TokenizerEnv};

use crate::api::ToolDefinition;
use crate::template::tool_calls::ToolCallFormat;
use crate::tokenizer::Tokenizer;

/// How llguidance sees hearth's vocabulary.
///
/// Built from hearth's own tokenizer (each id's bytes, its control tokens, EOS) rather
/// than through `toktrie_hf_tokenizers`: the engine reads its vocabulary from the GGUF
/// file and has no Hugging Face `tokenizer.json` at run time, and the bytes the mask
/// speaks of must be exactly the bytes hearth decodes, or a constrained call could
/// still come out malformed.
struct HearthTokenizerEnv {
    tokenizer: Tokenizer,
    trie: TokTrie,
}

impl TokenizerEnv for HearthTokenizerEnv {
    fn tok_trie(&self) -> &TokTrie {
        &self.trie
    }

    fn tokenize_bytes(&self, s: &[u8]) -> Vec<TokenId> {
        // llguidance tokenizes grammar literals with this; hearth's tokenizer takes
        // text, so bytes that are not UTF-8 fall back to the trie's greedy split.
        let Ok(text) = std::str::from_utf8(s) else {
            return self.trie.greedy_tokenize(s);
        };
        match self.tokenizer.encode(text, false) {
            Ok(mut ids) => {
                if self.tokenizer.add_bos() && ids.first() == self.tokenizer.bos().as_ref() {
                    ids.remove(0);
                }
                ids
            }
            Err(_) => self.trie.greedy_tokenize(s),
        }
    }
}

/// What every constrained request of one model shares: the token environment and
/// the parser factory (building them walks the whole vocabulary, so it is done once).
pub struct GrammarEnv {
    factory: ParserFactory,
    vocab_size: usize,
}

impl std::fmt::Debug for GrammarEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GrammarEnv")
            .field("vocab_size", &self.vocab_size)
            .finish_non_exhaustive()
    }
}

impl GrammarEnv {
    /// The environment of `tokenizer`'s vocabulary.
    pub fn new(tokenizer: &Tokenizer) -> Result<GrammarEnv, String> {
        let vocab_size = tokenizer.vocab_size();
        let eos = tokenizer
            .eos()
            .ok_or("the tokenizer has no end-of-sequence token, which a grammar needs")?;
        let mut words: Vec<Vec<u8>> = (0..vocab_size as u32)
            .map(|id| tokenizer.token_bytes(id).to_vec())
            .collect();
        // Control tokens get toktrie's marker byte in front, so that a grammar's text
        // (a JSON string, say) can never be spelled with `<|im_end|>` the token.
        for id in tokenizer.control_tokens() {
            if let Some(word) = words.get_mut(id as usize) {
                word.insert(0, TokTrie::SPECIAL_TOKEN_MARKER);
            }
        }
        let info = TokRxInfo::new(vocab_size as u32, eos);
        let trie = TokTrie::from(&info, &words);
        let env: TokEnv = Arc::new(HearthTokenizerEnv {
            tokenizer: tokenizer.clone(),
            trie,
        });
        let mut factory =
            ParserFactory::new_simple(&env).map_err(|e| format!("llguidance setup: {e}"))?;
        // A library never prints: llguidance's own logging goes nowhere.
        factory.quiet();
        Ok(GrammarEnv {
            factory,
            vocab_size,
        })
    }

    /// The vocabulary size the masks cover.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// A matcher at the start of `lark`, or why the grammar does not compile.
    pub fn matcher(&self, lark: &str) -> Result<Matcher, String> {
        let parser = self
            .factory
            .create_parser(TopLevelGrammar::from_lark(lark.to_string()))
            .map_err(|e| e.to_string())?;
        Ok(Matcher::new(Ok(parser)))
    }
}

/// The Lark grammar of one tool call in `format`, for `tools`: the JSON object
/// `{"name": <a tool's name>, "arguments": <an object matching its input_schema>}`
/// on its own line, then the closing tag. With `with_opening` it starts with the
/// opening tag (after at most a few blank characters); without it, right after
/// the opening tag, where the model has just written it.
///
/// The spelling is the one the chat template shows the model (`, ` and `: `, one
/// line), so a constrained call looks like the calls it was trained on.
pub fn call_grammar(
    format: &ToolCallFormat,
    tools: &[&ToolDefinition],
    with_opening: bool,
) -> String {
    let mut lark = String::new();
    if with_opening {
        lark.push_str(&format!("start: BLANK? {} call\n", quoted(format.open)));
        lark.push_str("BLANK: /[ \\t\\n]{1,4}/\n");
    } else {
        lark.push_str("start: call\n");
    }
    let alternatives: Vec<String> = (0..tools.len()).map(|i| format!("call_{i}")).collect();
    lark.push_str(&format!(
        "call: {} ({}) {} {}\n",
        quoted("\n"),
        alternatives.join(" | "),
        quoted("\n"),
        quoted(format.close)
    ));
    for (i, tool) in tools.iter().enumerate() {
        let head = format!(
            "{{\"name\": {}, \"arguments\": ",
            Value::String(tool.name.clone())
        );
        lark.push_str(&format!(
            "call_{i}: {} args_{i} {}\n",
            quoted(&head),
            quoted("}")
        ));
        lark.push_str(&format!(
            "args_{i}: %json {}\n",
            arguments_schema(&tool.input_schema)
        ));
    }
    lark
}

/// The Lark grammar of a call written without tags (see
/// [`ToolCallFormat::fenced_json`]), from its opening brace to its closing one: the
/// same object as [`call_grammar`]'s, in the single or the doubled braces of the
/// template's spelling, with a little blank space allowed up to the name (the model's
/// own text, written before the constraint saw a call). Nothing may follow it but the end.
pub fn untagged_call_grammar(tools: &[&ToolDefinition]) -> String {
    let mut lark = String::from(
        "start: \"{\" object \"}\" | \"{{\" object \"}}\"\n\
         BLANK: /[ \\t\\n]{1,4}/\n\
         object: BLANK? \"\\\"name\\\"\" BLANK? \":\" BLANK? named\n",
    );
    let alternatives: Vec<String> = (0..tools.len()).map(|i| format!("named_{i}")).collect();
    lark.push_str(&format!("named: {}\n", alternatives.join(" | ")));
    for (i, tool) in tools.iter().enumerate() {
        lark.push_str(&format!(
            "named_{i}: {} \", \\\"arguments\\\": \" args_{i}\n",
            quoted(&Value::String(tool.name.clone()).to_string()),
        ));
        lark.push_str(&format!(
            "args_{i}: %json {}\n",
            arguments_schema(&tool.input_schema)
        ));
    }
    lark
}

/// A tool's input schema as llguidance compiles it: an object (Anthropic tools take
/// objects), in the compact spelling of `json.dumps`, ignoring keywords it does not
/// enforce instead of refusing the whole grammar.
fn arguments_schema(input_schema: &Value) -> Value {
    let mut schema = match input_schema {
        Value::Object(map) => map.clone(),
        _ => serde_json::Map::new(),
    };
    schema
        .entry("type")
        .or_insert_with(|| Value::String("object".into()));
    schema.insert(
        "x-guidance".into(),
        json!({
            "item_separator": ", ",
            "key_separator": ": ",
            "whitespace_flexible": false,
            "lenient": true,
        }),
    );
    Value::Object(schema)
}

/// A Lark string literal of `text` (Lark's strings are JSON strings).
fn quoted(text: &str) -> String {
    Value::String(text.to_string()).to_string()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn tool(name: &str, schema: Value) -> ToolDefinition {
        ToolDefinition {
            name: name.into(),
            description: String::new(),
            input_schema: schema,
        }
    }

    #[test]
    fn one_alternative_per_tool_with_its_schema() {
        let read = tool(
            "read_file",
            json!({"type": "object", "properties": {"path": {"type": "string"}}}),
        );
        let quote = tool("say \"hi\"", json!({}));
        let lark = call_grammar(&ToolCallFormat::HERMES, &[&read, &quote], false);
        assert!(lark.starts_with("start: call\n"), "{lark}");
        assert!(
            lark.contains(r#"call: "\n" (call_0 | call_1) "\n" "</tool_call>""#),
            "{lark}"
        );
        assert!(lark.contains(r#"call_0: "{\"name\": \"read_file\", \"arguments\": " args_0 "}""#));
        // A name that needs escaping is escaped twice: in JSON, then in the Lark literal.
        assert!(lark.contains(r#"\"say \\\"hi\\\"\""#), "{lark}");
        assert!(lark.contains(r#"args_0: %json {"type":"object","properties":{"path""#));
        // A schema without a type still only admits objects.
        assert!(
            lark.contains(r#"args_1: %json {"type":"object","x-guidance""#),
            "{lark}"
        );
    }

    #[test]
    fn with_opening_starts_at_the_tag() {
        let t = tool("ls", json!({"type": "object"}));
        let lark = call_grammar(&ToolCallFormat::HERMES, &[&t], true);
        assert!(
            lark.starts_with("start: BLANK? \"<tool_call>\" call\n"),
            "{lark}"
        );
    }

    #[test]
    fn schema_options_follow_the_template_spelling() {
        let schema = arguments_schema(&json!({"type": "object", "required": ["a"]}));
        assert_eq!(schema["required"], json!(["a"]));
        assert_eq!(schema["x-guidance"]["item_separator"], ", ");
        assert_eq!(schema["x-guidance"]["whitespace_flexible"], false);
        assert_eq!(arguments_schema(&json!(true))["type"], "object");
    }
}
