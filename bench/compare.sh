#!/usr/bin/env bash
# compare.sh - relhost side by side with wrk, oha and h2load on the same target.
#
# Starts a private nginx on 127.0.0.1:PORT (1 worker, `return 200 "ok"`,
# access_log off) pinned to TARGET_CPU, then runs each generator pinned to
# GEN_CPU for DURATION seconds, REPS times, alternating tools (A B A B ...).
# Each run is wrapped in `timeout` and `/usr/bin/time -v`.
#
# Modes (-m):
#   http           plain HTTP/1.1 keep-alive (default tools: wrk oha relhost)
#   https          HTTP/1.1 keep-alive over TLS 1.3 (wrk relhost); nginx has an
#                  RSA-2048 leaf signed by a private CA made for the run
#   h2             HTTP/2 over TLS, CONNS connections x STREAMS streams (-M) each
#                  (h2load relhost); relhost runs with --http2 --h2-connections CONNS
#                  -c CONNS*STREAMS (the same connections, the same streams in flight;
#                  -C N gives relhost N connections instead)
#   tls-handshake  a new TLS connection per request (`Connection: close`), as a
#                  first visit or a balancer without keep-alive makes (wrk relhost);
#                  nginx logs $ssl_session_reused, so each run reports the share of
#                  handshakes that resumed a session
# In every mode nginx's own count of requests (stub_status) is reported beside
# the generator's, as target_rps.
#
# stdout: one summary line per tool (medians over the clean runs):
#     tool req_per_s cpu_us_per_req peak_rss_kb
#   req_per_s      = completed responses / measured duration
#   cpu_us_per_req = generator (user+sys) CPU seconds * 1e6 / completed responses
#   peak_rss_kb    = generator "Maximum resident set size" from GNU time
# stderr: progress plus one "# run ..." detail line per run (latency, target CPU,
#         other_cpu_s = CPU time used machine-wide by anything except the generator
#         and the nginx worker during the run, from /proc/stat; includes softirq
#         not charged to either process, and any foreign load).
#
# Noise control: before each run the script waits (up to QUIET_WAIT s) until the
# machine is idle; a run whose other_cpu_s exceeds OTHER_MAX_FRAC of the run's
# wall time is marked CONTENDED and retried (up to MAX_TRIES per slot).  Medians
# use clean runs only (all runs if none was clean, with a warning).
#
# Only processes started by this script are signalled, by PID, and the trap
# stops them on exit.  Traffic goes to 127.0.0.1 only.
#
# Examples:
#   ./compare.sh                                   # c=64, 10 s, 3 reps, wrk+oha+relhost
#   ./compare.sh -c 5000 -r 1                      # memory per connection
#   ./compare.sh -t oha -r 1 -O "-q 20000 --latency-correction"   # open model
#   ./compare.sh -m https                          # TLS keep-alive, wrk vs relhost
#   ./compare.sh -m h2 -c 64 -M 10                 # HTTP/2, h2load vs relhost
#   ./compare.sh -m tls-handshake -c 64            # handshakes per second
#
# Caveats: oha keeps every result in memory, so its RSS grows with the request
# count (~0.25-0.35 GB after 1M requests); to isolate per-connection memory use
# a low fixed rate, e.g. -t oha -O "-q 2000".  other_cpu_s comes from tick-based
# /proc/stat and is only accurate to about +-1 s per run.

set -euo pipefail

