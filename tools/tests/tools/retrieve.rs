//! Retrieval of the code a task is about: identifier parts, ranking, budget, whole repos.

use hearth_tools::{retrieve, split_identifier};

use crate::common::TestRepo;

/// Lines of filler code that mention none of the tasks' words.
fn filler(name: &str, lines: usize) -> String {
    (0..lines)
        .map(|i| format!("def {name}_{i}(value):\n    return value + {i}\n\n"))
        .collect()
}

/// A repository too large to go in whole: the header parser, its caller, and unrelated code.
fn parser_repo() -> TestRepo {
    let repo = TestRepo::plain();
    repo.write(
        "proto/header.py",
        format!(
            "{}def parse_header(line):\n    name, value = line.split(':', 1)\n    return name.strip(), value\n\n{}",
            filler("pad", 20),
            filler("more", 20)
        ),
    );
    repo.write(
        "proto/main.py",
        "from proto.header import parse_header\n\ndef run(lines):\n    return [parse_header(l) for l in lines]\n",
    );
    repo.write("proto/body.py", filler("body", 30));
    repo.write("util/colors.py", filler("color", 30));
    repo
}

#[test]
fn identifiers_split_into_lower_case_parts() {
    assert_eq!(split_identifier("parse_header"), ["parse", "header"]);
    assert_eq!(split_identifier("parseHeader"), ["parse", "header"]);
    assert_eq!(split_identifier("ParseHeader"), ["parse", "header"]);
    assert_eq!(split_identifier("parse-header"), ["parse", "header"]);
    assert_eq!(split_identifier("HTTPServer2"), ["http", "server2"]);
    assert_eq!(
        split_identifier("src/code/repo_map.rs"),
        ["src", "code", "repo", "map", "rs"]
    );
    assert_eq!(split_identifier("MAX_FILE_BYTES"), ["max", "file", "bytes"]);
    assert!(split_identifier("--").is_empty());
}

#[test]
fn the_file_defining_the_function_asked_about_comes_first() {
    let repo = parser_repo();
    let found = retrieve(repo.root(), "which function parses the header?", 300, &[]).unwrap();
    assert!(!found.whole_repository);
    let first = found.text.lines().next().unwrap();
    assert!(
        first.starts_with("<file path=\"proto/header.py\""),
        "{}",
        found.text
    );
    let first_element = found.text.split("</file>").next().unwrap();
    assert!(
        first_element.contains("def parse_header(line):"),
        "{}",
        found.text
    );
    assert!(!found.text.contains("util/colors.py"), "{}", found.text);
    // The same inputs give the same bytes.
    assert_eq!(
        found,
        retrieve(repo.root(), "which function parses the header?", 300, &[]).unwrap()
    );
}

#[test]
fn the_budget_is_respected() {
    let repo = parser_repo();
    for budget in [0, 10, 40, 100, 300, 1_000] {
        let found = retrieve(repo.root(), "parse the header in main", budget, &[]).unwrap();
        assert!(
            found.text.len() <= budget * 4,
            "budget {budget}: {} bytes",
            found.text.len()
        );
        assert!(!found.whole_repository);
    }
    let found = retrieve(repo.root(), "parse the header", 0, &[]).unwrap();
    assert!(found.text.is_empty());
}

#[test]
fn a_small_repository_goes_in_whole_in_path_order() {
    let repo = TestRepo::plain();
    repo.write("b.py", "def beta():\n    return 2\n");
    repo.write("a/a.sh", "echo alpha");
    repo.write("AGENTS.md", "run the tests");
    let found = retrieve(repo.root(), "anything at all", 2_000, &["AGENTS.md"]).unwrap();
    assert!(found.whole_repository);
    assert_eq!(
        found.text,
        "<file path=\"a/a.sh\">\necho alpha\n</file>\n\
         <file path=\"b.py\">\ndef beta():\n    return 2\n</file>\n"
    );
}

#[test]
fn binary_and_huge_files_are_skipped() {
    let repo = TestRepo::plain();
    repo.write("header.bin", b"parse_header\0\x01\x02");
    repo.write(
        "huge_header.py",
        "def parse_header():\n    pass\n".repeat(12_000),
    );
    repo.write("small.py", "def parse_header():\n    return 1\n");
    let found = retrieve(repo.root(), "parse_header", 2_000, &[]).unwrap();
    // The huge file was left out, so the rest is not the whole repository.
    assert!(!found.whole_repository);
    assert!(found.text.contains("small.py"), "{}", found.text);
    assert!(!found.text.contains("header.bin"), "{}", found.text);
    assert!(!found.text.contains("huge_header.py"), "{}", found.text);
}

#[test]
fn ties_are_broken_by_path() {
    let repo = TestRepo::plain();
    let code = format!("def load_config():\n    return 1\n\n{}", filler("x", 10));
    repo.write("b/config.py", &code);
    repo.write("a/config.py", &code);
    let found = retrieve(repo.root(), "load config", 60, &[]).unwrap();
    assert!(
        found.text.starts_with("<file path=\"a/config.py\""),
        "{}",
        found.text
    );
}

#[test]
fn pieces_of_one_file_are_joined_in_line_order_with_their_comments() {
    let repo = TestRepo::plain();
    let code = format!(
        "{}/// Reads the header.\nfn read_header() {{}}\n\n// Writes it.\nfn write_header() {{}}\n{}",
        "fn unrelated() {}\n\n".repeat(40),
        "fn other() {}\n\n".repeat(40)
    );
    repo.write("src/header.rs", &code);
    let found = retrieve(repo.root(), "write and read the header", 100, &[]).unwrap();
    assert_eq!(
        found.text,
        "<file path=\"src/header.rs\" lines=\"81-85\">\n/// Reads the header.\nfn read_header() {}\n\n\
         // Writes it.\nfn write_header() {}\n</file>\n"
    );
}
