//! Tells the engine's tests which SIMD kernels this machine can run.
//!
//! A kernel test on a CPU without the kernel's instructions cannot check
//! anything, and libtest has no way to skip at run time, so the build names
//! the host CPU's features as cfgs and those tests carry
//! `#[cfg_attr(not(hearth_host_…), ignore = "this CPU lacks …")]`: reported as
//! ignored, with the reason, instead of passing without running. The cfgs only
//! steer test attributes; the kernels themselves still choose at run time. A
//! test binary carried to a CPU without the feature fails (its first assert)
//! rather than passing.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rustc-check-cfg=cfg(hearth_host_avx2)");
    println!("cargo::rustc-check-cfg=cfg(hearth_host_avx512vnni)");
    // Tests run where they were built only when the target is the build host.
    if std::env::var_os("TARGET") != std::env::var_os("HOST") {
        return;
    }
    for cfg in host_features() {
        println!("cargo::rustc-cfg={cfg}");
    }
}

/// The same checks as `cpu::quant::has_avx2` and `has_avx512_vnni`, made on the
/// build host (this script is compiled for it).
#[cfg(target_arch = "x86_64")]
fn host_features() -> Vec<&'static str> {
    let mut cfgs = Vec::new();
    let avx2 = is_x86_feature_detected!("avx2")
        && is_x86_feature_detected!("fma")
        && is_x86_feature_detected!("f16c");
    if avx2 {
        cfgs.push("hearth_host_avx2");
    }
    if avx2
        && is_x86_feature_detected!("avx512f")
        && is_x86_feature_detected!("avx512bw")
        && is_x86_feature_detected!("avx512vl")
        && is_x86_feature_detected!("avx512vnni")
    {
        cfgs.push("hearth_host_avx512vnni");
    }
    cfgs
}

#[cfg(not(target_arch = "x86_64"))]
fn host_features() -> Vec<&'static str> {
    Vec::new()
}
