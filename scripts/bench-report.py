#!/usr/bin/env python3
"""Reads the criterion results of `make bench` and writes the report's
ratios: a Markdown table on stdout and a chart, docs/benchmarks.svg.

    scripts/bench-report.py [CRITERION_DIR] [SVG_PATH]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or
~/.cache/cairn/target/criterion). Every figure is a ratio of two
benchmarks measured in the same run, never an absolute time.
Standard library only, so it runs wherever `make bench` does.
"""

import html
import json
import math
import os
import sys

# (figure, label, measured, baseline): the ratio is measured / baseline, so
# above 1 the measured side is slower. Paths are criterion's:
# group/function, with "/" in a function name written as "_".
FIGURES = [
    ("Compile", "Cairn pipeline vs single-pass alone, rust_contract", "compile/rust_contract_validate+meter+compile", "compile/rust_contract_singlepass_unmetered"),
    ("Compile", "Cairn pipeline vs single-pass alone, large", "compile/large_validate+meter+compile", "compile/large_singlepass_unmetered"),
    ("Compile", "Cairn pipeline vs Cranelift, rust_contract", "compile_vs_cranelift/rust_contract_cairn", "compile_vs_cranelift/rust_contract_cranelift"),
    ("Compile", "Cairn pipeline vs Cranelift, hasher", "compile_vs_cranelift/hasher_cairn", "compile_vs_cranelift/hasher_cranelift"),
    ("Compile", "Cairn pipeline vs Cranelift, large", "compile_vs_cranelift/large_cairn", "compile_vs_cranelift/large_cranelift"),
    ("Cold start", "from the disk cache vs the memory cache", "instantiate_and_call_noop/disk_cache", "instantiate_and_call_noop/memory_cache"),
    ("Cold start", "from raw bytes vs the memory cache", "instantiate_and_call_noop/raw_bytes", "instantiate_and_call_noop/memory_cache"),
] + [
    ("Metering", f"metered vs unmetered, {kernel}", f"metering/{kernel}_metered", f"metering/{kernel}_unmetered")
    for kernel in ["hasher_hash_chain", "hasher_sort", "recursion", "scattered_bytes", "alu", "loads_stores", "calls", "indirect", "dispatch"]
] + [
    ("Wasm vs native", f"VM call vs native, {call}", f"engines/{call}_vm", f"engines/{call}_native")
    for call in ["hasher_hash_chain", "hasher_sort"]
] + [
    ("Interpreter", f"wasmi vs single-pass, {call}", f"engines/{call}_wasmi", f"engines/{call}_singlepass")
    for call in ["hasher_hash_chain", "hasher_sort"]
] + [
    ("Storage", f"VM call of {n} x (read, write) on RocksDB vs raw RocksDB", f"storage/vm_on_rocksdb/{n}", f"storage/raw_rocksdb/{n}")
    for n in [1, 10, 100]
] + [
    ("Node", "block of 100 token transfers vs the bare VM", "executor/node_block_of_100_transfers", "executor/vm_100_transfers"),
    ("Durability", "a vote signed through the guard vs the bare signature", "durability/vote_guarded", "durability/vote_bare"),
    ("Durability", "a 16 KiB proposal stored (synced) vs signed", "durability/proposal_stored", "durability/proposal_signed"),
]


def median_ns(root, path):
    """Criterion's median estimate of one benchmark, in nanoseconds."""
    file = os.path.join(root, path, "new", "estimates.json")
    try:
        with open(file) as f:
            return json.load(f)["median"]["point_estimate"]
    except (OSError, KeyError, ValueError):
        return None


def summary_rows(root):
    """Ratios the benchmarks computed themselves (node.json and others
    under criterion/cairn-summary/), for figures that are not a plain
    ratio of two criterion medians: (figure, label, ratio, value, baseline)."""
    rows = []
    directory = os.path.join(root, "cairn-summary")
    if not os.path.isdir(directory):
        return rows
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as f:
            for entry in json.load(f):
                rows.append((entry["figure"], entry["name"], entry["ratio"], entry.get("value"), entry.get("baseline")))
    return rows


def fmt_time(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def svg(rows, path):
    """A horizontal bar per ratio on a log scale, 1x marked, grouped by
    figure."""
    width, label_w, bar_w, row_h, head_h = 900, 380, 440, 20, 26
    lo = min(0.1, *(r for _, _, r in rows))
    hi = max(100.0, *(r for _, _, r in rows))
    span = math.log10(hi) - math.log10(lo)

    def x(ratio):
        return label_w + bar_w * (math.log10(ratio) - math.log10(lo)) / span

    parts, y, figure = [], 40, None
    for fig, label, ratio in rows:
        if fig != figure:
            figure = fig
            y += 6
            parts.append(f'<text x="10" y="{y + 16}" font-weight="bold">{html.escape(fig)}</text>')
            y += head_h
        start, end = sorted((x(1.0), x(ratio)))
        colour = "#c0504d" if ratio > 1 else "#4f81bd"
        parts.append(f'<text x="20" y="{y + 14}">{html.escape(label)}</text>')
        parts.append(f'<rect x="{start:.1f}" y="{y + 3}" width="{max(end - start, 1):.1f}" height="{row_h - 6}" fill="{colour}"/>')
        parts.append(f'<text x="{max(end, x(1.0)) + 4:.1f}" y="{y + 14}">{ratio:.2f}x</text>')
        y += row_h
    axis = []
    decade = 10 ** math.floor(math.log10(lo))
    while decade <= hi:
        if decade >= lo:
            axis.append(f'<line x1="{x(decade):.1f}" y1="34" x2="{x(decade):.1f}" y2="{y}" stroke="#ccc"/>')
            axis.append(f'<text x="{x(decade):.1f}" y="28" text-anchor="middle">{decade:g}x</text>')
        decade *= 10
    axis.append(f'<line x1="{x(1.0):.1f}" y1="34" x2="{x(1.0):.1f}" y2="{y}" stroke="#000"/>')
    height = y + 20
    with open(path, "w") as f:
        f.write(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">\n')
        f.write(f'<rect width="{width}" height="{height}" fill="white"/>\n')
        f.write(f'<text x="10" y="16" font-weight="bold">Cairn benchmarks: each bar is a ratio to a baseline measured in the same run (log scale; 1x = the baseline)</text>\n')
        f.write("\n".join(axis + parts))
        f.write("\n</svg>\n")


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/cairn/target"))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(target, "criterion")
    chart = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.svg")
    rows, missing = [], []
    print("| figure | ratio of | measured / baseline | measured | baseline |")
    print("|---|---|---:|---:|---:|")
    for figure, label, measured, baseline in FIGURES:
        a, b = median_ns(root, measured), median_ns(root, baseline)
        if a is None or b is None:
            missing.append(measured if a is None else baseline)
            continue
        ratio = a / b
        rows.append((figure, label, ratio))
        print(f"| {figure} | {label} | {ratio:.2f}x | {fmt_time(a)} | {fmt_time(b)} |")
    for figure, label, ratio, value, baseline in summary_rows(root):
        rows.append((figure, label, ratio))
        print(f"| {figure} | {label} | {ratio:.2f}x | {value} | {baseline} |")
    if missing:
        print(f"\nnot measured (run `make bench`): {', '.join(missing)}", file=sys.stderr)
    if rows:
        svg(rows, chart)
        print(f"\nchart: {os.path.normpath(chart)}", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
