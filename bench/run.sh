#!/usr/bin/env bash
# Benchmarks that print figures (never timed tests).
# Usage: bash bench/run.sh [metrics|fuzz|accuracy|timestamps|pairing|spread|controls|endurance|sim_throughput ...]
# (default: metrics fuzz accuracy timestamps)
# Outputs go to bench/out/ (ignored by git). Figures are copied into docs/BENCHMARKS.md by hand,
# with the date and machine printed here.
set -euo pipefail
cd "$(dirname "$0")/.."
out=bench/out
mkdir -p "$out"
swift build -c release --product metron-bench >/dev/null
swift build -c release --product metron >/dev/null
bin=.build/release
echo "# $(date -u '+%Y-%m-%d %H:%M UTC') on $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"

metrics() {
    echo "## metrics: 500-token requests, every metric of METRICS.md"
    local big=$out/records-100k.jsonl small=$out/records-10k.jsonl
    [ -s "$big" ] || $bin/metron-bench gen "$big" 100000 500
    [ -s "$small" ] || head -n 10000 "$big" > "$small"
    # Same algorithm side by side: numpy/Python on the first 2,000 records, Swift on the same ones.
    python3 bench/metrics_numpy.py "$big" 2000
    $bin/metron-bench compute "$big" 2000
    $bin/metron-bench compute "$big" 20000
    # Streamed from a file (parse + metrics, two passes): peak memory must not grow with the file.
    $bin/metron-bench summary "$small"
    $bin/metron-bench summary "$big"
    # The reader alone: one pass, no metrics.
    $bin/metron-bench summary "$big" --read-only
    ls -l "$big" | awk '{printf "file bytes=%d\n", $5}'
}

fuzz() {
    echo "## fuzz: the test suite's seeded fuzzers at ${METRON_FUZZ_ITERATIONS:=100000} iterations each"
    swift build --build-tests >/dev/null
    METRON_FUZZ_ITERATIONS=$METRON_FUZZ_ITERATIONS swift test --skip-build --filter MetronFuzzTests 2>&1 \
        | grep -E "error|Executed .* tests" | tail -1
}

timestamps() {
    echo "## timestamps: client timestamp error of metron and of an aiohttp client, both at normal priority, 256 and 1,024 streams"
    bash bench/timestamp_error.sh "$bin/metron" 256 1024
}

endurance() {
    echo "## endurance: metron run for ${DURATION:-600} s at about 1,000 concurrent streams against serve-sim"
    bash bench/endurance.sh "$bin/metron"
}

sim_throughput() {
    echo "## sim_throughput: serve-sim on core 0 with --truth-log, metron run on core 1, about 1,000 streams"
    bash bench/sim_throughput.sh "$bin/metron"
}

accuracy() {
    echo "## accuracy: capacity search vs stored ground truths (bench/accuracy/), fitted at budgets 6 and 12 and bisect, ${METRON_ACCURACY_SEEDS:=30} seeds"
    # Truths missing from bench/accuracy/truths.json are measured first (METRON_ACCURACY_RECOMPUTE=1: all of them).
    $bin/metron-bench accuracy --seeds "$METRON_ACCURACY_SEEDS" --budgets 6,12 ${METRON_ACCURACY_RECOMPUTE:+--recompute-truths} \
        | tee "$out/accuracy.txt" | sed -n '/^## configurations/,/^search:/p;/^## summary/,$p'
}

pairing() {
    echo "## pairing: how often the ranking calls identical systems, and systems 10 % apart, different; ${METRON_PAIRING_SEEDS:=30} seeds"
    $bin/metron-bench pairing --seeds "$METRON_PAIRING_SEEDS" --budgets 6,12 | tee "$out/pairing.txt"
}

spread() {
    echo "## spread: how much 60 s probes disagree near capacity, against binomial counts and the episodes of misses"
    for system in h100-vllm h100-sarathi; do
        $bin/metron-bench spread --system "$system" --rates "$([ $system = h100-vllm ] && echo 8,10,10.5,11,12,14 || echo 16,17,18,19,20)" \
            --probes 100 | tee "$out/spread-$system.txt"
    done
}

controls() {
    echo "## controls: whether the plan's realised features explain how probes near capacity scatter (control variates)"
    $bin/metron-bench controls --probes "${METRON_CONTROLS_PROBES:-60}" | tee "$out/controls.txt"
}

sections=("$@")
[ ${#sections[@]} -gt 0 ] || sections=(metrics fuzz accuracy timestamps)
for s in "${sections[@]}"; do "$s"; done
