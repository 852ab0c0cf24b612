"""Benchmark the offline core on a big account: an All Orders report of 1,000,000 lines and its
Unshipped report; `incident pull` + `cancel export` for one SKU, against pandas (pyarrow engine)
just reading the same files; peak memory; start-up time of `incident --help` and `status`.

    make bench            (or: .venv/bin/python bench/bench_pull.py [--lines N] [--in-scope SHARE] [--read-paths] [--bomb])

`--in-scope` chooses how much of the report the incident is about: `few` (one SKU among 2,200,
the default), `skus` (every line is the scope's SKU, bought over 31 days: most of it outside the
28-minute window) or `all` (every line is the scope's SKU and inside the window: a million
affected lines). Memory must stay under 1 GB whichever. With `skus` and `all` (or `--read-paths`),
the commands that read every affected line are timed too, with their peak memory: `status`,
`orders` (a table of the first lines, `--csv`, `--json`) and `notify render` (under 500 MB each).

Writes bench/results-pull.json and prints a Markdown table for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
BIN = Path(sys.executable).parent
WINDOW = ("2026-11-20T14:02:00-08:00", "2026-11-20T14:30:00-08:00")


def generate(lines: int) -> tuple[Path, Path]:
    from incident.sandbox.scenario import ALL_ORDERS_COLUMNS, UNSHIPPED_COLUMNS, Scenario, write_report

    all_path, unshipped_path = DATA / f"all-orders-{lines}.txt", DATA / f"unshipped-{lines}.txt"
    if all_path.exists() and unshipped_path.exists():
        return all_path, unshipped_path
    DATA.mkdir(exist_ok=True)
    start, end = (datetime.fromisoformat(t) for t in WINDOW)
    orders_needed = int(lines / 1.12)  # about 12% of orders have a second line
    scenario = Scenario("US", 1, begin=start - timedelta(days=30), finish=end + timedelta(days=1),
                        window_start=start, window_end=end, burst_orders=5000,
                        background_orders=orders_needed - 5000, incident_share=0.002, extra_skus=2000)
    orders = list(scenario.orders())
    write_report(all_path, ALL_ORDERS_COLUMNS, scenario.all_orders_rows(orders))
    write_report(unshipped_path, UNSHIPPED_COLUMNS, scenario.unshipped_rows(orders))
    return all_path, unshipped_path


def in_scope(paths: tuple[Path, Path], share: str) -> tuple[Path, Path]:
    """The same reports with every line the scope's SKU (`skus`), and also bought inside the
    window (`all`): the lines keep their orders, quantities, prices and buyers."""
    if share == "few":
        return paths
    made = []
    for path in paths:
        target = path.with_name(f"{path.stem}-{share}.txt")
        made.append(target)
        if target.exists():
            continue
        with open(path, encoding="utf-8") as source, open(target, "w", encoding="utf-8") as out:
            header = source.readline()
            out.write(header)
            names = header.rstrip("\n").split("\t")
            sku, bought = names.index("sku"), names.index("purchase-date")
            updated = names.index("last-updated-date") if "last-updated-date" in names else None
            for number, line in enumerate(source):
                cells = line.rstrip("\n").split("\t")
                cells[sku] = "SONIC-HP-BLK"
                if share == "all":  # spread over the window's 28 minutes, second by second
                    cells[bought] = f"2026-11-20T14:{2 + number // 60 % 28:02d}:{number % 60:02d}-08:00"
                    if updated is not None:
                        cells[updated] = cells[bought]
                out.write("\t".join(cells) + "\n")
    return made[0], made[1]


def gzip_bomb() -> Path:
    """An All Orders header, then one line of 3 GiB (3 MiB compressed)."""
    import gzip

    path = DATA / "bomb-3gib-line.txt.gz"
    if not path.exists():
        DATA.mkdir(exist_ok=True)
        from incident.sandbox.scenario import ALL_ORDERS_COLUMNS

        with gzip.open(path, "wb", compresslevel=9) as handle:
            handle.write(("\t".join(ALL_ORDERS_COLUMNS) + "\n").encode())
            block = b"x" * (64 << 20)
            for _ in range(48):
                handle.write(block)
            handle.write(b"\n")
    return path


def bomb() -> None:
    """`incident pull` of the gzip bomb: refused at its line, in how much time and memory."""
    path = gzip_bomb()
    home = DATA / "home-bomb"
    subprocess.run(["rm", "-rf", str(home)], check=True)
    env = {**os.environ, "INCIDENT_HOME": str(home)}
    incident = str(BIN / "incident")
    subprocess.run([incident, "open", "--sku", "SONIC-HP-BLK", "--start", WINDOW[0], "--end", WINDOW[1]],
                   env=env, check=True, capture_output=True)
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode); "
             "print(r.stderr.strip())")
    out = subprocess.run([sys.executable, "-c", probe, incident, "pull", "--report", str(path)],
                         capture_output=True, text=True, env=env, check=True).stdout.splitlines()
    seconds, rss_kib, code = out[0].split()
    print(f"gzip bomb ({path.stat().st_size >> 20} MiB, one 3 GiB line): exit {code} in {float(seconds):.2f} s, "
          f"peak {int(rss_kib) >> 10} MiB: {out[1]}")


def timed(args: list[str], env: dict[str, str]) -> tuple[float, int]:
    """Wall time and peak RSS (MiB) of one command, in a fresh process."""
    probe = ("import resource, subprocess, sys, time; t = time.perf_counter(); "
             "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
             "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, r.returncode)")
    out = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True, env=env, check=True)
    seconds, rss_kib, code = out.stdout.split()
    if code != "0":
        raise SystemExit(f"{' '.join(args)} failed with exit {code}")
    return float(seconds), int(rss_kib) // 1024


PANDAS_READ = "import sys, pandas as pd; [pd.read_csv(p, sep='\\t', engine='pyarrow', dtype=str) for p in sys.argv[1:]]"


def pandas_read(paths: list[Path]) -> tuple[float, int]:
    """pandas' read alone, timed inside its process (no start-up, no import)."""
    code = "import time; t = time.perf_counter(); " + PANDAS_READ + "; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, check=True)
    return float(out.stdout), 0