# ---------------------------------------------------------------- defaults --
PORT=18080            # nginx listen port on 127.0.0.1
DURATION=10           # seconds per run
CONNS=64              # concurrent connections
REPS=3                # repetitions per tool
MODE=http             # http | https | h2 | tls-handshake
STREAMS=10            # h2: streams per connection (h2load -m)
H2_CONNS=""           # h2: relhost --h2-connections (default: CONNS)
TOOLS=""              # tools, run in this order each rep (default: the mode's)
RELHOST="${RELHOST:-}"   # relhost binary (default: target/release/relhost, built if missing)
RELHOST_ARGS=""       # extra relhost load arguments, e.g. "-q 50000" or "--plugin=whatsapp.wasm"
GEN_CPU=0             # core for the load generator
TARGET_CPU=1          # core for nginx
WORKDIR=""            # scratch dir (default: a fresh mktemp dir, removed on exit)
INSTALL=1             # install missing tools
WRK_THREADS=1         # wrk -t
OHA_ARGS=""           # extra oha arguments, e.g. "-q 20000" or "--worker-threads 1"
WRK_ARGS=""           # extra wrk arguments
QUIET_WAIT=180        # max seconds to wait for an idle machine before a run
QUIET_MAX_PCT=10      # "idle" = machine-wide busy below this % over 1 s
OTHER_MAX_FRAC=0.25   # contended if other_cpu_s > this * wall seconds
MAX_TRIES=3           # attempts per (tool, rep) slot when contended

usage() {
    # print the header comment block (up to the first non-comment line)
    awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "$0"
    cat <<EOF

Options:
  -p PORT        target port (default $PORT)
  -d SECONDS     run duration (default $DURATION)
  -c CONNS       connections (default $CONNS)
  -r REPS        repetitions per tool (default $REPS)
  -m MODE        http, https, h2 or tls-handshake (default $MODE)
  -M STREAMS     h2: streams per connection (default $STREAMS)
  -C N           h2: relhost's HTTP/2 connections (default CONNS, h2load's shape)
  -t "TOOLS"     tools to run, of "wrk oha h2load relhost" (default: the mode's)
  -g CPU         generator core (default $GEN_CPU)
  -s CPU         target (nginx) core (default $TARGET_CPU)
  -w DIR         keep raw outputs in DIR (default: temp dir, deleted)
  -T N           wrk threads (default $WRK_THREADS)
  -O "ARGS"      extra oha args
  -W "ARGS"      extra wrk args
  -R "ARGS"      extra relhost load args (e.g. "-q 50000", "--plugin=whatsapp.wasm")
  -n             do not install missing tools
  -a N           attempts per slot when a run is contended (default $MAX_TRIES)
  -q SECONDS     max wait for an idle machine before each run (default $QUIET_WAIT)
EOF
}

while getopts "p:d:c:r:m:M:C:t:g:s:w:T:O:W:R:a:q:nh" opt; do
    case "$opt" in
        m) MODE=$OPTARG ;;      M) STREAMS=$OPTARG ;;   C) H2_CONNS=$OPTARG ;;
        p) PORT=$OPTARG ;;      d) DURATION=$OPTARG ;;  c) CONNS=$OPTARG ;;
        r) REPS=$OPTARG ;;      t) TOOLS=$OPTARG ;;     g) GEN_CPU=$OPTARG ;;
        s) TARGET_CPU=$OPTARG ;; w) WORKDIR=$OPTARG ;;  T) WRK_THREADS=$OPTARG ;;
        O) OHA_ARGS=$OPTARG ;;  W) WRK_ARGS=$OPTARG ;;  R) RELHOST_ARGS=$OPTARG ;;  n) INSTALL=0 ;;
        a) MAX_TRIES=$OPTARG ;; q) QUIET_WAIT=$OPTARG ;;
        h) usage; exit 0 ;;     *) usage >&2; exit 2 ;;
    esac
done

log() { printf '%s\n' "$*" >&2; }
die() { log "compare.sh: $*"; exit 1; }

case "$MODE" in
    http)          DEFAULT_TOOLS="wrk oha relhost"; SCHEME=http ;;
    https)         DEFAULT_TOOLS="wrk relhost";     SCHEME=https ;;
    h2)            DEFAULT_TOOLS="h2load relhost";  SCHEME=https ;;
    tls-handshake) DEFAULT_TOOLS="wrk relhost";     SCHEME=https ;;
    *) die "unknown mode $MODE (http, https, h2, tls-handshake)" ;;
