//! What the hashing and signature host functions cost in time, to price
//! them (docs/BENCHMARKS.md, "Crypto host functions").
//!
//! `cargo bench -p cairn-vm --bench crypto`. It first prints the figures
//! the schedule's costs are set from (per call and per byte, from the
//! fastest 5% of single calls, robust to a loaded machine). Group `crypto`: the work alone
//! (`cairn_vm::host::crypto`, what the host functions run once their
//! arguments are copied), at two message sizes for the per-byte rate, with
//! blake2b-256, the hash the schedule already prices, as the baseline.
//! Group `crypto_host_call`: a contract calling each host function
//! `CALLS` times through the whole VM, against the same loop calling
//! `gas_left`, so the difference is the function's own time.

use std::hint::black_box;
use std::time::{Duration, Instant};

use cairn_vm::host::crypto;
use cairn_vm::testing::MemoryStorage;
use cairn_vm::{Status, Vm, VmConfig, blake2b_256};
use criterion::{Criterion, criterion_group, criterion_main};

mod common;
use common::{CONTRACT, entry_call};
/// Host calls per contract call in `crypto_host_call`.
const CALLS: u32 = 100;
const SMALL: usize = 32;
const LARGE: usize = 16 * 1024;

/// A fixed ed25519 signature of `message`: (signature, key).
fn ed25519_signature(message: &[u8]) -> ([u8; 64], [u8; 32]) {
    let key = ed25519_consensus::SigningKey::from([7; 32]);
    let signature = key.sign(message).to_bytes();
    (signature, key.verification_key().to_bytes())
}

/// A fixed secp256k1 signature of `hash`: (signature, recovery id,
/// compressed key).
fn secp256k1_signature(hash: &[u8; 32]) -> ([u8; 64], u8, Vec<u8>) {
    let key = k256::ecdsa::SigningKey::from_bytes(&[9; 32].into()).expect("a valid scalar");
    let (signature, recovery_id) = key
        .sign_prehash_recoverable(hash)
        .expect("signing a 32-byte hash");
    let public = key
        .verifying_key()
        .to_encoded_point(true)
        .as_bytes()
        .to_vec();
    (signature.to_bytes().into(), recovery_id.to_byte(), public)
}

/// The 5th-percentile time of one call of `operation`, over many single
/// calls: on a shared machine the fastest calls are the ones no other
/// process interrupted, which is the figure gas is priced on.
fn uninterrupted_ns(mut operation: impl FnMut()) -> f64 {
    let mut samples: Vec<u128> = (0..3_001)
        .map(|_| {
            let start = Instant::now();
            operation();
            start.elapsed().as_nanos()
        })
        .collect();
    samples.sort_unstable();
    samples[samples.len() / 20] as f64
}

/// Prints the per-call and per-byte figures the schedule is set from:
/// the time at `SMALL` bytes less `SMALL` times the per-byte rate, and the
/// rate between `SMALL` and `LARGE`.
fn print_pricing_table() {
    let small = vec![0xab; SMALL];
    let large = vec![0xab; LARGE];
    let per_byte = |at_small: f64, at_large: f64| (at_large - at_small) / (LARGE - SMALL) as f64;
    let report = |name: &str, at_small: f64, at_large: f64| {
        let rate = per_byte(at_small, at_large);
        println!(
            "{name}: {:.0} ns per call + {rate:.3} ns per byte",
            at_small - rate * SMALL as f64
        );
    };
    report(
        "blake2b_256",
        uninterrupted_ns(|| _ = black_box(blake2b_256(black_box(&small)))),
        uninterrupted_ns(|| _ = black_box(blake2b_256(black_box(&large)))),
    );
    report(
        "sha256",
        uninterrupted_ns(|| _ = black_box(crypto::sha256(black_box(&small)))),
        uninterrupted_ns(|| _ = black_box(crypto::sha256(black_box(&large)))),
    );
    report(
        "keccak256",
        uninterrupted_ns(|| _ = black_box(crypto::keccak256(black_box(&small)))),
        uninterrupted_ns(|| _ = black_box(crypto::keccak256(black_box(&large)))),
    );
    let (small_signature, small_key) = ed25519_signature(&small);
    let (large_signature, large_key) = ed25519_signature(&large);
    report(
        "ed25519_verify",
        uninterrupted_ns(|| {
            assert!(crypto::ed25519_verify(
                &small_signature,
                black_box(&small),
                &small_key
            ))
        }),
        uninterrupted_ns(|| {
            assert!(crypto::ed25519_verify(
                &large_signature,
                black_box(&large),
                &large_key
            ))
        }),
    );
    let hash = crypto::sha256(b"a message");
    let (signature, recovery_id, key) = secp256k1_signature(&hash);
    let recover = uninterrupted_ns(|| {
        assert!(crypto::secp256k1_recover(black_box(&hash), &signature, recovery_id).is_some())
    });
    println!("secp256k1_recover: {recover:.0} ns per call");
    let verify =
        uninterrupted_ns(|| assert!(crypto::secp256k1_verify(black_box(&hash), &signature, &key)));
    println!("secp256k1_verify: {verify:.0} ns per call");
}

