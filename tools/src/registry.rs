//! The set of tools an agent offers the model, in a stable order.

use serde::Serialize;
use serde_json::Value;

use crate::{
    EditFileTool, FileChange, FindSymbolTool, GitBlameTool, GitDiffTool, GitLogTool, GitShowTool,
    GitStatusTool, GrepTool, ListFilesTool, OutlineTool, ReadFileTool, RenameSymbolTool, ShellTool,
    Tool, ToolContext, ToolError, ToolOutput, WriteFileTool,
};

/// A tool as the prompt presents it: the Messages API's tool definition shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ToolSpec {
    /// The tool's name.
    pub name: &'static str,
    /// What it does, for the model.
    pub description: &'static str,
    /// The JSON schema of its arguments.
    pub input_schema: Value,
    /// Whether it mutates the repository (not part of the prompt).
    #[serde(skip)]
    pub mutates: bool,
}

/// Why a registry could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// Two tools share a name, so calls by name would be ambiguous.
    #[error("two tools are named `{0}`; tool names must be unique")]
    DuplicateName(&'static str),
}

/// Tools sorted by name, so the prompt lists them in the same order every time (a stable
/// prefix is what makes prompt caching work).
pub struct ToolRegistry {
    tools: Vec<Box<dyn Tool>>,
}

impl std::fmt::Debug for ToolRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.tools.iter().map(|tool| tool.name()))
            .finish()
    }
}

impl ToolRegistry {
    /// Every tool of this crate.
    pub fn standard() -> Self {
        let tools: Vec<Box<dyn Tool>> = vec![
            Box::new(ReadFileTool),
            Box::new(ListFilesTool),
            Box::new(GrepTool),
            Box::new(EditFileTool),
            Box::new(WriteFileTool),
            Box::new(ShellTool),
            Box::new(GitStatusTool),
            Box::new(GitDiffTool),
            Box::new(GitLogTool),
            Box::new(GitShowTool),
            Box::new(GitBlameTool),
            Box::new(OutlineTool),
            Box::new(FindSymbolTool),
            Box::new(RenameSymbolTool),
        ];
        let mut registry = ToolRegistry { tools };
        registry.tools.sort_by_key(|tool| tool.name());
        registry
    }

    /// A registry of the given tools (sorted here), refusing two tools with one name.
    pub fn from_tools(mut tools: Vec<Box<dyn Tool>>) -> Result<Self, RegistryError> {
        tools.sort_by_key(|tool| tool.name());
        if let Some(pair) = tools
            .windows(2)
            .find(|pair| pair[0].name() == pair[1].name())
        {
            return Err(RegistryError::DuplicateName(pair[0].name()));
        }
        Ok(ToolRegistry { tools })
    }

    /// Keeps only the tools `keep` accepts (a read-only session drops the mutating ones).
    pub fn retain(&mut self, mut keep: impl FnMut(&dyn Tool) -> bool) {
        self.tools.retain(|tool| keep(tool.as_ref()));
    }

    /// The tool of this name.
    pub fn get(&self, name: &str) -> Option<&dyn Tool> {
        self.tools
            .iter()
            .find(|tool| tool.name() == name)
            .map(|tool| tool.as_ref())
    }

    /// The tools, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = &dyn Tool> {
        self.tools.iter().map(|tool| tool.as_ref())
    }

    /// The tool names, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.tools.iter().map(|tool| tool.name()).collect()
    }

    /// The tool definitions for prompt assembly, sorted by name.
    pub fn schemas(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|tool| ToolSpec {
                name: tool.name(),
                description: tool.description(),
                input_schema: tool.schema(),
                mutates: tool.mutates(),
            })
            .collect()
    }

    /// Calls the tool of this name; an unknown name is an error the model can fix.
    pub fn call(
        &self,
        name: &str,
        ctx: &ToolContext,
        args: &Value,
    ) -> Result<ToolOutput, ToolError> {
        self.known(name)?.call(ctx, args)
    }

    /// The file changes a call of the tool of this name would make, without making them
    /// ([`Tool::dry_run`]); an unknown name is an error the model can fix.
    pub fn dry_run(
        &self,
        name: &str,
        ctx: &ToolContext,
        args: &Value,
    ) -> Result<Vec<FileChange>, ToolError> {
        self.known(name)?.dry_run(ctx, args)
    }

    fn known(&self, name: &str) -> Result<&dyn Tool, ToolError> {
        self.get(name).ok_or_else(|| ToolError::UnknownTool {
            name: name.to_string(),
            available: self.names().join(", "),
        })
    }
}

impl Default for ToolRegistry {
    fn default() -> Self {
        ToolRegistry::standard()
    }
}
