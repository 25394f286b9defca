//! The tools of this crate: each parses its arguments into one struct, and the name, the
//! schema and the parsing of a [`Tool`] are derived from it here, once.

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::args::{parse_args, schema_for};
use crate::{FileChange, Tool, ToolContext, ToolError, ToolOutput};

/// A tool whose arguments are one serde struct, which also describes them to the model.
pub(crate) trait TypedTool: Send + Sync {
    /// The arguments: parsed with serde, described by the schemars schema of the same type.
    type Args: DeserializeOwned + JsonSchema;
    /// [`Tool::name`].
    const NAME: &'static str;
    /// [`Tool::description`].
    const DESCRIPTION: &'static str;
    /// [`Tool::mutates`].
    const MUTATES: bool;

    /// [`Tool::call`] with the arguments parsed.
    fn run(&self, ctx: &ToolContext, args: Self::Args) -> Result<ToolOutput, ToolError>;

    /// [`Tool::dry_run`] with the arguments parsed.
    fn plan(&self, _ctx: &ToolContext, _args: Self::Args) -> Result<Vec<FileChange>, ToolError> {
        Ok(Vec::new())
    }
}

impl<T: TypedTool> Tool for T {
    fn name(&self) -> &'static str {
        T::NAME
    }

    fn description(&self) -> &'static str {
        T::DESCRIPTION
    }

    fn schema(&self) -> Value {
        schema_for::<T::Args>()
    }

    fn mutates(&self) -> bool {
        T::MUTATES
    }

    fn dry_run(&self, ctx: &ToolContext, args: &Value) -> Result<Vec<FileChange>, ToolError> {
        self.plan(ctx, parse_args(T::NAME, args)?)
    }

    fn call(&self, ctx: &ToolContext, args: &Value) -> Result<ToolOutput, ToolError> {
        self.run(ctx, parse_args(T::NAME, args)?)
    }
}
