//! outline on a snippet of each language, find_symbol across files, and the repository map.

use hearth_tools::{outline_source, repo_map, Language, ToolError};
use serde_json::json;

use crate::common::TestRepo;

/// (qualified name, kind, line) of each definition, in order.
fn outline(language: Language, source: &str) -> Vec<(String, &'static str, usize)> {
    outline_source(language, source)
        .unwrap()
        .into_iter()
        .map(|d| (d.qualified_name, d.kind.as_str(), d.line))
        .collect()
}

fn expected(items: &[(&str, &'static str, usize)]) -> Vec<(String, &'static str, usize)> {
    items
        .iter()
        .map(|(name, kind, line)| (name.to_string(), *kind, *line))
        .collect()
}

const RUST: &str = r#"use std::fmt;

pub const MAX_SIZE: usize = 10;
static COUNTER: u32 = 0;

pub struct Point {
    x: i32,
}

pub enum Shape { Circle, Square }

pub trait Area {
    fn area(&self) -> f64;
}

impl Point {
    pub fn new() -> Self {
        fn helper() {}
        Point { x: 0 }
    }
}

impl fmt::Display for Point {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { Ok(()) }
}

type Alias = Point;

mod inner {
    pub fn nested() {}
}

macro_rules! square { ($x:expr) => { $x * $x }; }

fn main() {}
"#;

#[test]
fn outline_rust() {
    assert_eq!(
        outline(Language::Rust, RUST),
        expected(&[
            ("MAX_SIZE", "const", 3),
            ("COUNTER", "const", 4),
            ("Point", "struct", 6),
            ("Shape", "enum", 10),
            ("Area", "trait", 12),
            ("Area::area", "method", 13),
            ("Point::new", "method", 17),
            ("Point::fmt", "method", 24),
            ("Alias", "type", 27),
            ("inner", "module", 29),
            ("inner::nested", "function", 30),
            ("square", "macro", 33),
            ("main", "function", 35),
        ])
    );
}

#[test]
fn outline_python() {
    let source = r#"import os

MAX_RETRIES = 3
default_name = "x"

class Greeter(Base):
    greeting = "hi"

    @staticmethod
    def hello(name):
        def inner():
            pass
        return inner

    async def fetch(self):
        pass

def main():
    pass

class Outer:
    class Inner:
        def run(self):
            pass
"#;
    assert_eq!(
        outline(Language::Python, source),
        expected(&[
            ("MAX_RETRIES", "const", 3),
            ("Greeter", "class", 6),
            ("Greeter.hello", "method", 10),
            ("Greeter.fetch", "method", 15),
            ("main", "function", 18),
            ("Outer", "class", 21),
            ("Outer.Inner", "class", 22),
            ("Outer.Inner.run", "method", 23),
        ])
    );
}

#[test]
fn outline_javascript() {
    let source = r#"import x from "y";

export const API_URL = "https://example.com";
const handler = async (event) => {
  const local = () => 1;
  return local();
};
let counter = 0;

export default class App extends Base {
  render() {
    return null;
  }
  static create() {}
}

function* ids() {}

export function main() {}
"#;
    assert_eq!(
        outline(Language::JavaScript, source),
        expected(&[
            ("API_URL", "const", 3),
            ("handler", "function", 4),
            ("App", "class", 10),
            ("App.render", "method", 11),
            ("App.create", "method", 14),
            ("ids", "function", 17),
            ("main", "function", 19),
        ])
    );
}

#[test]
fn outline_typescript_and_tsx() {
    let source = r#"export interface Props {
  name: string;
  greet(x: number): void;
}

export type Id = string;

enum Color { Red, Green }

abstract class Shape {
  abstract area(): number;
  describe(): string {
    return "";
  }
}

namespace Geometry {
  export function distance(): number { return 0; }
}

export const DEFAULT_ID: Id = "a";
function helper(a: number): number { return a; }
"#;
    assert_eq!(
        outline(Language::TypeScript, source),
        expected(&[
            ("Props", "interface", 1),
            ("Props.greet", "method", 3),
            ("Id", "type", 6),
            ("Color", "enum", 8),
            ("Shape", "class", 10),
            ("Shape.area", "method", 11),
            ("Shape.describe", "method", 12),
            ("Geometry", "module", 17),
            ("Geometry.distance", "function", 18),
            ("DEFAULT_ID", "const", 21),
            ("helper", "function", 22),
        ])
    );
    let tsx = r#"import React from "react";

export function Button(props: { label: string }) {
  return <button>{props.label}</button>;
}

export const Card = ({ title }: { title: string }) => <div>{title}</div>;
"#;
    assert_eq!(
        outline(Language::Tsx, tsx),
        expected(&[("Button", "function", 3), ("Card", "function", 7)])
    );
}

#[test]
fn outline_go() {
    let source = "package main

const MaxSize = 10

type Server struct {
\taddr string
}

type Handler interface {
\tServe() error
}

type ID int

func (s *Server) Start() error {
\treturn nil
}

func NewServer() *Server {
\treturn &Server{}
}
";
    assert_eq!(
        outline(Language::Go, source),
        expected(&[
            ("MaxSize", "const", 3),
            ("Server", "struct", 5),
            ("Handler", "interface", 9),
            ("Handler.Serve", "method", 10),
            ("ID", "type", 13),
            ("Server.Start", "method", 15),
            ("NewServer", "function", 19),
        ])
    );
}

#[test]
fn outline_c() {
    let source = r#"#include <stdio.h>
#define MAX_LEN 64

struct point {
    int x;
};

typedef struct point point_t;

enum color { RED, GREEN };

int add(int a, int b);

static char *name_of(int id) {
    return 0;
}

int add(int a, int b) {
    return a + b;
}
"#;
    assert_eq!(
        outline(Language::C, source),
        expected(&[
            ("MAX_LEN", "macro", 2),
            ("point", "struct", 4),
            ("point_t", "type", 8),
            ("color", "enum", 10),
            ("add", "function", 12),
            ("name_of", "function", 14),
            ("add", "function", 18),
        ])
    );
}

#[test]
fn outline_cpp() {
    let source = r#"#include <string>

namespace geo {

class Widget : public Base {
 public:
  Widget();
  ~Widget() {}
  int size() const { return 0; }
  static Widget* make(int n);
};

struct Point { int x; };

}  // namespace geo

geo::Widget::Widget() {}

geo::Widget* geo::Widget::make(int n) { return nullptr; }

template <typename T>
T max_of(T a, T b) { return a > b ? a : b; }

using Name = std::string;
"#;
    assert_eq!(
        outline(Language::Cpp, source),
        expected(&[
            ("geo", "module", 3),
            ("geo::Widget", "class", 5),
            ("geo::Widget::Widget", "method", 7),
            ("geo::Widget::~Widget", "method", 8),
            ("geo::Widget::size", "method", 9),
            ("geo::Widget::make", "method", 10),
            ("geo::Point", "struct", 13),
            ("geo::Widget::Widget", "method", 17),
            ("geo::Widget::make", "method", 19),
            ("max_of", "function", 22),
            ("Name", "type", 24),
        ])
    );
}

#[test]
fn the_outline_tool_prints_line_ranges() {
    let repo = TestRepo::plain();
    repo.write("src/shapes.rs", RUST);
    let text = repo.text("outline", json!({"path": "src/shapes.rs"}));
    assert!(text.starts_with("3 const MAX_SIZE\n4 const COUNTER\n6-8 struct Point\n10 enum Shape\n12-14 trait Area\n"), "{text}");
    assert!(text.contains("\n17-20 method Point::new\n"), "{text}");
    repo.write("notes.md", "# notes\n");
    let error = repo.error("outline", json!({"path": "notes.md"}));
    assert!(
        matches!(error, ToolError::UnsupportedLanguage { .. }),
        "{error}"
    );
    repo.write("empty.py", "import os\n");
    assert_eq!(
        repo.text("outline", json!({"path": "empty.py"})),
        "(no definitions found in empty.py)\n"
    );
}

fn project() -> TestRepo {
    let repo = TestRepo::plain();
    repo.write("src/config.rs", "pub struct Config;\nimpl Config {\n    pub fn load() -> Self { Config }\n}\npub fn parse_config() -> Config { Config::load() }\n");
    repo.write("tools/config.py", "def parse_config(path):\n    return {}\n\nclass Loader:\n    def load(self):\n        return parse_config('x')\n");
    repo.write(
        "src/main.rs",
        "fn main() {\n    let c = parse_config();\n    let d = parse_config();\n}\n",
    );
    repo.write("web/util.ts", "export function formatDate(d: Date): string { return ''; }\nexport function parse_config() {}\n");
    repo.write(".gitignore", "generated/\n");
    repo.write("generated/config.rs", "pub fn parse_config() {}\n");
    repo
}

#[test]
fn find_symbol_finds_definitions_across_files() {
    let repo = project();
    assert_eq!(
        repo.text("find_symbol", json!({"name": "parse_config"})),
        "src/config.rs:5 function parse_config: pub fn parse_config() -> Config { Config::load() }\n\
         tools/config.py:1 function parse_config: def parse_config(path):\n\
         web/util.ts:2 function parse_config: export function parse_config() {}\n"
    );
    assert_eq!(
        repo.text("find_symbol", json!({"name": "load"})),
        "src/config.rs:3 method Config::load: pub fn load() -> Self { Config }\n\
         tools/config.py:5 method Loader.load: def load(self):\n"
    );
    assert_eq!(
        repo.text("find_symbol", json!({"name": "Config.load"})),
        "src/config.rs:3 method Config::load: pub fn load() -> Self { Config }\n"
    );
    assert_eq!(
        repo.text("find_symbol", json!({"name": "Config", "kind": "struct"})),
        "src/config.rs:1 struct Config: pub struct Config;\n"
    );
    let error = repo.error("find_symbol", json!({"name": "x", "kind": "gadget"}));
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
}

/// A name the model qualified with a path or module that is not there, or a kind it guessed
/// wrong, still leads to the code: the definitions named like it and the lines mentioning it.
#[test]
fn find_symbol_without_a_definition_shows_what_is_there() {
    let repo = project();
    repo.write(
        "stock.py",
        "LOW_STOCK_THRESHOLD = 5\n\ndef is_low(q):\n    return q <= LOW_STOCK_THRESHOLD\n",
    );
    let text = repo.text(
        "find_symbol",
        json!({"name": "stockroom::LOW_STOCK_THRESHOLD", "kind": "const"}),
    );
    assert_eq!(
        text,
        "(no definition of `stockroom::LOW_STOCK_THRESHOLD` as a const found)\n\
         Definitions whose name contains `LOW_STOCK_THRESHOLD`:\n\
         stock.py:1 const LOW_STOCK_THRESHOLD: LOW_STOCK_THRESHOLD = 5\n\
         Lines that mention `LOW_STOCK_THRESHOLD`:\n\
         stock.py:1: LOW_STOCK_THRESHOLD = 5\n\
         stock.py:4: return q <= LOW_STOCK_THRESHOLD\n"
    );
    let lower = repo.text("find_symbol", json!({"name": "low_stock_threshold"}));
    assert!(
        lower.contains("stock.py:1 const LOW_STOCK_THRESHOLD: LOW_STOCK_THRESHOLD = 5\n"),
        "{lower}"
    );
    let text = repo.text(
        "find_symbol",
        json!({"name": "tools/parse", "kind": "function"}),
    );
    assert!(text.starts_with("(no definition of `tools/parse` as a function found)\nDefinitions whose name contains `parse`:\nsrc/config.rs:5 function parse_config"), "{text}");
    let text = repo.text("find_symbol", json!({"name": "Config", "kind": "class"}));
    assert!(
        text.contains("src/config.rs:1 struct Config: pub struct Config;\n"),
        "{text}"
    );
    assert!(
        text.contains("Lines that mention `Config`:\nsrc/config.rs:1: pub struct Config;\n"),
        "{text}"
    );
    assert_eq!(
        repo.text(
            "find_symbol",
            json!({"name": "tools/config.py", "kind": "function"})
        ),
        "(`tools/config.py` is a file; the definitions in it:)\n\
         tools/config.py:1 function parse_config: def parse_config(path):\n\
         tools/config.py:4 class Loader: class Loader:\n\
         tools/config.py:5 method Loader.load: def load(self):\n"
    );
    assert_eq!(
        repo.text("find_symbol", json!({"name": "nowhere_at_all"})),
        "(no definition of `nowhere_at_all` found)\n"
    );
}

#[test]
fn repo_map_ranks_referenced_definitions_first_within_the_budget() {
    let repo = project();
    let full = repo_map(repo.root(), 10_000).unwrap();
    assert_eq!(
        full,
        ".gitignore\n\
         src/config.rs:\n  1 struct Config\n  5 function parse_config\n\
         src/main.rs:\n  1 function main\n\
         tools/config.py:\n  1 function parse_config\n  4 class Loader\n\
         web/util.ts:\n  1 function formatDate\n  2 function parse_config\n"
    );
    // No other file names `Config`, but three other files name `parse_config` (which three
    // files define), so a small budget keeps parse_config definitions and drops the rest.
    let small = repo_map(repo.root(), 200).unwrap();
    assert!(small.len() <= 200, "{} bytes:\n{small}", small.len());
    assert!(
        small.contains("5 function parse_config") && !small.contains("struct Config"),
        "{small}"
    );
    assert!(small.ends_with("more files not shown]\n"), "{small}");
    for budget in [0, 10, 50, 120, 333, 1_000] {
        let map = repo_map(repo.root(), budget).unwrap();
        assert!(map.len() <= budget, "budget {budget}: {} bytes", map.len());
        assert_eq!(
            map,
            repo_map(repo.root(), budget).unwrap(),
            "budget {budget} is not deterministic"
        );
    }
}
