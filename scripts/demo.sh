#!/usr/bin/env bash
# A complete maintenance cycle against the bundled simulator on loopback:
# snapshot -> shutdown -> restore -> verify, then the journal's audit trail and the report.
# Needs only Rust. Leaves its files in a temporary folder it prints.
set -euo pipefail
cd "$(dirname "$0")/.."

# DMM_BIN_DIR: binaries built already (the test of this script sets it).
if [ -n "${DMM_BIN_DIR:-}" ]; then
  bin=$DMM_BIN_DIR
else
  # cargo's own progress shows that it is building: the first build compiles about 300 crates,
  # a few minutes on a laptop; later runs take seconds.
  echo "building dmm and domino-sim (the first build takes a few minutes; later ones seconds)..." >&2
  cargo build --locked --bins
  bin=target/debug
fi
work=$(mktemp -d)
key="demo-$(date +%s)-$RANDOM"

# A small deployment whose executions take about a second to stop or start.
"$bin/domino-sim" --listen 127.0.0.1:0 --api-key "$key" --seed 7 \
  --projects 6 --apps 5 --models 3 --versions-per-model 2 --workspaces 6 --scheduled-jobs 4 --jobs 4 \
  --transition-ms 800 --transition-jitter-ms 400 >"$work/sim.out" 2>"$work/sim.log" &
sim=$!
# On the way out the simulator lists, in sim.log, any request dmm should never have sent.
trap 'kill $sim 2>/dev/null && wait $sim 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '^listening on ' "$work/sim.out" && break; sleep 0.1; done
url=$(sed -n 's/^listening on //p' "$work/sim.out")
[ -n "$url" ] || { echo "the simulator did not start; see $work/sim.log" >&2; exit 1; }

export DOMINO_HOSTNAME="$url" DOMINO_API_KEY="$key"
snap="$work/before-upgrade.json"
run() { echo; echo "\$ $*"; "$@"; }

run "$bin/dmm" snapshot "$snap"
run "$bin/dmm" shutdown "$snap" --yes
run "$bin/dmm" status "$snap"
run "$bin/dmm" restore "$snap" --yes
run "$bin/dmm" verify "$snap" --expect running
run "$bin/dmm" journal "$snap" --kind App
# One page for the change ticket: the runs, a timeline, failures, Jobs, verification, the chain.
run "$bin/dmm" report "$snap"
echo
echo "snapshot and journal are in $work"
echo "report: $snap.report.html"
