# lib.sh - what streams.sh and soak.sh share (sourced, not run).

# relhost_binary ROOT: sets RELHOST to the binary to measure: $RELHOST when
# given, else ROOT/target/release/relhost, built when missing.
relhost_binary() {
    if [[ -z "${RELHOST:-}" ]]; then
        RELHOST="$1/target/release/relhost"
        [[ -x "$RELHOST" ]] || (cd "$1" && cargo build --release --locked -p relhost >&2)
    fi
}

# start_sim WORKDIR CPU [SIM FLAGS...]: starts `relhost sim` on 127.0.0.1
# (an ephemeral port) pinned to CPU, its output in WORKDIR/sim.out and
# WORKDIR/sim.err; sets SIM_PID, and URL once it listens. Exits 1 when it
# does not come up within 10 s.
start_sim() {
    local workdir="$1" cpu="$2"
    shift 2
    taskset -c "$cpu" "$RELHOST" sim --listen=127.0.0.1:0 "$@" \
        >"$workdir/sim.out" 2>"$workdir/sim.err" &
    SIM_PID=$!
    URL=""
    for _ in $(seq 100); do
        URL="$(sed -n 's/^relhost-sim listening on \(http:[^ ]*\).*/\1/p' "$workdir/sim.out")"
        [[ -n "$URL" ]] && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): the sim did not start:" >&2
    cat "$workdir/sim.err" >&2
    exit 1
}
