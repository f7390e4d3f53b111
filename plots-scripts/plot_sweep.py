#!/usr/bin/env python3
"""Plots of a sweep's results, read from results/<sweep>/ only.

Usage: python3 plots-scripts/plot_sweep.py results/<sweep> [--out DIR]

Reads capacity.csv, each system's capacity.json (probes and the fitted attainment curve) and
plots.json (distributions Metron derived from the raw records: per-request fluidity at the highest
passing probe, token-level TBT quantiles, fluidity vs target TBT, prefill samples and fit). Writes
PNG files into DIR (default: results/<sweep>/plots).
"""
import argparse
import csv
import json
import math
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402


def load_json(path):
    with open(path) as f:
        return json.load(f)


def read_sweep(root):
    """The rows of capacity.csv, each with its search directory's capacity.json and plots.json."""
    csv_path = os.path.join(root, "capacity.csv")
    if not os.path.exists(csv_path):
        sys.exit(f"plot_sweep: {csv_path} not found: run the sweep first")
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    searches = {}
    for directory, _, files in os.walk(root):
        if "capacity.json" in files:
            searches[os.path.relpath(directory, root)] = directory
    systems = []
    for row in rows:
        name = row["system"]
        # A row names its search as system/workload/slo, or just the system when the sweep has one
        # workload and one SLO.
        matches = [d for rel, d in searches.items() if rel == name or rel.split(os.sep)[0] == name]
        directory = matches[0] if len(matches) == 1 or name in searches else None
        if name in searches:
            directory = searches[name]
        capacity = os.path.join(directory, "capacity.json") if directory else None
        plots = os.path.join(directory, "plots.json") if directory else None
        systems.append({
            "name": name,
            "row": row,
            "capacity": load_json(capacity) if capacity and os.path.exists(capacity) else None,
            "plots": load_json(plots) if plots and os.path.exists(plots) else None,
        })
    return systems


def number(text):
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def simulated_note(systems):
    if any(s["capacity"] and s["capacity"].get("simulated") for s in systems):
        return " (SIMULATED)"
    return ""


def save(fig, out, name):
    fig.tight_layout()
    fig.savefig(os.path.join(out, name), dpi=120)
    plt.close(fig)


def capacity_bars(systems, out):
    names = [s["name"] for s in systems]
    qps = [number(s["row"]["max_qps"]) or 0 for s in systems]
    low = [number(s["row"]["ci_low"]) for s in systems]
    high = [number(s["row"]["ci_high"]) for s in systems]
    err = [[max(0, q - (l if l is not None else q)) for q, l in zip(qps, low)],
           [max(0, (h if h is not None else q) - q) for q, h in zip(qps, high)]]
    fig, ax = plt.subplots(figsize=(max(5, 1.6 * len(names)), 4.2))
    bars = ax.bar(names, qps, yerr=err, capsize=6, color="#4C72B0", ecolor="black")
    for bar, q in zip(bars, qps):
        ax.text(bar.get_x() + bar.get_width() / 2, bar.get_height() / 2, f"{q:.2f}", ha="center", va="center",
                color="white", fontsize=9, fontweight="bold")
    ax.set_ylabel("max sustainable QPS")
    ax.set_title("Capacity under the SLO" + simulated_note(systems) + "\nwhiskers: confidence interval", fontsize=10)
    ax.tick_params(axis="x", rotation=20)
    save(fig, out, "capacity.png")


def attainment(systems, out):
    with_data = [s for s in systems if s["capacity"]]
    if not with_data:
        return
    cols = min(2, len(with_data))
    rows = math.ceil(len(with_data) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(6 * cols, 4 * rows), squeeze=False)
    for ax, s in zip(axes.flat, with_data):
        cap = s["capacity"]
        probes = cap.get("probes", [])
        level = cap.get("slo", {}).get("attainment_level")
        rates = [p["rate"] for p in probes]
        top = max(rates + [cap.get("ci_high") or 0, 1e-9]) * 1.1
        curve = cap.get("curve")
        if curve:
            xs = [top * i / 200 for i in range(201)]
            ys = [1 / (1 + math.exp(min(700, (x - curve["midpoint"]) / curve["scale"]))) for x in xs]
            ax.plot(xs, ys, color="#4C72B0", label="fitted attainment")
        for p in probes:
            marker, color = ("o", "#55A868") if p["passed"] else (("x", "#C44E52") if not p["valid"] else ("o", "#C44E52"))
            ax.scatter([p["rate"]], [p["attainment"]], marker=marker, color=color, zorder=3)
        ax.scatter([], [], marker="o", color="#55A868", label="probe: passed")
        ax.scatter([], [], marker="o", color="#C44E52", label="probe: failed")
        ax.scatter([], [], marker="x", color="#C44E52", label="probe: invalid")
        if level is not None:
            ax.axhline(level, color="gray", linestyle="--", label=f"SLO attainment {level:g}")
        if cap.get("max_qps") is not None:
            ax.axvline(cap["max_qps"], color="black", linewidth=1, label=f"capacity {cap['max_qps']:.2f} QPS")
            if cap.get("ci_low") is not None and cap.get("ci_high") is not None:
                ax.axvspan(cap["ci_low"], cap["ci_high"], color="gray", alpha=0.2, label="confidence interval")
        ax.set_xlim(0, top)
        ax.set_ylim(-0.03, 1.03)
        ax.set_xlabel("request rate (QPS)")
        ax.set_ylabel("SLO attainment")
        ax.set_title(s["name"] + (" (SIMULATED)" if cap.get("simulated") else ""))
        ax.legend(fontsize=7, loc="lower left")
    for ax in list(axes.flat)[len(with_data):]:
        ax.axis("off")
    save(fig, out, "attainment.png")


