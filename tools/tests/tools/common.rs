//! Temporary repositories to run the tools on.

use std::path::{Path, PathBuf};

use git2::{IndexAddOption, Oid, Repository, RepositoryInitOptions, Signature, Time};
use hearth_tools::{ShellPolicy, ToolContext, ToolError, ToolOutput, ToolRegistry};
use serde_json::Value;

/// A repository in a temporary directory, with a tool context on it.
pub struct TestRepo {
    _dir: tempfile::TempDir,
    pub ctx: ToolContext,
    registry: ToolRegistry,
    commits: i64,
}

impl TestRepo {
    /// An empty git repository whose branch is `main`.
    pub fn new() -> Self {
        let repo = Self::plain();
        let mut options = RepositoryInitOptions::new();
        options.initial_head("main");
        Repository::init_opts(repo.root(), &options).unwrap();
        repo
    }

    /// A directory that is not a git repository.
    pub fn plain() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::new(dir.path(), ShellPolicy::default()).unwrap();
        TestRepo {
            _dir: dir,
            ctx,
            registry: ToolRegistry::standard(),
            commits: 0,
        }
    }

    pub fn root(&self) -> &Path {
        &self.ctx.root
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.ctx.root.join(relative)
    }

    pub fn write(&self, relative: &str, content: impl AsRef<[u8]>) {
        let path = self.path(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative)).unwrap()
    }

    /// Stages everything and commits it; commits are a minute apart from a fixed instant,
    /// so dates and order are deterministic.
    pub fn commit(&mut self, message: &str) -> Oid {
        let repo = Repository::open(self.root()).unwrap();
        let mut index = repo.index().unwrap();
        index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
        let when = Time::new(1_700_000_000 + 60 * self.commits, 0);
        self.commits += 1;
        let author = Signature::new("Ada Lovelace", "ada@example.com", &when).unwrap();
        let parents: Vec<git2::Commit<'_>> = repo
            .head()
            .ok()
            .map(|h| h.peel_to_commit().unwrap())
            .into_iter()
            .collect();
        let parent_refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        repo.commit(Some("HEAD"), &author, &author, message, &tree, &parent_refs)
            .unwrap()
    }

    /// Stages one path (without committing).
    pub fn stage(&self, relative: &str) {
        let repo = Repository::open(self.root()).unwrap();
        let mut index = repo.index().unwrap();
        index.add_path(Path::new(relative)).unwrap();
        index.write().unwrap();
    }

    pub fn call(&self, tool: &str, args: Value) -> Result<ToolOutput, ToolError> {
        self.registry.call(tool, &self.ctx, &args)
    }

    /// The text of a call that must succeed.
    pub fn text(&self, tool: &str, args: Value) -> String {
        match self.call(tool, args) {
            Ok(output) => output.text,
            Err(e) => panic!("{tool} failed: {e}"),
        }
    }

    /// The error of a call that must fail.
    pub fn error(&self, tool: &str, args: Value) -> ToolError {
        match self.call(tool, args) {
            Ok(output) => panic!("{tool} should have failed but returned:\n{}", output.text),
            Err(e) => e,
        }
    }
}
