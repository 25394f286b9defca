//! What edits refuse and what their dry runs show: overlapping snippets, files that are not
//! regular files (a FIFO must be refused, never waited on), and a dry run that is the edit;
//! snippets that differ from the file only in whitespace, and what a miss tells the model.

use std::sync::mpsc;
use std::time::Duration;

use hearth_tools::{ToolError, ToolRegistry};
use serde_json::{json, Value};

use crate::common::TestRepo;

/// Long enough for a loaded machine, short enough that a hang fails the test.
const HANG: Duration = Duration::from_secs(20);

/// Runs `tool` on a thread; a call that has not returned after [`HANG`] fails the test
/// instead of blocking it forever.
fn call_or_hang(
    repo: &TestRepo,
    tool: &'static str,
    args: Value,
    dry_run: bool,
) -> Result<(), ToolError> {
    let ctx = repo.ctx.clone();
    let (done, result) = mpsc::channel();
    std::thread::spawn(move || {
        let registry = ToolRegistry::standard();
        let outcome = if dry_run {
            registry.dry_run(tool, &ctx, &args).map(drop)
        } else {
            registry.call(tool, &ctx, &args).map(drop)
        };
        let _ = done.send(outcome);
    });
    result
        .recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{tool} (dry run: {dry_run}) hung"))
}

#[test]
fn overlapping_occurrences_make_a_snippet_ambiguous() {
    let repo = TestRepo::plain();
    repo.write("a.txt", "ab ab ab\n");
    let error = repo.error(
        "edit_file",
        json!({"path": "a.txt", "old": "ab ab", "new": "x"}),
    );
    assert!(
        matches!(error, ToolError::NotUnique { count: 2, .. }),
        "{error}"
    );
    assert_eq!(repo.read("a.txt"), "ab ab ab\n");
}

#[cfg(unix)]
#[test]
fn a_fifo_is_refused_by_every_file_tool_without_waiting() {
    let repo = TestRepo::plain();
    let status = std::process::Command::new("mkfifo")
        .arg(repo.path("pipe"))
        .status()
        .unwrap();
    assert!(status.success());
    let calls = [
        ("read_file", json!({"path": "pipe"})),
        ("edit_file", json!({"path": "pipe", "old": "a", "new": "b"})),
        ("write_file", json!({"path": "pipe", "content": "x"})),
        (
            "write_file",
            json!({"path": "pipe", "content": "x", "overwrite": true}),
        ),
        ("outline", json!({"path": "pipe"})),
    ];
    for (tool, args) in calls {
        // Only the edit tools have a dry run: the others change nothing.
        let dry_runs: &[bool] = if tool.ends_with("_file") && tool != "read_file" {
            &[false, true]
        } else {
            &[false]
        };
        for &dry_run in dry_runs {
            let error = call_or_hang(&repo, tool, args.clone(), dry_run).unwrap_err();
            assert!(
                matches!(error, ToolError::NotARegularFile { .. }) && error.is_model_fixable(),
                "{tool}: {error}"
            );
            assert!(
                error.to_string().contains("`pipe` is a FIFO (named pipe)"),
                "{error}"
            );
        }
    }
    // Tools that read many files skip it.
    repo.write("src.rs", "fn main() {}\n");
    assert_eq!(
        call_or_hang(&repo, "grep", json!({"pattern": "main"}), false).map_err(|e| e.to_string()),
        Ok(())
    );
}

#[test]
fn a_dry_run_shows_the_change_the_call_makes_and_writes_nothing() {
    let repo = TestRepo::plain();
    repo.write("win.txt", "first\r\nsecond\r\nthird\r\n");
    let registry = ToolRegistry::standard();
    let args = json!({"path": "win.txt", "old": "first\nsecond", "new": "1st\n2nd"});
    let [planned] =
        <[_; 1]>::try_from(registry.dry_run("edit_file", &repo.ctx, &args).unwrap()).unwrap();
    assert!(
        planned
            .diff
            .contains("-first\r\n-second\r\n+1st\r\n+2nd\r\n"),
        "{:?}",
        planned.diff
    );
    assert_eq!(repo.read("win.txt"), "first\r\nsecond\r\nthird\r\n");
    let made = repo.call("edit_file", args).unwrap().changes;
    assert_eq!(vec![planned], made);

    let args = json!({"path": "new/file.txt", "content": "hello\n"});
    let planned = registry.dry_run("write_file", &repo.ctx, &args).unwrap();
    assert_eq!(planned.len(), 1);
    assert!(!repo.path("new").exists());
    assert_eq!(planned, repo.call("write_file", args).unwrap().changes);
    let error = registry
        .dry_run(
            "write_file",
            &repo.ctx,
            &json!({"path": "win.txt/child", "content": "x"}),
        )
        .unwrap_err();
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
    assert_eq!(
        registry
            .dry_run("read_file", &repo.ctx, &json!({"path": "win.txt"}))
            .unwrap(),
        Vec::new()
    );
}