esac
TOOLS=${TOOLS:-$DEFAULT_TOOLS}

export PATH="$PATH:${CARGO_HOME:-$HOME/.cargo}/bin"

# ------------------------------------------------------------ cleanup trap --
NGINX_PID=""   # nginx master started by us (taskset execs, so $! is nginx)
GEN_PID=""     # `timeout` wrapper of the generator run in flight
KEEP_WORKDIR=1
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ -n "$GEN_PID" ]] && kill -0 "$GEN_PID" 2>/dev/null; then
        # timeout forwards the signal to its own process group (time + tool).
        kill -TERM "$GEN_PID" 2>/dev/null || true
        wait "$GEN_PID" 2>/dev/null || true
    fi
    if [[ -n "$NGINX_PID" ]] && kill -0 "$NGINX_PID" 2>/dev/null; then
        kill -QUIT "$NGINX_PID" 2>/dev/null || true      # graceful: master stops its worker
        for _ in $(seq 50); do kill -0 "$NGINX_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$NGINX_PID" 2>/dev/null && kill -TERM "$NGINX_PID" 2>/dev/null || true
        wait "$NGINX_PID" 2>/dev/null || true
    fi
    if [[ $KEEP_WORKDIR -eq 0 && -n "$WORKDIR" ]]; then rm -rf -- "$WORKDIR"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ----------------------------------------------------------------- install --