fn work(c: &mut Criterion) {
    print_pricing_table();
    let mut group = c.benchmark_group("crypto");
    group
        .sample_size(30)
        .measurement_time(Duration::from_secs(4));
    for size in [SMALL, LARGE] {
        let data = vec![0xab; size];
        group.bench_function(format!("blake2b_256/{size}"), |b| {
            b.iter(|| blake2b_256(black_box(&data)))
        });
        group.bench_function(format!("sha256/{size}"), |b| {
            b.iter(|| crypto::sha256(black_box(&data)))
        });
        group.bench_function(format!("keccak256/{size}"), |b| {
            b.iter(|| crypto::keccak256(black_box(&data)))
        });
        let (signature, key) = ed25519_signature(&data);
        assert!(crypto::ed25519_verify(&signature, &data, &key));
        group.bench_function(format!("ed25519_verify/{size}"), |b| {
            b.iter(|| crypto::ed25519_verify(black_box(&signature), black_box(&data), &key))
        });
    }
    let hash = crypto::sha256(b"a message");
    let (signature, recovery_id, key) = secp256k1_signature(&hash);
    assert!(crypto::secp256k1_recover(&hash, &signature, recovery_id).is_some());
    assert!(crypto::secp256k1_verify(&hash, &signature, &key));
    group.bench_function("secp256k1_recover", |b| {
        b.iter(|| crypto::secp256k1_recover(black_box(&hash), black_box(&signature), recovery_id))
    });
    group.bench_function("secp256k1_verify", |b| {
        b.iter(|| crypto::secp256k1_verify(black_box(&hash), black_box(&signature), &key))
    });
    group.finish();
}

/// Bytes as a wat string literal.
fn literal(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("\\{byte:02x}")).collect()
}

/// A contract with one entry per host function, each calling it `CALLS`
/// times on valid arguments, and `baseline` calling `gas_left` as often.
fn host_call_contract() -> Vec<u8> {
    let message = [0x5a; SMALL];
    let (ed_signature, ed_key) = ed25519_signature(&message);
    let hash = crypto::sha256(b"a message");
    let (signature, recovery_id, key) = secp256k1_signature(&hash);
    let looped = |name: &str, call: &str| {
        format!(
            r#"(func (export "{name}") (local $i i32)
                 (loop $l
                   {call}
                   (local.set $i (i32.add (local.get $i) (i32.const 1)))
                   (br_if $l (i32.lt_u (local.get $i) (i32.const {CALLS})))))"#
        )
    };
    let entries = [
        looped("baseline", "(drop (call $gas_left))"),
        looped(
            "blake2b_256",
            "(call $blake2b_256 (i32.const 0) (i32.const 1024) (i32.const 4096))",
        ),
        looped(
            "sha256",
            "(call $sha256 (i32.const 0) (i32.const 1024) (i32.const 4096))",
        ),
        looped(
            "keccak256",
            "(call $keccak256 (i32.const 0) (i32.const 1024) (i32.const 4096))",
        ),
        looped(
            "ed25519_verify",
            "(if (i32.eqz (call $ed25519_verify (i32.const 2048) (i32.const 2176) (i32.const 32) (i32.const 2112))) (then unreachable))",
        ),
        looped(
            "secp256k1_recover",
            &format!(
                "(if (i32.eqz (call $secp256k1_recover (i32.const 3072) (i32.const 3104) (i32.const {recovery_id}) (i32.const 3232))) (then unreachable))"
            ),
        ),
        looped(
            "secp256k1_verify",
            "(if (i32.eqz (call $secp256k1_verify (i32.const 3072) (i32.const 3104) (i32.const 3168) (i32.const 33))) (then unreachable))",
        ),
    ]
    .join("\n");
    let text = format!(
        r#"(module
             (import "cairn" "gas_left" (func $gas_left (result i64)))
             (import "cairn" "blake2b_256" (func $blake2b_256 (param i32 i32 i32)))
             (import "cairn" "sha256" (func $sha256 (param i32 i32 i32)))
             (import "cairn" "keccak256" (func $keccak256 (param i32 i32 i32)))
             (import "cairn" "ed25519_verify" (func $ed25519_verify (param i32 i32 i32 i32) (result i32)))
             (import "cairn" "secp256k1_recover" (func $secp256k1_recover (param i32 i32 i32 i32) (result i32)))
             (import "cairn" "secp256k1_verify" (func $secp256k1_verify (param i32 i32 i32 i32) (result i32)))
             (memory (export "memory") 1)
             (data (i32.const 2048) "{ed_signature}")
             (data (i32.const 2112) "{ed_key}")
             (data (i32.const 2176) "{message}")
             (data (i32.const 3072) "{hash}")
             (data (i32.const 3104) "{signature}")
             (data (i32.const 3168) "{key}")
             {entries})"#,
        ed_signature = literal(&ed_signature),
        ed_key = literal(&ed_key),
        message = literal(&message),
        hash = literal(&hash),
        signature = literal(&signature),
        key = literal(&key),
    );
    wat::parse_str(&text).expect("the benchmark contract parses")
}

fn host_calls(c: &mut Criterion) {
    let wasm = host_call_contract();
    let vm = Vm::new(VmConfig::default()).expect("the VM starts");
    vm.prepare(&wasm).expect("prepares");
    let mut state = MemoryStorage::new();
    state.deploy(CONTRACT, &wasm);
    let mut group = c.benchmark_group("crypto_host_call");
    group
        .sample_size(20)
        .measurement_time(Duration::from_secs(6));
    for entry in [
        "baseline",
        "blake2b_256",
        "sha256",
        "keccak256",
        "ed25519_verify",
        "secp256k1_recover",
        "secp256k1_verify",
    ] {
        let call = entry_call(entry, 10_000_000_000);
        let outcome = vm.execute(&call, &state).expect("the VM does not fail");
        assert_eq!(outcome.status, Status::Ok, "{entry}");
        println!("{entry}: {} gas per call of {CALLS}", outcome.gas_used);
        group.bench_function(entry, |b| {
            b.iter(|| vm.execute(&call, &state).expect("the VM does not fail"))
        });
    }
    group.finish();
}

criterion_group!(benches, work, host_calls);
criterion_main!(benches);
