#!/usr/bin/env python3
"""Reads the criterion results of `make bench` and writes the report's
ratios: a Markdown table on stdout and a chart, docs/benchmarks.svg.

    scripts/bench-report.py [--old OLD_CRITERION_DIR] [CRITERION_DIR] [SVG_PATH]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion (or
~/.cache/cairn/target/criterion). Every figure is a ratio of two
benchmarks measured in the same run, never an absolute time.

With --old, each figure is shown twice, side by side: as an earlier run
measured it and as the latest run does. Keep the earlier run's results
by copying the criterion directory after `make bench` on the old tree:

    make bench                                   # on the old tree
    cp -r "$CARGO_TARGET_DIR/criterion" /tmp/criterion-old
    make bench                                   # on the new tree
    scripts/bench-report.py --old /tmp/criterion-old
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
    ("Cold start", "memory cache: workloads (6 imports, 26 exports) vs 1 export", "instantiate_and_call_noop/memory_cache", "instantiate_and_call_noop/memory_cache_one_export"),
] + [
    ("Metering", f"metered vs unmetered, {kernel}", f"metering/{kernel}_metered", f"metering/{kernel}_unmetered")
    for kernel in ["hasher_hash_chain", "hasher_sort", "recursion", "scattered_bytes", "alu", "loads_stores", "calls", "indirect", "indirect_runs", "dispatch"]
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
    ratios = [r for _, _, new, old in rows for r in (new, old) if r is not None]
    lo = min(0.1, *ratios)
    hi = max(100.0, *ratios)
    span = math.log10(hi) - math.log10(lo)

    def x(ratio):
        return label_w + bar_w * (math.log10(ratio) - math.log10(lo)) / span

    def bar(ratio, y, height, faded):
        start, end = sorted((x(1.0), x(ratio)))
        colour = "#c0504d" if ratio > 1 else "#4f81bd"
        opacity = ' fill-opacity="0.35"' if faded else ""
        return [
            f'<rect x="{start:.1f}" y="{y:.1f}" width="{max(end - start, 1):.1f}" height="{height}" fill="{colour}"{opacity}/>',
            f'<text x="{max(end, x(1.0)) + 4:.1f}" y="{y + height - 1:.1f}" font-size="{10 if faded else 12}">{ratio:.2f}x{" old" if faded else ""}</text>',
        ]

    parts, y, figure = [], 40, None
    for fig, label, ratio, old in rows:
        if fig != figure:
            figure = fig
            y += 6
            parts.append(f'<text x="10" y="{y + 16}" font-weight="bold">{html.escape(fig)}</text>')
            y += head_h
        parts.append(f'<text x="20" y="{y + 14}">{html.escape(label)}</text>')
        if old is None:
            parts += bar(ratio, y + 3, row_h - 6, False)
            y += row_h
        else:
            # The old run's bar, faded, above the new one.
            parts += bar(old, y + 2, 9, True)
            parts += bar(ratio, y + 12, 11, False)
            y += row_h + 6
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
        title = "Cairn benchmarks: each bar is a ratio to a baseline measured in the same run (log scale; 1x = the baseline)"
        if any(old is not None for _, _, _, old in rows):
            title += "; faded: the old run"
        f.write(f'<text x="10" y="16" font-weight="bold">{html.escape(title)}</text>\n')
        f.write("\n".join(axis + parts))
        f.write("\n</svg>\n")


def main():
    args = sys.argv[1:]
    old_root = None
    if args[:1] == ["--old"]:
        if len(args) < 2:
            print("--old needs the criterion directory of an earlier run", file=sys.stderr)
            return 2
        old_root, args = args[1], args[2:]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/cairn/target"))
    root = args[0] if args else os.path.join(target, "criterion")
    chart = args[1] if len(args) > 1 else os.path.join(os.path.dirname(__file__), "..", "docs", "benchmarks.svg")
    rows, missing = [], []
    if old_root:
        print("| figure | ratio of | old | new | new measured | new baseline |")
        print("|---|---|---:|---:|---:|---:|")
    else:
        print("| figure | ratio of | measured / baseline | measured | baseline |")
        print("|---|---|---:|---:|---:|")
    for figure, label, measured, baseline in FIGURES:
        a, b = median_ns(root, measured), median_ns(root, baseline)
        if a is None or b is None:
            missing.append(measured if a is None else baseline)
            continue
        ratio = a / b
        if old_root:
            old_a, old_b = median_ns(old_root, measured), median_ns(old_root, baseline)
            old = old_a / old_b if old_a is not None and old_b is not None else None
            rows.append((figure, label, ratio, old))
            shown = f"{old:.2f}x" if old is not None else "not measured"
            print(f"| {figure} | {label} | {shown} | {ratio:.2f}x | {fmt_time(a)} | {fmt_time(b)} |")
        else:
            rows.append((figure, label, ratio, None))
            print(f"| {figure} | {label} | {ratio:.2f}x | {fmt_time(a)} | {fmt_time(b)} |")
    for figure, label, ratio, value, baseline in summary_rows(root):
        rows.append((figure, label, ratio, None))
        if old_root:
            print(f"| {figure} | {label} | | {ratio:.2f}x | {value} | {baseline} |")
        else:
            print(f"| {figure} | {label} | {ratio:.2f}x | {value} | {baseline} |")
    if missing:
        print(f"\nnot measured (run `make bench`): {', '.join(missing)}", file=sys.stderr)
    if rows:
        svg(rows, chart)
        print(f"\nchart: {os.path.normpath(chart)}", file=sys.stderr)
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