#[test]
fn files_over_the_limit_are_refused_by_the_dry_run_too() {
    let mut repo = TestRepo::plain();
    repo.ctx.limits.max_file_bytes = 8;
    repo.write("big.txt", "0123456789\n");
    let error = ToolRegistry::standard()
        .dry_run(
            "edit_file",
            &repo.ctx,
            &json!({"path": "big.txt", "old": "0", "new": "x"}),
        )
        .unwrap_err();
    assert!(matches!(error, ToolError::TooLarge { .. }), "{error}");
}

/// Replaces `old` by `new` in a file that held `before`, checking that the dry run shows
/// the change the call makes; returns the call's text and the file's new content.
fn edited(before: &str, old: &str, new: &str) -> (String, String) {
    let repo = TestRepo::plain();
    repo.write("f", before);
    let args = json!({"path": "f", "old": old, "new": new});
    let planned = ToolRegistry::standard()
        .dry_run("edit_file", &repo.ctx, &args)
        .unwrap();
    assert_eq!(planned.len(), 1);
    let output = repo.call("edit_file", args).unwrap();
    assert_eq!(planned, output.changes);
    (output.text, repo.read("f"))
}

#[test]
fn a_snippet_indented_differently_matches_and_new_is_reindented() {
    // The model copied the method flush left and wrote its fix the same way.
    let (text, after) = edited(
        "class Cart:\n    def total(self):\n        return sum(self.items)\n",
        "def total(self):\n    return sum(self.items)\n",
        "def total(self):\n    if not self.items:\n        return 0\n    return sum(self.items)\n",
    );
    assert!(text.contains("re-indented"), "{text}");
    assert_eq!(
        after,
        "class Cart:\n    def total(self):\n        if not self.items:\n            return 0\n        return sum(self.items)\n"
    );
}

#[test]
fn trailing_whitespace_differences_are_forgiven() {
    let (_, after) = edited(
        "echo one   \necho two\t\necho three\n",
        "echo one\necho two",
        "echo 1\necho 2",
    );
    assert_eq!(after, "echo 1\necho 2\necho three\n");
}

#[test]
fn two_places_that_match_but_for_whitespace_are_ambiguous() {
    let repo = TestRepo::plain();
    let content = "if a:\n    x = 1\nif b:\n        x = 1\n";
    repo.write("a.py", content);
    // A tab, so that it is no substring of either line.
    let error = repo.error(
        "edit_file",
        json!({"path": "a.py", "old": "\tx = 1", "new": "x = 2"}),
    );
    assert!(
        matches!(error, ToolError::NotUnique { count: 2, ref lines, .. } if lines == "2, 4"),
        "{error}"
    );
    assert_eq!(repo.read("a.py"), content);
}

#[test]
fn an_exact_match_wins_over_a_loose_one() {
    let (text, after) = edited(
        "def f():\n    pass\n\nclass A:\n    def f():\n        pass\n",
        "def f():\n    pass",
        "def f():\n    return 1",
    );
    assert!(!text.contains("re-indented"), "{text}");
    assert_eq!(
        after,
        "def f():\n    return 1\n\nclass A:\n    def f():\n        pass\n"
    );
}

#[test]
fn a_loose_match_in_a_crlf_file_keeps_crlf() {
    let (_, after) = edited(
        "int f() {\r\n    return 1;\r\n}\r\n",
        "int f() {\n  return 1;\n}\n",
        "int f() {\n  int x = 1;\n  return x;\n}\n",
    );
    assert_eq!(
        after,
        "int f() {\r\n    int x = 1;\r\n    return x;\r\n}\r\n"
    );
}

#[test]
fn a_miss_shows_the_closest_lines_to_copy() {
    let repo = TestRepo::plain();
    repo.write(
        "lib.rs",
        "use std::fmt;\n\npub fn area(w: u32, h: u32) -> u32 {\n    w * h\n}\n\npub fn unrelated() {}\n",
    );
    let error = repo.error(
        "edit_file",
        json!({"path": "lib.rs", "old": "pub fn area(width: u32, h: u32) -> u32 {\n    width * h\n}", "new": "x"}),
    );
    assert!(matches!(error, ToolError::NotFoundInFile { .. }), "{error}");
    let message = error.to_string();
    assert!(
        message.contains("closest lines are 3-5")
            && message.ends_with("\n3\tpub fn area(w: u32, h: u32) -> u32 {\n4\t    w * h\n5\t}"),
        "{message}"
    );
}

