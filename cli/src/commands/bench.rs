//! `hearth bench`: prefill and decode speed of a model on this machine,
//! beside the memory bandwidth that bounds decode.

use anyhow::anyhow;
use hearth_engine::bench::{self, Bench, BenchTest, Speed};

use crate::args::{BenchArgs, BenchCommand};
use crate::commands::load_model;
use crate::config::Environment;
use crate::error::CliError;

/// The tests run when none are named: llama-bench's pp512 and tg128, and the
/// long-prompt and deep-context pair.
const DEFAULT_TESTS: &str = "pp512,pp2048,tg128,tg128_d2048";

/// Tests of `--quick`: the two that take seconds, once each.
const QUICK_TESTS: &str = "pp512,tg128";

/// Buffer of the bandwidth probe: far beyond any last-level cache.
const PROBE_BYTES: usize = 1 << 30;

/// Runs `hearth bench`.
pub fn run(env: &Environment, a: BenchArgs) -> Result<(), CliError> {
    match a.what {
        Some(BenchCommand::Cache(cache)) => return crate::commands::bench_cache::run(env, cache),
        Some(BenchCommand::Spec(spec)) => return crate::commands::bench_spec::run(env, spec),
        None => {}
    }
    let names = match (&a.tests, a.quick) {
        (Some(t), _) => t.as_str(),
        (None, true) => QUICK_TESTS,
        (None, false) => DEFAULT_TESTS,
    };
    let tests = names
        .split(',')
        .map(|n| {
            BenchTest::parse(n.trim()).ok_or_else(|| {
                CliError::usage(anyhow!(
                    "--tests: unknown test {n:?}; expected names such as pp512, tg128, tg128_d2048"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let runs = if a.quick && a.runs.is_none() {
        1
    } else {
        a.runs.unwrap_or(3).max(1)
    };

    let model = load_model(env, &a.model.model)?;
    let transformer = model.transformer();
    let ctx = model.config().context_length;
    if let Some(t) = tests.iter().find(|t| t.context_needed() > ctx) {
        return Err(CliError::usage(anyhow!(
            "test {} needs {} positions; the model's context window holds {ctx}",
            t.name(),
            t.context_needed()
        )));
    }
    let threads = bench::threads();
    eprintln!(
        "bench: {threads} threads, kernels {}",
        bench::kernel_family()
    );
    eprintln!("bench: measuring memory bandwidth");
    let bandwidth = bench::measure_bandwidth(PROBE_BYTES, 5);
    // The probe's gigabyte is freed by now; the peak counted from here is the model's and
    // the tests'.
    let peak_counted = reset_peak_resident();
    let bytes_per_token = bench::weight_bytes_per_token(transformer);
    let limit = bench::decode_limit_tps(bandwidth, bytes_per_token);

    let mut b = Bench::new(transformer);
    let mut results: Vec<(BenchTest, Speed)> = Vec::new();
    for &test in &tests {
        let mut speed = Speed { runs: Vec::new() };
        for r in 0..runs {
            eprint!("bench: {} run {}/{runs} ... ", test.name(), r + 1);
            let tps = b.run_once(test).map_err(CliError::failure)?;
            eprintln!("{tps:.2} tok/s");
            speed.runs.push(tps);
        }
        results.push((test, speed));
    }

    // In the same run as the tests, so a prefill's share of the ceiling is measured on
    // the machine as it was (its clock and neighbours drift from minute to minute).
    eprintln!("bench: measuring the int8 multiply-add ceiling");
    let peak = bench::int8_peak();
    let macs_per_token = bench::matrix_macs_per_token(transformer);
    // A prefill test's matrix-product rate in GMAC/s, and its share of the ceiling.
    let prefill_rate = |test: &BenchTest, speed: &Speed| match (test, peak) {
        (BenchTest::Prefill { .. }, Some(p)) => {
            let gmacs = speed.median() * macs_per_token as f64 / 1e9;
            Some((gmacs, gmacs / p.vpdpbusd))
        }
        _ => None,
    };

    // After the tests: the model, the last test's KV cache and the engine's buffers.
    let resident = status_bytes("VmRSS:");
    let peak_resident = if peak_counted {
        status_bytes("VmHWM:")
    } else {
        None
    };
    let file_bytes = std::fs::metadata(model.file().path()).map(|m| m.len()).ok();
    if a.json {
        let mut obj = serde_json::Map::new();
        obj.insert("resident_bytes".into(), resident.into());
        obj.insert("peak_resident_bytes".into(), peak_resident.into());
        obj.insert("model_file_bytes".into(), file_bytes.into());
        for (test, speed) in &results {
            obj.insert(test.name(), serde_json::json!(speed.median()));
        }
        let detail: serde_json::Map<String, serde_json::Value> = results
            .iter()
            .map(|(t, s)| {
                (
                    t.name(),
                    serde_json::json!({"median": s.median(), "min": s.min(), "max": s.max(), "runs": s.runs}),
                )
            })
            .collect();
        obj.insert("runs".into(), detail.into());
        obj.insert("matrix_macs_per_token".into(), macs_per_token.into());
        if let Some(p) = peak {
            obj.insert(
                "int8_peak_gmacs".into(),
                serde_json::json!({"vpdpbusd": p.vpdpbusd, "q4_k_kernel": p.q4_k_kernel,
                                   "q6_k_kernel": p.q6_k_kernel}),
            );
        }
        for (test, speed) in &results {
            if let Some((gmacs, share)) = prefill_rate(test, speed) {
                obj.insert(
                    format!("{}_matrix_gmacs", test.name()),
                    serde_json::json!({"gmacs": gmacs, "share_of_peak": share}),
                );
            }
        }
        obj.insert("threads".into(), threads.into());
        obj.insert("bandwidth_gbs".into(), bandwidth.into());
        obj.insert("decode_limit_tps".into(), limit.into());
        obj.insert("weight_bytes_per_token".into(), bytes_per_token.into());
        obj.insert("cpu_features".into(), bench::cpu_features().into());
        obj.insert("kernels".into(), bench::kernel_family().into());
        obj.insert(
            "model".into(),
            model.file().path().display().to_string().into(),
        );
        println!("{}", serde_json::Value::Object(obj));
        return Ok(());
    }
    println!("model: {}", model.file().path().display());
    println!(
        "threads: {threads}; cpu features: {}; kernels: {}",
        bench::cpu_features().join(" "),
        bench::kernel_family()
    );
    println!(
        "memory bandwidth: {bandwidth:.1} GB/s; weights read per token: {:.0} MB; decode limit: {limit:.1} tok/s",
        bytes_per_token as f64 / 1e6
    );
    if let (Some(resident), Some(file)) = (resident, file_bytes) {
        let peak = peak_resident
            .map(|p| format!("peak {:.0} MiB during the tests, ", p as f64 / MIB))
            .unwrap_or_default();
        println!(
            "resident memory: {peak}{:.0} MiB after them (model file: {:.0} MiB)",
            resident as f64 / MIB,
            file as f64 / MIB
        );
    }
    if let Some(p) = peak {
        println!(
            "int8 ceiling ({threads} threads, vpdpbusd on registers): {:.0} GMAC/s; packed kernels \
             with data in L1: Q4_K {:.0} ({:.0}%), Q6_K {:.0} ({:.0}%)",
            p.vpdpbusd,
            p.q4_k_kernel,
            100.0 * p.q4_k_kernel / p.vpdpbusd,
            p.q6_k_kernel,
            100.0 * p.q6_k_kernel / p.vpdpbusd
        );
    }
    println!(
        "{:<14} {:>10} {:>10} {:>10}  matrix products (median)",
        "test", "median", "min", "max"
    );
    for (test, s) in &results {
        let rate = prefill_rate(test, s)
            .map(|(gmacs, share)| {
                format!("{gmacs:.0} GMAC/s, {:.0}% of the ceiling", 100.0 * share)
            })
            .unwrap_or_default();
        println!(
            "{:<14} {:>10.2} {:>10.2} {:>10.2}  {rate}",
            test.name(),
            s.median(),
            s.min(),
            s.max()
        );
    }
    Ok(())
}

const MIB: f64 = 1024.0 * 1024.0;

/// A size field of `/proc/self/status` (`VmRSS:` resident, `VmHWM:` peak resident) in
/// bytes; `None` where there is no such file (not Linux).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line
        .trim_start_matches(field)
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kib * 1024)
}

/// Starts this process's peak resident size (`VmHWM`) again from its resident size now
/// (Linux: `5` written to `/proc/self/clear_refs`); false where that cannot be done.
fn reset_peak_resident() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}