def best(runs: int, fn, *args):
    results = [fn(*args) for _ in range(runs)]
    return min(r[0] for r in results), max(r[1] for r in results)


READ_COMMANDS = {  # what reads every affected line: each must stay flat in memory (issue 19)
    "status": ["status"], "status_json": ["status", "--json"], "orders": ["orders"], "orders_csv": ["orders", "--csv"],
    "orders_json": ["orders", "--json"], "notify_render": ["notify", "render"],
}


def read_paths(incident: str, env: dict[str, str]) -> dict[str, float | int]:
    """Wall time and peak RSS of each command that reads every affected line, once each, on the
    incident of the first run (pulled and exported; `notify render` last: it writes)."""
    results: dict[str, float | int] = {}
    for name, args in READ_COMMANDS.items():
        seconds, peak = timed([incident, *args], env)
        results[f"{name}_s"], results[f"{name}_peak_rss_mib"] = round(seconds, 2), peak
        print(f"{' '.join(args)}: {seconds:.2f} s, peak {peak} MiB", file=sys.stderr, flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--in-scope", choices=["few", "skus", "all"], default="few")
    parser.add_argument("--bomb", action="store_true", help="Only pull a gzip bomb (one 3 GiB line).")
    parser.add_argument("--read-paths", action="store_true",
                        help="Also time status, orders (table, --csv, --json) and notify render (always with skus, all).")
    options = parser.parse_args()
    if options.bomb:
        return bomb()
    t = time.perf_counter()
    all_path, unshipped_path = in_scope(generate(options.lines), options.in_scope)
    print(f"data ready in {time.perf_counter() - t:.1f}s: {all_path.stat().st_size >> 20} MiB + "
          f"{unshipped_path.stat().st_size >> 20} MiB", file=sys.stderr)

    incident = str(BIN / "incident")
    results = {"machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
               "date": datetime.now(UTC).strftime("%Y-%m-%d"), "lines": options.lines, "in_scope": options.in_scope}
    results["pandas_read_s"] = best(options.runs, pandas_read, [all_path, unshipped_path])[0]
    results["pandas_process_s"] = best(options.runs, timed, [sys.executable, "-c", PANDAS_READ, str(all_path),
                                                            str(unshipped_path)], dict(os.environ))[0]
    pulls, exports, peaks = [], [], []
    for run in range(options.runs):
        home = DATA / f"home-{run}"
        subprocess.run(["rm", "-rf", str(home)], check=True)
        env = {**os.environ, "INCIDENT_HOME": str(home)}
        subprocess.run([incident, "open", "--sku", "SONIC-HP-BLK", "--start", WINDOW[0], "--end", WINDOW[1],
                        "--floor", "100"], env=env, check=True, capture_output=True)
        seconds, peak = timed([incident, "pull", "--report", str(all_path), "--report", str(unshipped_path)], env)
        pulls.append(seconds)
        peaks.append(("pull", peak))
        seconds, peak = timed([incident, "cancel", "export"], env)
        exports.append(seconds)
        peaks.append(("export", peak))
    results["pull_s"], results["export_s"] = min(pulls), min(exports)
    results["peak_rss_mib"] = max(peak for _, peak in peaks)
    for command in ("pull", "export"):
        results[f"{command}_peak_rss_mib"] = max(peak for name, peak in peaks if name == command)
    results["ratio_to_pandas"] = round((results["pull_s"] + results["export_s"]) / results["pandas_read_s"], 2)
    results["ratio_to_pandas_process"] = round((results["pull_s"] + results["export_s"]) / results["pandas_process_s"], 2)
    env = {**os.environ, "INCIDENT_HOME": str(DATA / "home-0")}
    results["help_s"] = best(5, timed, [incident, "--help"], env)[0]
    results["status_s"] = best(5 if options.in_scope == "few" else 1, timed, [incident, "status"], env)[0]
    if options.in_scope != "few" or options.read_paths:
        results.update(read_paths(incident, env))
    name = "results-pull.json" if options.in_scope == "few" else f"results-pull-{options.in_scope}.json"
    (HERE / name).write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    print("\n| lines | pandas read in-process | pandas as a process | pull | cancel export | ratio (in-process / process) | peak RSS | --help | status |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {options.lines:,} | {results['pandas_read_s']:.2f} s | {results['pandas_process_s']:.2f} s | "
          f"{results['pull_s']:.2f} s | {results['export_s']:.2f} s | {results['ratio_to_pandas']}x / "
          f"{results['ratio_to_pandas_process']}x | {results['peak_rss_mib']} MiB | "
          f"{results['help_s']:.3f} s | {results.get('status_s', float('nan')):.3f} s |")


if __name__ == "__main__":
    main()