install_missing() {
    local pkgs=()
    command -v wrk      >/dev/null || pkgs+=(wrk)
    command -v nginx    >/dev/null || pkgs+=(nginx)
    command -v python3  >/dev/null || pkgs+=(python3)
    command -v taskset  >/dev/null || pkgs+=(util-linux)
    command -v curl     >/dev/null || pkgs+=(curl)
    [[ $SCHEME == http ]] || command -v openssl >/dev/null || pkgs+=(openssl)
    [[ " $TOOLS " != *" h2load "* ]] || command -v h2load >/dev/null || pkgs+=(nghttp2-client)
    [[ -x /usr/bin/time ]]         || pkgs+=(time)
    if ((${#pkgs[@]})); then
        [[ $INSTALL -eq 1 ]] || die "missing: ${pkgs[*]} (run without -n)"
        [[ $(id -u) -eq 0 ]] || die "need root to apt-get install ${pkgs[*]}"
        log "# installing ${pkgs[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >&2
    fi
    if [[ " $TOOLS " == *" oha "* ]] && ! command -v oha >/dev/null; then
        [[ $INSTALL -eq 1 ]] || die "missing: oha (run without -n)"
        command -v cargo >/dev/null || die "oha missing and no cargo"
        log "# cargo install oha --locked (about 8 min on 2 cores)"
        cargo install oha --locked >&2
    fi
}
install_missing
# shellcheck source=bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ " $TOOLS " == *" relhost "* ]]; then
    relhost_binary "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    [[ -x "$RELHOST" ]] || die "relhost binary not found: $RELHOST"
fi

# ------------------------------------------------------------- preparation --
if [[ -z "$WORKDIR" ]]; then WORKDIR=$(mktemp -d /tmp/compare.XXXXXX); KEEP_WORKDIR=0; fi
mkdir -p "$WORKDIR/nginx/logs" "$WORKDIR/nginx/tmp" "$WORKDIR/runs"
WORKDIR=$(cd "$WORKDIR" && pwd)

# Enough file descriptors for CONNS on both sides (soft limit up to hard).
NOFILE=$(ulimit -Hn)
[[ "$NOFILE" == unlimited ]] && NOFILE=1048576
ulimit -n "$NOFILE"
((CONNS + 100 <= NOFILE)) || die "ulimit -Hn ($NOFILE) too low for -c $CONNS"

# Refuse to start if something already answers on the port.
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    die "127.0.0.1:$PORT already in use; pick another port with -p"
fi

NGX="$WORKDIR/nginx"
# TLS: a private CA and an RSA-2048 leaf for 127.0.0.1, made for this run.
LISTEN="listen 127.0.0.1:$PORT backlog=16384;"
TLS_CONF=""
LOG_CONF="access_log off;"
CA=""
if [[ $SCHEME == https ]]; then
    private_ca "$WORKDIR/tls"
    LISTEN="listen 127.0.0.1:$PORT ssl backlog=16384;"
    [[ $MODE == h2 ]] && LISTEN="listen 127.0.0.1:$PORT ssl http2 backlog=16384;"
    TLS_CONF="ssl_certificate $LEAF_PEM; ssl_certificate_key $LEAF_KEY;
        ssl_protocols TLSv1.3; ssl_session_cache shared:TLS:10m; ssl_session_tickets on;"
    if [[ $MODE == tls-handshake ]]; then
        # One letter per request: r (session resumed) or . (full handshake).
        LOG_CONF="log_format reused '\$ssl_session_reused'; access_log $NGX/logs/reused.log reused;"
    fi
fi
cat >"$NGX/nginx.conf" <<EOF
# generated by compare.sh
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $NGX/nginx.pid;
error_log $NGX/logs/error.log warn;
events {
    worker_connections $((CONNS + 1024));
    use epoll;
    multi_accept on;
}
http {
    $LOG_CONF
    client_body_temp_path $NGX/tmp/body;
    proxy_temp_path       $NGX/tmp/proxy;
    fastcgi_temp_path     $NGX/tmp/fastcgi;
    uwsgi_temp_path       $NGX/tmp/uwsgi;
    scgi_temp_path        $NGX/tmp/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 75s;
    default_type text/plain;
    server {
        $LISTEN
        $TLS_CONF
        location / { return 200 "ok"; }
    }
    server {
        listen 127.0.0.1:$((PORT + 1));
        access_log off;
        location / { stub_status; }
    }
}
EOF

# --------------------------------------------------------------- target up --
taskset -c "$TARGET_CPU" nginx -e "$NGX/logs/error.log" -c "$NGX/nginx.conf" -p "$NGX/" \
    >"$NGX/logs/stdout.log" 2>&1 &
NGINX_PID=$!
ready=0
for _ in $(seq 50); do
    kill -0 "$NGINX_PID" 2>/dev/null || break
    if curl -sf ${CA:+--cacert "$CA"} "$SCHEME://127.0.0.1:$PORT/" >/dev/null 2>&1; then ready=1; break; fi
    sleep 0.1
done
((ready)) || { cat "$NGX/logs/error.log" "$NGX/logs/stdout.log" >&2 || true; die "nginx did not come up"; }
NGINX_WORKER=$(pgrep -P "$NGINX_PID" | head -n1 || true)
URL="$SCHEME://127.0.0.1:$PORT/"
log "# target: nginx $(nginx -v 2>&1 | sed 's/.*\///') pid=$NGINX_PID worker=$NGINX_WORKER cpu=$TARGET_CPU url=$URL"
log "# wrk: $(wrk -v 2>&1 | head -n1 | cut -d' ' -f1-2)  oha: $(command -v oha >/dev/null && oha --version)"
log "# mode=$MODE conns=$CONNS$([[ $MODE == h2 ]] && echo " streams=$STREAMS") duration=${DURATION}s reps=$REPS gen_cpu=$GEN_CPU nofile=$NOFILE"
command -v h2load >/dev/null && log "# h2load: $(h2load --version | head -n1)"

# Requests nginx itself has served so far (stub_status).
served() { curl -sf "http://127.0.0.1:$((PORT + 1))/" | awk 'NR == 3 {print $3}'; }
# Handshakes nginx logged so far: "resumed full".
handshakes() {
    local log="$NGX/logs/reused.log"
    [[ -f $log ]] || { echo "0 0"; return; }
    awk '{ if ($1 == "r") r++; else f++ } END { print r + 0, f + 0 }' "$log"
}

# CPU ticks (utime+stime) used so far by the nginx worker.
worker_ticks() { [[ -n "$NGINX_WORKER" ]] && awk '{print $14+$15}' "/proc/$NGINX_WORKER/stat" 2>/dev/null || echo 0; }
CLK_TCK=$(getconf CLK_TCK)
NCPU=$(getconf _NPROCESSORS_ONLN)

# Machine-wide busy ticks (all CPUs): user+nice+system+irq+softirq+steal.
busy_ticks() { awk '$1=="cpu"{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }

# Wait until the machine is idle (busy < QUIET_MAX_PCT % over 1 s), at most QUIET_WAIT s.
wait_quiet() {
    local waited=0 b0 b1 pct
    while :; do
        b0=$(busy_ticks); sleep 1; b1=$(busy_ticks)
        pct=$(( 100 * (b1 - b0) / (CLK_TCK * NCPU) ))
        ((pct < QUIET_MAX_PCT)) && { ((waited == 0)) || log "# machine idle after ${waited}s"; return 0; }
        ((waited == 0)) && log "# machine busy (${pct}% of ${NCPU} CPUs), waiting up to ${QUIET_WAIT}s"
        waited=$((waited + 1))
        ((waited >= QUIET_WAIT)) && { log "# still busy (${pct}%), running anyway"; return 0; }
    done
}

# GNU time -v field extraction.
tfield() { awk -F': ' -v k="$2" '$1 ~ k {print $2}' "$1" | tail -n1; }

# run_one TOOL REP TRY -> appends "req_per_s cpu_us_per_req peak_rss_kb clean(0|1)"
# to runs/TOOL.results, details to stderr; returns 1 if the run was contended.
# Runs in the main shell so the trap can see GEN_PID.
run_one() {
    local tool=$1 rep=$2 try=$3 out tim cmd t0 t1 b0 b1 w0 w1 s0 s1 h0 h1
    out="$WORKDIR/runs/${tool}_c${CONNS}_r${rep}_t${try}.out"
    tim="$WORKDIR/runs/${tool}_c${CONNS}_r${rep}_t${try}.time"
    # Per mode: a new connection per request, TLS trust, HTTP/2.
    local close=() relhost_mode=()
    [[ $MODE == tls-handshake ]] && close=(-H "Connection: close")
    [[ -n $CA ]] && relhost_mode+=(--ca-cert "$CA")
    local conns=$CONNS
    [[ $MODE == h2 ]] && { relhost_mode+=(--http2 --h2-connections "${H2_CONNS:-$CONNS}"); conns=$((CONNS * STREAMS)); }
    case "$tool" in
        wrk) cmd=(wrk -t"$WRK_THREADS" -c"$CONNS" -d"${DURATION}s" --latency "${close[@]}" $WRK_ARGS "$URL") ;;
        oha) cmd=(oha -z "${DURATION}s" -c "$CONNS" --no-tui --output-format json ${CA:+--cacert "$CA"} $OHA_ARGS "$URL") ;;
        h2load) cmd=(h2load -c "$CONNS" -m "$STREAMS" -D "$DURATION" "$URL") ;;
        relhost) rm -rf "$out.d"
            cmd=("$RELHOST" load "$URL" -z "${DURATION}s" -c "$conns" --quiet --output-dir "$out.d"
                 "${close[@]}" "${relhost_mode[@]}" $RELHOST_ARGS) ;;
        *) die "unknown tool $tool" ;;
    esac
    printf '%s\n' "taskset -c $GEN_CPU ${cmd[*]}" >"$out.cmd"
    s0=$(served); h0=$(handshakes)
    t0=$(worker_ticks); b0=$(busy_ticks); w0=$(date +%s%N)
    timeout -k 5 $((DURATION + 60)) \
        /usr/bin/time -v -o "$tim" taskset -c "$GEN_CPU" "${cmd[@]}" >"$out" 2>"$out.err" &
    GEN_PID=$!
    # relhost exits 1 when a default SLO gate fails; only a crash is a failed run.
    wait "$GEN_PID" || [[ $tool == relhost && $? -eq 1 ]] || { GEN_PID=""; cat "$out.err" >&2; die "$tool run failed (see $out.err)"; }
    if [[ $tool == relhost ]]; then cat "$out.d"/load-drill-*.json >"$out"; fi
    GEN_PID=""
    t1=$(worker_ticks); b1=$(busy_ticks); w1=$(date +%s%N)
    s1=$(served); h1=$(handshakes)

    local user sys rss
    user=$(tfield "$tim" "User time"); sys=$(tfield "$tim" "System time")
    rss=$(tfield "$tim" "Maximum resident set size")
    python3 - "$tool" "$out" "$user" "$sys" "$rss" "$((t1 - t0))" "$CLK_TCK" "$rep" \
        "$((b1 - b0))" "$(( (w1 - w0) / 1000000 ))" "$OTHER_MAX_FRAC" "$try" \
        "$((s1 - s0))" "$h0" "$h1" \
        >>"$WORKDIR/runs/$tool.results" <<'PY'
