# The two commands of README.md, and the ones developers use.
#
# Builds go to CARGO_TARGET_DIR, outside the clone by default, so a second
# run on the same machine (and CI on the same runner) builds incrementally.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/cairn/target
CARGO := cargo
FIXTURE_DIR := vm/testdata/rust-contract

.PHONY: demo vm-demo test setup build lint fixtures check-fixtures bench fuzz chaos clean help

help:
	@echo "make demo    build everything, start a 4-node local network, deploy and call contracts"
	@echo "make vm-demo the VM alone: deploy, call, gas, rejections, in memory"
	@echo "make test    formatting, lints, every test, and the fixture rebuild check"
	@echo "make lint    formatting and cargo clippy alone"
	@echo "make bench   criterion benchmarks (results: docs/BENCHMARKS.md)"
	@echo "make chaos   every attack of cairn-adversary for CHAOS_SECONDS (60) each, release build"
	@echo "make fixtures  rebuild the compiled contract fixtures in vm/testdata"

setup:
	@scripts/setup.sh

build: setup
	$(CARGO) build --locked --release -p cairn-vm-cli -p cairn-node -p cairn-client -p cairn-testnet -p cargo-cairn

demo: build
	@scripts/demo.sh "$(CARGO_TARGET_DIR)/release"

vm-demo: setup
	$(CARGO) build --locked --release -p cairn-vm-cli
	@scripts/vm-demo.sh "$(CARGO_TARGET_DIR)/release/cairn-vm"

# `make test` lints while it builds: clippy-driver compiles the workspace's
# own crates (what `cargo clippy` does, through the same variables), so the
# dependencies are built once for the tests instead of checked once more for
# clippy, which on a cold cache cost CI a quarter of an hour. `--all-targets`
# covers what `cargo clippy --all-targets` covers (the benches run once, as
# tests); doctests need a second command.
LINTED := RUSTC_WORKSPACE_WRAPPER="$$(rustup which clippy-driver)" \
	CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"

lint: setup
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) clippy --locked -p cairn-vm --features bench-cranelift --benches -- -D warnings

test: setup
	$(CARGO) fmt --all --check
	$(LINTED) $(CARGO) test --locked --workspace --all-targets
	$(LINTED) $(CARGO) test --locked --workspace --doc
	@CARGO_CAIRN="$(CARGO_TARGET_DIR)/debug/cargo-cairn" scripts/fixtures.sh check

# Rebuilds the Rust contract fixture into a scratch copy and requires the
# same bytes as the committed one (reproducible builds).
check-fixtures: setup
	@scripts/fixtures.sh check

fixtures: setup
	@scripts/fixtures.sh update

# Every benchmark of docs/BENCHMARKS.md, then the table of ratios and the
# chart (docs/benchmarks.svg). The VM's benches all build with Cranelift
# (the compile baseline), so switching between them rebuilds nothing.
bench: setup
	$(CARGO) bench --locked -p cairn-vm --features bench-cranelift --bench vm --bench gas_calibration --bench pricing --bench compile_bounds --bench crypto --bench peers
	$(CARGO) bench --locked -p cairn-node --bench storage --bench executor --bench durability
	$(CARGO) build --locked --release -p cairn-node -p cairn-testnet
	@scripts/bench-testnet.sh "$(CARGO_TARGET_DIR)/release"
	@scripts/bench-report.py

# The adversary, long: every attack for CHAOS_SECONDS each against four
# validators on loopback, in a release build, then its table (the one in
# docs/BENCHMARKS.md). Its binary is the only one built with cairn-node's
# fault switches, so it is built alone (DEVELOPERS.md, "Faults and
# attackers for node tests").
CHAOS_SECONDS ?= 60
chaos: setup
	$(CARGO) build --locked --release -p cairn-testnet --features adversary --bin cairn-adversary
	"$(CARGO_TARGET_DIR)/release/cairn-adversary" --seconds $(CHAOS_SECONDS)

# Every cargo-fuzz target for FUZZ_SECONDS (default 60) each, on nightly;
# prints executions, executions per second and crashes (docs/FUZZING.md).
fuzz: setup
	@scripts/fuzz.sh

clean:
	$(CARGO) clean
