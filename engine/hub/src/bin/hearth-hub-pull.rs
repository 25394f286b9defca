//! `hearth-hub-pull CACHE_DIR ENDPOINT FILE_NAME SIZE SHA256`: fetches one
//! file from a server with the Hugging Face hub's layout into a hearth model
//! cache, exactly as `hearth` fetches a known model, but described on the
//! command line instead of by the catalog. It exists for the hub's own tests,
//! which need a real process to interrupt with Ctrl-C in the middle of a
//! download; hearth itself does not use it. Prints the file's path.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use hearth_hub::{pull, HubOptions, ModelSource, Phase, Progress};

/// Notes on stderr; byte counts are left out (they come for every chunk).
struct Notes;

impl Progress for Notes {
    fn update(&self, _phase: Phase, _done: u64, _total: u64) {}
    fn finish(&self) {}
    fn note(&self, line: &str) {
        eprintln!("{line}");
    }
}

const USAGE: &str = "usage: hearth-hub-pull CACHE_DIR ENDPOINT FILE_NAME SIZE SHA256";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [cache_dir, endpoint, file_name, size, sha256] = args.as_slice() else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let Ok(size) = size.parse::<u64>() else {
        eprintln!("SIZE must be a byte count, got `{size}`\n{USAGE}");
        return ExitCode::from(2);
    };
    // The process ends right after the pull: leaking the names is free.
    let leak = |s: &str| -> &'static str { Box::leak(s.to_owned().into_boxed_str()) };
    let model = ModelSource {
        name: leak(file_name),
        aliases: &[],
        description: "given on the command line",
        file_name: leak(file_name),
        size,
        sha256: leak(sha256),
        hf_repo: "test/fake",
        hf_file: leak(file_name),
        mirror: None,
    };
    let mut opts = HubOptions::new(PathBuf::from(cache_dir));
    opts.hf_endpoint = endpoint.clone();
    opts.progress = Arc::new(Notes);
    match pull(&model, &opts) {
        Ok(path) => {
            println!("{}", path.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("hearth-hub-pull: {e}");
            ExitCode::FAILURE
        }
    }
}