import json, re, sys
tool, path, user, sys_t, rss, ticks, clk, rep, busy, wall_ms, frac, tr, served, h0, h1 = sys.argv[1:]
cpu = float(user) + float(sys_t)
text = open(path).read()
errs = ""
if tool == "wrk":
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text)
    n = int(m.group(1))
    # wrk computes Requests/sec from its exact runtime; "N requests in X" is rounded.
    secs = n / float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    def pct(p):
        m = re.search(r"^\s+%s%%\s+([\d.]+)(us|ms|s)" % p, text, re.M)
        return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else float("nan")
    p50, p99 = pct(50), pct(99)
    e = re.search(r"Socket errors:.*", text); nx = re.search(r"Non-2xx.*", text)
    errs = ";".join(x.group(0) for x in (e, nx) if x)
elif tool == "h2load":
    # "finished in 10.00s, 137265.30 req/s, ..."; "requests: N total, N started, N done, N succeeded, ..."
    m = re.search(r"finished in ([\d.]+)s, ([\d.]+) req/s", text)
    secs = float(m.group(1))
    n = int(re.search(r"requests: \d+ total, \d+ started, (\d+) done", text).group(1))
    def unit(v, u):
        return float(v) * {"us": 1e-3, "ms": 1, "s": 1e3}[u]
    m = re.search(r"time for request:\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)\s+([\d.]+)(us|ms|s)", text)
    # h2load gives min, max and mean: the mean stands in for p50, the max for p99.
    p50, p99 = (unit(m.group(5), m.group(6)), unit(m.group(3), m.group(4))) if m else (float("nan"),) * 2
    f = re.search(r"(\d+) failed, (\d+) errored, (\d+) timeout", text)
    errs = "failed=%s;errored=%s;timeout=%s" % f.groups() if f else ""
