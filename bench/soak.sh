#!/usr/bin/env bash
# soak.sh - relhost's memory over a long run at a fixed rate.
#
# Starts `relhost sim` on 127.0.0.1 (an ephemeral port) pinned to TARGET_CPU
# and runs `relhost load` against its WhatsApp verification endpoint (a GET
# answered 200) at RATE requests per second for SECONDS, pinned to GEN_CPU,
# sampling relhost's resident set size every INTERVAL seconds.
#
# stdout: one line
#     seconds=S rate=R requests=N achieved_rps=A rss_mb_min=.. rss_mb_max=.. rss_mb_mean=.. spread_pct=P
#   RSS figures cover the samples after WARMUP seconds; spread_pct is the
#   largest deviation from their mean, in percent.
# stderr: the samples, one "# t=.. rss_kb=.." line each.
#
# Example:
#   bash bench/soak.sh                       # 10 minutes at 10,000/s

set -euo pipefail

SECONDS_TOTAL=600
RATE=10000
CONNS=256
INTERVAL=10
WARMUP=60
GEN_CPU=0
TARGET_CPU=1
RELHOST="${RELHOST:-}"

usage() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
    cat <<EOF

Options:
  -z SECONDS     run time (default $SECONDS_TOTAL)
  -q RATE        requests per second (default $RATE)
  -c CONNS       most requests in flight (default $CONNS)
  -i SECONDS     sampling interval (default $INTERVAL)
  -u SECONDS     warm-up left out of the figures (default $WARMUP)
  -g CPU         relhost's core (default $GEN_CPU)
  -t CPU         the sim's core (default $TARGET_CPU)
EOF
}

while getopts "z:q:c:i:u:g:t:h" opt; do
    case "$opt" in
        z) SECONDS_TOTAL="$OPTARG" ;;
        q) RATE="$OPTARG" ;;
        c) CONNS="$OPTARG" ;;
        i) INTERVAL="$OPTARG" ;;
        u) WARMUP="$OPTARG" ;;
        g) GEN_CPU="$OPTARG" ;;
        t) TARGET_CPU="$OPTARG" ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
relhost_binary "$ROOT"

WORKDIR="$(mktemp -d)"
SIM_PID=""
LOAD_PID=""
cleanup() {
    for pid in $LOAD_PID $SIM_PID; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORKDIR"
}
trap cleanup EXIT

start_sim "$WORKDIR" "$TARGET_CPU" --whatsapp-verify-token=soak

TARGET="$URL/api/whatsapp/webhook?hub.mode=subscribe&hub.verify_token=soak&hub.challenge=1"
taskset -c "$GEN_CPU" "$RELHOST" load "$TARGET" -q "$RATE" -c "$CONNS" -z "${SECONDS_TOTAL}s" \
    --quiet --output-dir "$WORKDIR/out" >"$WORKDIR/load.out" 2>"$WORKDIR/load.err" &
LOAD_PID=$!

: >"$WORKDIR/rss"
started=$(date +%s)
while kill -0 "$LOAD_PID" 2>/dev/null; do
    sleep "$INTERVAL"
    rss="$(awk '/^VmRSS:/ { print $2 }' "/proc/$LOAD_PID/status" 2>/dev/null || true)"
    [[ -n "$rss" ]] || break
    t=$(( $(date +%s) - started ))
    echo "# t=$t rss_kb=$rss" >&2
    echo "$t $rss" >>"$WORKDIR/rss"
done
wait "$LOAD_PID" || [[ $? -eq 1 ]] || { cat "$WORKDIR/load.err" >&2; exit 1; }
LOAD_PID=""

REPORT="$(ls "$WORKDIR"/out/load-drill-*.json)"
python3 - "$REPORT" "$WORKDIR/rss" "$WARMUP" "$SECONDS_TOTAL" "$RATE" <<'EOF'
import json, sys
report = json.load(open(sys.argv[1]))
warmup, seconds, rate = int(sys.argv[3]), sys.argv[4], sys.argv[5]
samples = [int(line.split()[1]) / 1024 for line in open(sys.argv[2])
           if int(line.split()[0]) > warmup]
if not samples:
    sys.exit("soak.sh: no RSS sample after the warm-up")
totals = report["scenarios"][0]["totals"]
mean = sum(samples) / len(samples)
spread = max(abs(s - mean) for s in samples) / mean * 100
print(f"seconds={seconds} rate={rate} requests={totals['requests']} "
      f"achieved_rps={totals['requests'] / float(seconds):.2f} "
      f"rss_mb_min={min(samples):.1f} rss_mb_max={max(samples):.1f} "
      f"rss_mb_mean={mean:.1f} spread_pct={spread:.1f}")
EOF
