//! `hearth keys`: the API keys of `hearth serve --api-keys`.

use crate::args::{KeysAction, KeysArgs};
use crate::error::CliError;

/// Runs `hearth keys`.
pub fn run(a: KeysArgs) -> Result<(), CliError> {
    match a.action {
        KeysAction::Add {
            name,
            file,
            cache_group,
        } => {
            let key = hearth_serve::keys::add_key(&file, &name, cache_group.as_deref())
                .map_err(CliError::usage)?;
            // The key on stdout (for a script to capture), what was done on stderr.
            println!("{key}");
            eprintln!(
                "hearth keys: added {name:?} to {}; the key above is shown only now",
                file.display()
            );
            Ok(())
        }
    }
}