/// A snippet that is not in the file named but is in another file of the repository (the
/// function edited where it is imported rather than where it is defined): the error names
/// the file and line that hold it, and nothing is written.
#[test]
fn a_miss_names_the_other_file_that_holds_the_snippet() {
    let repo = TestRepo::plain();
    repo.write("inventory/models.py", "class Item:\n    price: float\n");
    repo.write(
        "inventory/pricing.py",
        "TAX = 0.2\n\n\ndef fmt_money(amount):\n    return \"$\" + format(amount, \".2f\")\n",
    );
    let error = repo.error(
        "edit_file",
        json!({"path": "inventory/models.py", "old": "return \"$\" + format(amount", "new": "return \"€\" + format(amount"}),
    );
    let message = error.to_string();
    assert!(
        message.ends_with("; it is in `inventory/pricing.py` (line 5): edit that file instead"),
        "{message}"
    );
    assert_eq!(
        repo.read("inventory/models.py"),
        "class Item:\n    price: float\n"
    );
    // Short snippets point nowhere: the closest lines of the file named are shown instead.
    let error = repo.error(
        "edit_file",
        json!({"path": "inventory/models.py", "old": "TAX", "new": "RATE"}),
    );
    assert!(!error.to_string().contains("pricing.py"), "{error}");
}

/// An edit whose `new` equals its `old` is well formed but would do nothing: the model is
/// told so (a fixable error, not a malformed call) and the file is left as it was.
#[test]
fn an_edit_that_changes_nothing_is_refused_as_a_no_op() {
    let repo = TestRepo::plain();
    repo.write("lib.rs", "pub fn one() -> u32 {\n    1\n}\n");
    let error = repo.error(
        "edit_file",
        json!({"path": "lib.rs", "old": "    1", "new": "    1"}),
    );
    assert!(matches!(error, ToolError::NoChange { .. }), "{error}");
    assert!(error.is_model_fixable());
    assert!(
        error
            .to_string()
            .starts_with("`edit_file` would change nothing:"),
        "{error}"
    );
    assert_eq!(repo.read("lib.rs"), "pub fn one() -> u32 {\n    1\n}\n");
}

/// A rename changes every file that defines, imports or calls the name, in one call whose
/// dry run is exactly what it writes; strings, comments and longer names stay.
#[test]
fn rename_symbol_changes_every_file_that_uses_the_name() {
    let repo = TestRepo::plain();
    repo.write(
        "inventory/pricing.py",
        "def fmt_money(amount):\n    # fmt_money is old\n    return \"$\" + format(amount, \".2f\")\n",
    );
    repo.write(
        "inventory/report.py",
        "from inventory.pricing import fmt_money\n\ndef total(x):\n    return fmt_money(x) + \"fmt_money\"\n",
    );
    repo.write(
        "src/case.js",
        "function fmt_money_js() {}\nmodule.exports = { fmt_money_js };\n",
    );
    repo.write("notes.md", "fmt_money is documented here\n");
    let args = json!({"old": "fmt_money", "new": "format_money"});
    let planned = ToolRegistry::standard()
        .dry_run("rename_symbol", &repo.ctx, &args)
        .unwrap();
    let paths: Vec<&str> = planned.iter().map(|c| c.path.as_str()).collect();
    assert_eq!(paths, ["inventory/pricing.py", "inventory/report.py"]);
    assert!(repo
        .read("inventory/pricing.py")
        .starts_with("def fmt_money("));

    let output = repo.call("rename_symbol", args).unwrap();
    assert_eq!(output.changes, planned);
    // Where each file changed, not its diff (that is the call's preview).
    assert_eq!(
        output.text,
        "Renamed `fmt_money` to `format_money`: 3 occurrence(s) in 2 file(s).\n\
         inventory/pricing.py: line 1\n\
         inventory/report.py: lines 1, 4\n"
    );
    assert_eq!(
        repo.read("inventory/pricing.py"),
        "def format_money(amount):\n    # fmt_money is old\n    return \"$\" + format(amount, \".2f\")\n"
    );
    assert_eq!(
        repo.read("inventory/report.py"),
        "from inventory.pricing import format_money\n\ndef total(x):\n    return format_money(x) + \"fmt_money\"\n"
    );
    assert_eq!(repo.read("notes.md"), "fmt_money is documented here\n");

    // Nothing left to rename: said, and no change.
    let again = repo
        .call(
            "rename_symbol",
            json!({"old": "fmt_money", "new": "format_money"}),
        )
        .unwrap();
    assert!(again.changes.is_empty());
    assert!(
        again
            .text
            .contains("is not an identifier in any source file"),
        "{}",
        again.text
    );
    let error = repo.error("rename_symbol", json!({"old": "inventory.fmt", "new": "x"}));
    assert!(matches!(error, ToolError::BadArguments { .. }), "{error}");
    let error = repo.error("rename_symbol", json!({"old": "a", "new": "a"}));
    assert!(matches!(error, ToolError::NoChange { .. }), "{error}");
}