def cdf_plot(systems, out, name, key, xlabel, title, logx=False):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    drawn = 0
    for s in systems:
        p = s["plots"]
        if not p or not p.get(key):
            continue
        data = p[key]
        if isinstance(data, dict):
            xs, ys = [v * 1000 for v in data["values_s"]], data["quantiles"]
            if logx:  # zeros (tokens sharing a chunk) cannot sit on a log axis
                xs, ys = [x for x in xs if x > 0], [y for x, y in zip(xs, ys) if x > 0]
        else:
            xs = sorted(data)
            ys = [(i + 1) / len(xs) for i in range(len(xs))]
        if not xs:
            continue
        ax.step(xs, ys, where="post", label=f"{s['name']} @ {p.get('probe_rate', float('nan')):.2f} QPS")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return
    if logx:
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel(xlabel)
    ax.set_ylabel("fraction")
    ax.set_title(title + simulated_note(systems))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, out, name)


def fluidity_vs_tbt(systems, out):
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    drawn = 0
    for s in systems:
        p = s["plots"]
        curve = p and p.get("fluidity_vs_target_tbt")
        if not curve:
            continue
        ax.plot([d * 1000 for d in curve["deadline_s"]], curve["p99_fluidity"],
                label=f"{s['name']} @ {p.get('probe_rate', float('nan')):.2f} QPS")
        drawn += 1
    if not drawn:
        plt.close(fig)
        return
    ax.set_xlabel("target TBT deadline (ms)")
    ax.set_ylabel("P99 fluidity-index")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Fluidity vs target TBT" + simulated_note(systems))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, out, "fluidity_vs_target_tbt.png")


def prefill(systems, out):
    # With a reference system's model, several searches share one model: draw it once.
    models, seen = [], set()
    for s in systems:
        m = s["plots"] and s["plots"].get("prefill")
        if m and (m.get("system") or s["name"]) not in seen:
            seen.add(m.get("system") or s["name"])
            models.append((m.get("system") or s["name"], m))
    if not models:
        return
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for name, m in models:
        samples = m.get("samples", [])
        xs = [x for x, _ in samples]
        line = None
        if samples:
            line = ax.scatter(xs, [y for _, y in samples], s=10, label=f"{name}: measured")
        coefficients = m.get("coefficients", [])
        top = max(xs + [1]) * 1.05
        grid = [top * i / 200 for i in range(201)]
        fit = [sum(c * g ** k for k, c in enumerate(coefficients)) for g in grid]
        ax.plot(grid, fit, color=line.get_facecolor()[0] if line else None, label=f"{name}: degree-2 fit")
    ax.set_xlabel("prompt tokens")
    ax.set_ylabel("TTFT at low load (s)")
    ax.set_title("Prefill time and its fit" + simulated_note(systems))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    save(fig, out, "prefill.png")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", help="a sweep's results directory, e.g. results/quickstart")
    parser.add_argument("--out", help="where to write the PNG files (default: SWEEP/plots)")
    args = parser.parse_args()
    systems = read_sweep(args.sweep)
    out = args.out or os.path.join(args.sweep, "plots")
    os.makedirs(out, exist_ok=True)
    capacity_bars(systems, out)
    attainment(systems, out)
    cdf_plot(systems, out, "fluidity_cdf.png", "fluidity", "per-request fluidity-index", "Fluidity-index per request")
    cdf_plot(systems, out, "tbt_cdf.png", "tbt", "token-level TBT (ms)", "Time between tokens", logx=True)
    fluidity_vs_tbt(systems, out)
    prefill(systems, out)
    written = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    print(f"plots: {len(written)} files in {out}: {', '.join(written)}")


if __name__ == "__main__":
    main()
