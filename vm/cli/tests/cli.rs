//! The `cairn-vm` command line: one JSON line per result, exit code 0
//! whenever the VM reached an outcome.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn testdata(name: &str) -> PathBuf {
    // The VM's own test contracts, one directory up.
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(name)
}

fn cairn_vm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn-vm"))
        .args(args)
        .output()
        .expect("cairn-vm runs")
}

/// Runs and parses every stdout line as JSON; requires exit code 0.
fn json_lines(args: &[&str]) -> Vec<Value> {
    let output = cairn_vm(args);
    assert!(
        output.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|error| panic!("not JSON ({error}): {line}"))
        })
        .collect()
}

fn path(name: &str) -> String {
    testdata(name).to_str().unwrap().to_owned()
}

#[test]
fn check_accepts_and_rejects() {
    let accepted = json_lines(&["check", &path("counter.wat")]);
    assert_eq!(accepted[0]["status"], "accepted");
    assert_eq!(
        accepted[0]["entry_points"],
        serde_json::json!(["increment", "get"])
    );

    let rejected = json_lines(&["check", &path("float.wat")]);
    assert_eq!(rejected[0]["status"], "rejected");
    let error = rejected[0]["error"].as_str().unwrap();
    assert!(
        error.contains("floating point") && error.contains("f64"),
        "{error}"
    );
}

#[test]
fn check_reads_binary_wasm_and_reports_garbage_as_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("counter.wasm");
    std::fs::write(&binary, wat::parse_file(testdata("counter.wat")).unwrap()).unwrap();
    assert_eq!(
        json_lines(&["check", binary.to_str().unwrap()])[0]["status"],
        "accepted"
    );

    let garbage = dir.path().join("garbage.wasm");
    std::fs::write(&garbage, b"not wasm at all").unwrap();
    let line = &json_lines(&["check", garbage.to_str().unwrap()])[0];
    assert_eq!(line["status"], "rejected");
    assert!(
        line["error"].as_str().unwrap().contains("invalid module"),
        "{line}"
    );
}

#[test]
fn run_reports_every_outcome() {
    let calls = json_lines(&[
        "run",
        &path("counter.wat"),
        "--entry",
        "increment",
        "--repeat",
        "2",
    ]);
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0]["status"], "ok");
    assert_eq!(calls[0]["output"], "0100000000000000");
    assert_eq!(
        calls[1]["output"], "0200000000000000",
        "the second call sees the first's write"
    );
    assert!(calls[0]["gas_used"].as_u64().unwrap() > 0);
    assert!(calls[0].get("error").is_none());

    let spin = &json_lines(&[
        "run",
        &path("infinite_loop.wat"),
        "--entry",
        "spin",
        "--gas",
        "1000000",
    ])[0];
    assert_eq!(spin["status"], "out_of_gas");
    assert_eq!(spin["gas_used"], 1_000_000);
    assert_eq!(spin["error"], "out_of_gas");

    let missing = &json_lines(&["run", &path("counter.wat"), "--entry", "nope"])[0];
    assert_eq!(missing["status"], "trap");
    assert_eq!(missing["error"], "no_such_entry");

    let float = &json_lines(&["run", &path("float.wat"), "--entry", "average"])[0];
    assert_eq!(float["status"], "rejected");
    assert_eq!(float["gas_used"], 0);

    let read_only = &json_lines(&[
        "run",
        &path("counter.wat"),
        "--entry",
        "increment",
        "--read-only",
    ])[0];
    assert_eq!(read_only["error"], "read_only");
}

#[test]
fn run_takes_hex_input() {
    let dir = tempfile::tempdir().unwrap();
    let echo = dir.path().join("echo.wat");
    std::fs::write(
        &echo,
        r#"(module
          (import "cairn" "input_len" (func $len (result i32)))
          (import "cairn" "input_read" (func $read (param i32)))
          (import "cairn" "output_write" (func $write (param i32 i32)))
          (memory (export "memory") 1)
          (func (export "echo") (call $read (i32.const 0)) (call $write (i32.const 0) (call $len))))"#,
    )
    .unwrap();
    let line = &json_lines(&[
        "run",
        echo.to_str().unwrap(),
        "--entry",
        "echo",
        "--input",
        "0x68656c6c6f",
    ])[0];
    assert_eq!(line["output"], "68656c6c6f");
}

#[test]
fn usage_and_io_errors_exit_non_zero() {
    for args in [
        vec!["run", "x.wasm"],
        vec!["check"],
        vec!["check", "/nonexistent/contract.wasm"],
        vec!["run", "/nonexistent/contract.wasm", "--entry", "go"],
        vec!["frobnicate"],
    ] {
        let output = cairn_vm(&args);
        assert!(!output.status.success(), "{args:?} succeeded");
        assert!(!output.stderr.is_empty(), "{args:?} said nothing on stderr");
    }
    let bad_hex = cairn_vm(&[
        "run",
        &path("counter.wat"),
        "--entry",
        "get",
        "--input",
        "zz",
    ]);
    assert!(!bad_hex.status.success());
    assert!(String::from_utf8_lossy(&bad_hex.stderr).contains("hex"));
}

#[test]
fn help_explains_the_commands() {
    let help = String::from_utf8(cairn_vm(&["--help"]).stdout).unwrap();
    for needle in ["check", "run", "Examples"] {
        assert!(help.contains(needle), "--help lacks {needle}");
    }
    let run_help = String::from_utf8(cairn_vm(&["run", "--help"]).stdout).unwrap();
    assert!(run_help.contains("--gas") && run_help.contains("10000000000"));
}
