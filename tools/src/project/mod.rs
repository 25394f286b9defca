//! Facts about the project as a whole, found from its files: how its tests are run.

pub(crate) mod test_command;
