#!/usr/bin/env bash
# perf/fastpath-sndbuf.sh — how much of a bulk TCP flow the kernel fast path
# carries, and at what speed and CPU cost, for several forced send-buffer
# sizes. A study behind docs/performance.md ("Kernel fast path"), not part
# of `make bench`.
#
#   bash perf/fastpath-sndbuf.sh
#
# On loopback only: kfwd (one `fastpath = true` listener, 2 workers) in front
# of an iperf3 server; `iperf3 -n BYTES -P STREAMS` through it. Each round
# runs every size with 1 and 4 streams, sizes in turn; one line per run with
# receiver Gbit/s, CPU-seconds per GB (all cores, /proc/stat, steal included)
# and the share of bytes the kernel redirected (`kfwd stats`:
# kernel_bytes_in / bytes_in).
#
# Environment (defaults in brackets):
#   SNDBUF_SIZES ["4194304 16777216 67108864"]  fastpath_sndbuf = fastpath_backlog
#   SNDBUF_ROUNDS [3]   SNDBUF_BYTES [2G]   SNDBUF_PORT [18080] (and +10)
#   KFWD [build/kfwd]
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_TAG=fastpath-sndbuf
PY=python3
LIFETIME=600
BG_PIDS=()
CLIENT_PID=
# shellcheck source=perf/lib.sh
source perf/lib.sh

read -r -a SIZES <<<"${SNDBUF_SIZES:-4194304 16777216 67108864}"
ROUNDS=${SNDBUF_ROUNDS:-3}
BYTES=${SNDBUF_BYTES:-2G}
PORT=${SNDBUF_PORT:-18080}
KFWD=${KFWD:-build/kfwd}
if ! isint "$ROUNDS" || ((ROUNDS < 1 || ROUNDS > 20)); then die "SNDBUF_ROUNDS must be 1..20"; fi
if ! isint "$PORT" || ((PORT < 1024 || PORT > 65000)); then die "SNDBUF_PORT must be 1024..65000"; fi
for s in "${SIZES[@]}"; do isint "$s" || die "SNDBUF_SIZES: not a number: $s"; done
[[ $(id -u) == 0 ]] || die "needs root (the fast path loads BPF)"
[[ -x $KFWD ]] || die "$KFWD not built (make)"
command -v iperf3 >/dev/null || die "iperf3 missing (make deps)"

TMP=$(mktemp -d /tmp/kfwd-sndbuf.XXXXXX)
cleanup() {
	trap - EXIT INT TERM HUP
	stop_all
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything started"; exit 130' INT TERM HUP

# one SIZE STREAMS: print one result line.
one() {
	local size=$1 streams=$2 conf=$TMP/sndbuf.conf kpid spid b0 b1
	cat >"$conf" <<EOF
global = { workers = 2; fastpath_sndbuf = $size; fastpath_backlog = $size; };
listeners = ( { name = "bulk"; bind = "127.0.0.1:$PORT";
                backends = [ "127.0.0.1:$((PORT + 10))" ]; fastpath = true; } );
EOF
	start_bg "$TMP/iperf3-server.log" iperf3 -s -1 -p $((PORT + 10))
	spid=$BG_LAST
	start_bg "$TMP/kfwd.log" "$KFWD" run -c "$conf"
	kpid=$BG_LAST
	sleep 0.5
	b0=$(cpu_busy)
	if ! run_client 300 "$TMP/iperf3.json" "$TMP/iperf3.err" \
		iperf3 -c 127.0.0.1 -p "$PORT" -P "$streams" -n "$BYTES" -J; then
		say "size $size, $streams stream(s): iperf3 failed: $(oneline "$TMP/iperf3.err")"
	fi
	b1=$(cpu_busy)
	"$KFWD" stats --json -c "$conf" >"$TMP/stats.json" 2>"$TMP/stats.err"
	stop_bg "$kpid"
	stop_bg "$spid"
	"$PY" - "$size" "$streams" $((b1 - b0)) "$(getconf CLK_TCK)" "$TMP" <<'EOF'
import json, sys
size, streams, jiffies, hz, tmp = sys.argv[1:6]
try:
    r = json.load(open(tmp + "/iperf3.json"))["end"]["sum_received"]
    l = json.load(open(tmp + "/stats.json"))["listeners"][0]
except (OSError, ValueError, KeyError, IndexError) as e:
    print("sndbuf %9s  streams %s  no result (%s)" % (size, streams, e))
    sys.exit(0)
gb = r["bytes"] / 1e9
share = 100.0 * l["kernel_bytes_in"] / max(1, l["bytes_in"])
print("sndbuf %9s  streams %s  %6.2f Gbit/s  %5.2f CPU-s/GB  kernel %5.1f %%" % (
    size, streams, r["bits_per_second"] / 1e9, int(jiffies) / int(hz) / gb, share))
EOF
}

say "kfwd $("$KFWD" --version 2>&1 | head -n1); $ROUNDS round(s) of iperf3 -n $BYTES"
for ((round = 1; round <= ROUNDS; round++)); do
	for size in "${SIZES[@]}"; do
		for streams in 1 4; do
			one "$size" "$streams"
		done
	done
done