elif tool == "relhost":
    d = json.loads(text)
    t = d["scenarios"][0]["totals"]
    n = t["requests"]
    secs = t["elapsed_s"]
    p50 = t["service_latency_ms"]["p50"]
    p99 = t["service_latency_ms"]["p99"]
    errs = ";".join("%s=%d" % kv for kv in t["network_errors"].items())
else:
    d = json.loads(text)
    n = sum(d["statusCodeDistribution"].values())
    secs = d["summary"]["total"]
    p50 = d["latencyPercentiles"]["p50"] * 1e3
    p99 = d["latencyPercentiles"]["p99"] * 1e3
    errs = ";".join("%s=%d" % kv for kv in d["errorDistribution"].items())
rps = n / secs
target_s = int(ticks) / int(clk)
target_pct = 100.0 * target_s / secs
wall = int(wall_ms) / 1000.0
other = int(busy) / int(clk) - cpu - target_s
clean = other <= float(frac) * wall
# nginx's own count over the run's wall time (the generator's start-up included).
target_rps = int(served) / wall
r0, f0 = map(int, h0.split()); r1, f1 = map(int, h1.split())
shakes = (r1 - r0) + (f1 - f0)
resumed = " resumed=%.1f%%" % (100.0 * (r1 - r0) / shakes) if shakes else ""
print("# run tool=%s rep=%s try=%s reqs=%d secs=%.3f rps=%.0f target_rps=%.0f cpu_s=%.2f us_per_req=%.2f rss_kb=%s "
      "p50_ms=%.3f p99_ms=%.3f target_cpu=%.0f%% other_cpu_s=%.2f %s%s errors=[%s]"
      % (tool, rep, tr, n, secs, rps, target_rps, cpu, cpu * 1e6 / n, rss, p50, p99, target_pct, other,
         "clean" if clean else "CONTENDED", resumed, errs), file=sys.stderr)
