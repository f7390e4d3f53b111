#!/usr/bin/env bash
# Installs what Metron needs on Debian 12: C libraries for the build, a headless browser for the
# report's test, Python packages for plots (and, with METRON_BENCH=1, for the benchmarks).
# Safe to run twice: it installs only what is missing.
set -euo pipefail

# chromium: the test that opens report.html in a headless browser; slurm-wlm and munge: the one-node
# Slurm of the sharded-run tests (scripts/slurm-up.sh).
apt_packages=(libcurl4-openssl-dev libgsl-dev pkg-config chromium slurm-wlm munge)
missing=()
for p in "${apt_packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${METRON_SKIP_PYTHON:-0}" != 1 ]; then
    python3 -c 'import matplotlib, numpy' 2>/dev/null || {
        echo "setup: installing matplotlib and numpy"
        python3 -m pip install -q --disable-pip-version-check matplotlib numpy
    }
fi

# METRON_BENCH=1 (make bench): aiohttp for the benchmark's comparison client. Debian 12's own
# Python refuses pip installs (PEP 668), so its package is the fallback.
if [ "${METRON_BENCH:-0}" = 1 ]; then
    python3 -c 'import aiohttp' 2>/dev/null || {
        echo "setup: installing aiohttp"
        python3 -m pip install -q --disable-pip-version-check aiohttp 2>/dev/null || {
            sudo=""
            [ "$(id -u)" -eq 0 ] || sudo="sudo"
            $sudo apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-aiohttp >/dev/null
        }
        python3 -c 'import aiohttp' || { echo "setup: aiohttp could not be installed" >&2; exit 1; }
    }
fi
command -v swift >/dev/null || { echo "setup: swift is not on PATH (Swift 6 toolchain required)" >&2; exit 1; }
