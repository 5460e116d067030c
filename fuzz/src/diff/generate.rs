//! Generating the module and the arguments of one diff case.

use crate::seed::{self, Salt, SplitMix64};
use arbitrary::Unstructured;

/// Each loop iteration and function entry costs one unit; when the instance's fuel is
/// gone, every function traps with `unreachable`. This bounds the work of a case (and
/// the call depth) in both engines alike.
pub const FUEL: u32 = 10_000;

/// Bytes of randomness behind one module. Modules are kept small on purpose: most bugs
/// show in a few instructions, and small modules compile fast.
const MODULE_BYTES: usize = 16 << 10;

/// What the generator may use. It follows what lucetc compiles
/// (`lucetc::wasm_features()`), minus what engines may legitimately disagree on.
fn smith_config(rng: &mut SplitMix64) -> wasm_smith::Config {
    // The draws keep this order: it is part of what a seed means.
    // One module in four gets 64-bit memories, and then its tables may be 64-bit too
    // (wasm-smith draws that per table), as lucetc and wasmi both compile them.
    let memory64 = rng.below(4) == 0;
    // Multi-memory in one module in four.
    let max_memories = if rng.below(4) == 0 { 3 } else { 1 };
    // One module in three avoids traps (out-of-bounds loads read 0, divisions by zero
    // are guarded, ...), so that its calls compute deep into the function instead of
    // stopping at the first trap.
    let disallow_traps = rng.below(3) == 0;
    wasm_smith::Config {
        // Wasm 2.0.
        saturating_float_to_int_enabled: true,
        sign_extension_ops_enabled: true,
        multi_value_enabled: true,
        bulk_memory_enabled: true,
        reference_types_enabled: true,
        simd_enabled: true,
        // The later proposals lucetc compiles. Relaxed SIMD stays off: its results are
        // implementation-defined, so lucetc and the interpreter may both be right and
        // differ.
        relaxed_simd_enabled: false,
        tail_call_enabled: true,
        extended_const_enabled: true,
        memory64_enabled: memory64,
        max_tables: 2,
        max_memories,
        // Not compiled by lucetc.
        gc_enabled: false,
        exceptions_enabled: false,
        threads_enabled: false,
        shared_everything_threads_enabled: false,
        wide_arithmetic_enabled: false,
        custom_page_sizes_enabled: false,
        custom_descriptors_enabled: false,
        // NaN bit patterns are not specified; make every NaN canonical.
        canonicalize_nans: true,
        // The harness calls every export and compares everything it can see.
        export_everything: true,
        // Function imports only, from the host functions both engines define.
        available_imports: Some(super::host::imports_module()),
        max_imports: 4,
        // The compact import encoding is a later proposal that neither engine reads.
        compact_imports_enabled: false,
        min_funcs: 2,
        max_funcs: 10,
        max_instructions: 250,
        min_types: 1,
        max_types: 20,
        max_globals: 12,
        max_data_segments: 6,
        max_element_segments: 6,
        max_elements: 20,
        max_table_elements: 200,
        table_max_size_required: true,
        // Memories stay small (at most 4 pages, with a maximum), so that comparing them
        // after every call is cheap and `memory.grow` fails the same way in both engines.
        max_memory32_bytes: 4 << 16,
        max_memory64_bytes: 4 << 16,
        memory_max_size_required: true,
        max_nesting_depth: 6,
        allow_start_export: true,
        disallow_traps,
        ..wasm_smith::Config::default()
    }
}

/// The module for `seed` (binary format), and the generator to draw arguments from.
/// `None` when the generator gave up on these bytes (rare).
pub fn module(seed: u64) -> Option<(Vec<u8>, SplitMix64)> {
    let mut rng = seed::rng(Salt::Diff, seed);
    let config = smith_config(&mut rng);
    let mut data = vec![0u8; MODULE_BYTES];
    rng.fill(&mut data);
    let mut u = Unstructured::new(&data);
    let mut m = wasm_smith::Module::new(config, &mut u).ok()?;
    m.ensure_termination(FUEL).ok()?;
    Some((m.to_bytes(), rng))
}

/// An `i32`, biased towards values that reach edge cases (0, ±1, powers of two,
/// the extremes, addresses near a page boundary).
pub fn i32_arg(rng: &mut SplitMix64) -> i32 {
    i64_arg(rng) as i32
}

pub fn i64_arg(rng: &mut SplitMix64) -> i64 {
    match rng.below(8) {
        0 => 0,
        1 => [1, -1, 2, -2, 8, 16, 255, 4096][rng.below(8) as usize],
        2 => 1i64 << rng.below(64),
        3 => [
            i32::MIN as i64,
            i32::MAX as i64,
            u32::MAX as i64,
            i64::MIN,
            i64::MAX,
        ][rng.below(5) as usize],
        4 => (65536 * (1 + rng.below(4)) as i64) - rng.below(17) as i64,
        5 => rng.below(1024) as i64,
        _ => rng.next_u64() as i64,
    }
}

pub fn f32_bits(rng: &mut SplitMix64) -> u32 {
    match rng.below(4) {
        0 => [
            0.0f32,
            -0.0,
            1.0,
            -1.0,
            0.5,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MAX,
        ][rng.below(8) as usize]
            .to_bits(),
        1 => (2_147_483_648.0f32 * [1.0f32, -1.0, 0.5, 2.0][rng.below(4) as usize]).to_bits(),
        _ => {
            let bits = rng.next_u64() as u32;
            if f32::from_bits(bits).is_nan() {
                f32::NAN.to_bits()
            } else {
                bits
            }
        }
    }
}

pub fn f64_bits(rng: &mut SplitMix64) -> u64 {
    match rng.below(4) {
        0 => [
            0.0f64,
            -0.0,
            1.0,
            -1.0,
            0.5,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::MAX,
        ][rng.below(8) as usize]
            .to_bits(),
        1 => (9_223_372_036_854_775_808.0f64 * [1.0f64, -1.0, 0.5, 2.0][rng.below(4) as usize])
            .to_bits(),
        _ => {
            let bits = rng.next_u64();
            if f64::from_bits(bits).is_nan() {
                f64::NAN.to_bits()
            } else {
                bits
            }
        }
    }
}

pub fn v128_arg(rng: &mut SplitMix64) -> u128 {
    match rng.below(3) {
        0 => 0,
        1 => u128::MAX,
        _ => (rng.next_u64() as u128) << 64 | rng.next_u64() as u128,
    }
}