print("%.0f %.2f %s %d" % (rps, cpu * 1e6 / n, rss, clean))
sys.exit(0 if clean else 3)
PY
}

# ------------------------------------------------------------------- runs --
for tool in $TOOLS; do : >"$WORKDIR/runs/$tool.results"; done
for rep in $(seq "$REPS"); do
    for tool in $TOOLS; do
        for try in $(seq "$MAX_TRIES"); do
            sleep 1      # let sockets drain between runs
            wait_quiet
            rc=0; run_one "$tool" "$rep" "$try" || rc=$?
            ((rc == 0)) && break
            ((rc == 3)) || exit "$rc"
        done
    done
done

# ---------------------------------------------------------------- summary --
echo "# tool req_per_s cpu_us_per_req peak_rss_kb  (median of clean runs, mode $MODE, $REPS reps, c=$CONNS$([[ $MODE == h2 ]] && echo " x $STREAMS streams"), ${DURATION}s)"
for tool in $TOOLS; do
    python3 -c '
import sys, statistics as st
allrows = [list(map(float, l.split())) for l in sys.stdin if l.strip()]
rows = [r[:3] for r in allrows if r[3] == 1]
if len(rows) < len(allrows):
    print("#   %s: %d of %d runs contended%s" % (sys.argv[1], len(allrows) - len(rows), len(allrows),
          "; excluded" if rows else "; NO clean run, medians use all runs"), file=sys.stderr)
if not rows:
    rows = [r[:3] for r in allrows]
med = [st.median(c) for c in zip(*rows)]
lo = [min(c) for c in zip(*rows)]; hi = [max(c) for c in zip(*rows)]
print("%s %.0f %.2f %.0f" % (sys.argv[1], med[0], med[1], med[2]))
print("#   %s n=%d min-max: rps %.0f-%.0f  us/req %.2f-%.2f  rss %.0f-%.0f" % (sys.argv[1], len(rows), lo[0], hi[0], lo[1], hi[1], lo[2], hi[2]), file=sys.stderr)
' "$tool" <"$WORKDIR/runs/$tool.results"
done

# ----------------------------------------------------------------- ratios --
# relhost against the mode's peer (wrk, or h2load for HTTP/2): req/s and CPU
# per request (medians of clean runs).
for peer in wrk h2load; do
    if [[ " $TOOLS " == *" relhost "* && " $TOOLS " == *" $peer "* ]]; then
        python3 - "$peer" "$WORKDIR/runs/$peer.results" "$WORKDIR/runs/relhost.results" <<'PY'
import statistics as st, sys
def med(path):
    rows = [list(map(float, l.split())) for l in open(path) if l.strip()]
    clean = [r for r in rows if r[3] == 1] or rows
    return [st.median(c) for c in zip(*clean)]
peer, rel = med(sys.argv[2]), med(sys.argv[3])
print("# relhost/%s: req/s %.2fx, CPU us per request %.2fx, peak RSS %.2fx" % (sys.argv[1], rel[0] / peer[0], rel[1] / peer[1], rel[2] / peer[2]))
PY
    fi
done
