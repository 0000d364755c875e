#!/usr/bin/env bash
# streams.sh - relhost's memory while it holds N concurrent SSE chat streams.
#
# Starts `relhost sim` on 127.0.0.1 (an ephemeral port) pinned to TARGET_CPU,
# answering chat streams of TOKENS events GAP_MS apart (so each stream stays
# open about TOKENS*GAP_MS ms), with its rate limits, bulkheads and admission
# control raised so that nothing is shed. Provisions a POOL-user auth pool
# with `relhost pool`, then runs the m3_20k milestone profile scaled to N
# streams (closed model) pinned to GEN_CPU under `/usr/bin/time -v`.
#
# With -S, the sim serves HTTPS (a private CA and a leaf for 127.0.0.1 made
# for the run) and relhost trusts the CA with --ca-cert: the streams are
# TLS connections, as against the real deployment.
#
# stdout: one line
#     streams=N peak_concurrency=P peak_rss_kb=R kb_per_stream=K requests=Q not_2xx=E
#   kb_per_stream = peak RSS / peak concurrency (the whole process, runtime,
#                   plugins and histograms included)
#
# The per-process file-descriptor limit bounds N: each stream is a socket in
# relhost and another in the sim (`ulimit -n` must exceed N plus a few dozen).
#
# Example:
#   bash bench/streams.sh -n 19000          # m3_20k scaled to 19,000 streams
#   bash bench/streams.sh -n 19000 -S       # the same over TLS

set -euo pipefail

STREAMS=19000       # peak concurrent streams
DURATION_SCALE=0.25 # --chat-duration-scale of the m3_20k profile
POOL=40             # users in the auth pool
TOKENS=30           # SSE events per stream
GAP_MS=1000         # ms between events
GEN_CPU=0
TARGET_CPU=1
RELHOST="${RELHOST:-}"
WORKDIR=""
TLS=0

usage() {
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
    cat <<EOF

Options:
  -n STREAMS     peak concurrent streams (default $STREAMS)
  -s SCALE       duration scale of the m3_20k profile (default $DURATION_SCALE)
  -u USERS       auth pool users (default $POOL)
  -k TOKENS      events per stream (default $TOKENS)
  -G MS          ms between events (default $GAP_MS)
  -g CPU         relhost's core (default $GEN_CPU)
  -t CPU         the sim's core (default $TARGET_CPU)
  -w DIR         keep outputs in DIR (default: a temp dir, deleted)
  -S             over TLS (the sim serves HTTPS)
EOF
}

while getopts "n:s:u:k:G:g:t:w:Sh" opt; do
    case "$opt" in
        n) STREAMS="$OPTARG" ;;
        s) DURATION_SCALE="$OPTARG" ;;
        u) POOL="$OPTARG" ;;
        k) TOKENS="$OPTARG" ;;
        G) GAP_MS="$OPTARG" ;;
        g) GEN_CPU="$OPTARG" ;;
        t) TARGET_CPU="$OPTARG" ;;
        w) WORKDIR="$OPTARG" ;;
        S) TLS=1 ;;
        h) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"
relhost_binary "$ROOT"
[[ -x /usr/bin/time ]] || { echo "streams.sh: needs GNU time (apt-get install time)" >&2; exit 2; }
limit="$(ulimit -n)"
if [[ "$limit" != unlimited ]] && (( STREAMS + 64 > limit )); then
    echo "streams.sh: ulimit -n is $limit; $STREAMS streams need at least $((STREAMS + 64))" >&2
    exit 2
fi

KEEP=1
if [[ -z "$WORKDIR" ]]; then
    WORKDIR="$(mktemp -d)"
    KEEP=0
fi
mkdir -p "$WORKDIR"
SIM_PID=""
cleanup() {
    [[ -n "$SIM_PID" ]] && kill "$SIM_PID" 2>/dev/null && wait "$SIM_PID" 2>/dev/null
    (( KEEP )) || rm -rf "$WORKDIR"
}
trap cleanup EXIT

huge=100000000
tls_sim=() trust=()
if (( TLS )); then
    private_ca "$WORKDIR/tls"
    tls_sim=(--tls-cert "$LEAF_PEM" --tls-key "$LEAF_KEY")
    trust=(--ca-cert "$CA")
fi
start_sim "$WORKDIR" "$TARGET_CPU" "${tls_sim[@]}" \
    --sim-chat-tokens="$TOKENS" --sim-chat-token-gap-ms="$GAP_MS" \
    --rate-limit-chat-stream-max="$huge" \
    --bulkhead-openrouter-max-concurrent="$huge" \
    --bulkhead-or-pri-max-concurrent="$huge" \
    --bulkhead-or-sec-max-concurrent="$huge" \
    --ff-admission-enforce=false

"$RELHOST" pool --count "$POOL" --app-origin "$URL" --prefix streams --seed bench \
    --output-dir "$WORKDIR/pool" --quiet "${trust[@]}"
POOL_FILE="$(ls "$WORKDIR"/pool/chat-auth-pool-*.json)"

scale="$(awk -v n="$STREAMS" 'BEGIN { printf "%.6f", n / 20000 }')"
echo "# relhost drill: m3_20k x $scale ($STREAMS streams), duration x $DURATION_SCALE, $POOL users" >&2
/usr/bin/time -v -o "$WORKDIR/time.txt" taskset -c "$GEN_CPU" "$RELHOST" drill \
    --base-url "$URL" --profile m3_20k \
    --chat-concurrency-scale "$scale" --chat-duration-scale "$DURATION_SCALE" \
    --chat-auth-pool-file "$POOL_FILE" --output-dir "$WORKDIR/out" --quiet "${trust[@]}" \
    >"$WORKDIR/drill.out" 2>"$WORKDIR/drill.err" || true

REPORT="$(ls "$WORKDIR"/out/load-drill-*.json 2>/dev/null | head -1)"
[[ -n "$REPORT" ]] || { echo "streams.sh: no drill report:" >&2; cat "$WORKDIR/drill.err" >&2; exit 1; }
rss="$(awk -F': ' '/Maximum resident set size/ { print $2 }' "$WORKDIR/time.txt")"
python3 - "$REPORT" "$rss" "$STREAMS" <<'EOF'
import json, sys
report, rss, streams = json.load(open(sys.argv[1])), int(sys.argv[2]), int(sys.argv[3])
scenario = report["scenarios"][0]
peak = max(stage["peak_concurrency"] for stage in scenario["stages"])
totals = scenario["totals"]
print(f"streams={streams} peak_concurrency={peak} peak_rss_kb={rss} "
      f"kb_per_stream={rss / max(peak, 1):.1f} requests={totals['requests']} "
      f"not_2xx={round(totals['requests'] * (1 - totals['success_2xx_rate']))}")
EOF
