# lib.sh - what the benchmark scripts share (sourced, not run).

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
        URL="$(sed -n 's/^relhost-sim listening on \(https\{0,1\}:[^ ]*\).*/\1/p' "$workdir/sim.out")"
        [[ -n "$URL" ]] && return 0
        sleep 0.1
    done
    echo "$(basename "$0"): the sim did not start:" >&2
    cat "$workdir/sim.err" >&2
    exit 1
}

# private_ca DIR: makes a private CA and an RSA-2048 leaf it signed for
# 127.0.0.1 in DIR; sets CA (its PEM), LEAF_PEM and LEAF_KEY.
private_ca() {
    local dir="$1"
    mkdir -p "$dir"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=relhost bench CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/leaf.key" -out "$dir/leaf.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$dir/leaf.ext"
    openssl x509 -req -in "$dir/leaf.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" \
        -CAcreateserial -days 2 -extfile "$dir/leaf.ext" -out "$dir/leaf.pem" 2>/dev/null
    CA="$dir/ca.pem"
    LEAF_PEM="$dir/leaf.pem"
    LEAF_KEY="$dir/leaf.key"
}
