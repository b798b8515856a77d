#!/usr/bin/env bash
# perf/run-udp.sh — UDP forwarding benchmark: kfwd's XDP fast path, kfwd's
# userspace UDP path and nginx's stream UDP proxy, between network namespaces
# of its own (`make bench` runs it after perf/run.sh's TCP part).
#
#   bash perf/run-udp.sh [--quick]
#
# Topology, created for the run and deleted on any exit (nothing is attached
# to or addressed on a host interface):
#   client ns  veth0 10.79.1.2 ── vc 10.79.1.1  gw ns  vb 10.79.2.1 ── veth0 10.79.2.2  backend ns
# The system under test runs in gw and listens on 10.79.1.1:5000 (UDP); the
# backend is `udpgen sink` on 10.79.2.2:6000. client's and backend's veth0
# have TX checksum offload off and GRO on (like hosts on a wire, see
# docs/xdp.md), gw has IPv4 forwarding on; the same for every system.
#
# Per test: FLOWS connected sockets (distinct source ports) each get one
# echoed warm-up datagram (so kfwd has installed the flow in XDP), then
# `udpgen send` pushes sendmmsg(2) batches of SIZE-byte datagrams one way for
# SECS seconds; the sink counts with recvmmsg(2). Figures: packets per second
# delivered at the sink, and CPU-seconds per million delivered packets (all
# cores, user+nice+system+irq+softirq+steal from /proc/stat over the sending
# phase; generator and sink included). Systems alternate round by round
# (order rotated by one each round); the report gives medians and ratios to
# nginx: a table on stdout, everything in perf/results/<YYYY-MM-DD>-udp.json.
#
# Environment (defaults in brackets; BENCH_QUICK=1 / --quick: 2 rounds of 1 s):
#   BENCH_UDP_ROUNDS [3]      rounds
#   BENCH_UDP_SECS [5]        seconds of sending per test
#   BENCH_UDP_SIZES [64 1200] UDP payload sizes, bytes
#   BENCH_UDP_FLOWS [32]      flows (client source ports)
#   BENCH_UDP_BATCH [64]      datagrams per sendmmsg(2)
#   BENCH_UDP_GEN_THREADS [1] sending threads (flows split between them)
#   BENCH_UDP_SINK_THREADS [2] receiving threads (SO_REUSEPORT sockets)
#   BENCH_UDP_SYSTEMS [kfwd-xdp kfwd-userspace nginx]
#   BENCH_WORKERS [2]         kfwd workers / nginx worker_processes
#   BENCH_MAX_SECONDS [1800]  time budget: no new slot starts after it
#   BENCH_UDP_OUT [perf/results/<date>-udp.json; quick: build/perf/results/<date>-udp-quick.json]
#   BENCH_KEEP [0]            1: keep the temp dir (configs, logs, raw data)
#   KFWD [build/kfwd]
# Needs root (network namespaces, XDP).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_TAG=bench-udp
# shellcheck source=perf/lib.sh
source perf/lib.sh
T_START=$SECONDS
START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)


QUICK=${BENCH_QUICK:-0}
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help) sed -n '2,39p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done
[[ $QUICK == 1 ]] || QUICK=0
if ((QUICK)); then d_rounds=2 d_secs=1; else d_rounds=3 d_secs=5; fi
ROUNDS=${BENCH_UDP_ROUNDS:-$d_rounds}
SECS=${BENCH_UDP_SECS:-$d_secs}
read -r -a SIZES <<<"${BENCH_UDP_SIZES:-64 1200}"
FLOWS=${BENCH_UDP_FLOWS:-32}
BATCH=${BENCH_UDP_BATCH:-64}
GEN_THREADS=${BENCH_UDP_GEN_THREADS:-1}
SINK_THREADS=${BENCH_UDP_SINK_THREADS:-2}   # receivers: one thread alone is the bottleneck once XDP forwards
WORKERS=${BENCH_WORKERS:-2}
MAX_SECONDS=${BENCH_MAX_SECONDS:-1800}
KEEP=${BENCH_KEEP:-0}
KFWD=${KFWD:-build/kfwd}
read -r -a SYSTEMS <<<"${BENCH_UDP_SYSTEMS:-kfwd-xdp kfwd-userspace nginx}"

for v in ROUNDS SECS FLOWS BATCH GEN_THREADS SINK_THREADS WORKERS MAX_SECONDS; do
	isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS >= 1 && ROUNDS <= 100)) || die "BENCH_UDP_ROUNDS must be 1..100"
((SECS >= 1 && SECS <= 600)) || die "BENCH_UDP_SECS must be 1..600"
((FLOWS >= 1 && FLOWS <= 4096)) || die "BENCH_UDP_FLOWS must be 1..4096"
((BATCH >= 1 && BATCH <= 256)) || die "BENCH_UDP_BATCH must be 1..256"
((GEN_THREADS >= 1 && GEN_THREADS <= 16)) || die "BENCH_UDP_GEN_THREADS must be 1..16"
((WORKERS >= 1 && WORKERS <= 64)) || die "BENCH_WORKERS must be 1..64"
((${#SIZES[@]} > 0)) || die "BENCH_UDP_SIZES is empty"
for z in "${SIZES[@]}"; do
	isint "$z" && ((z >= 2 && z <= 1472)) || die "BENCH_UDP_SIZES: $z is not 2..1472 (one 1500-byte frame)"
done
for s in "${SYSTEMS[@]}"; do
	case $s in kfwd-xdp | kfwd-userspace | nginx) ;; *) die "BENCH_UDP_SYSTEMS: unknown system '$s'" ;; esac
done
((${#SYSTEMS[@]} > 0)) || die "BENCH_UDP_SYSTEMS is empty"

DATE=$(date +%F)
if [[ -n ${BENCH_UDP_OUT:-} ]]; then
	OUT=$BENCH_UDP_OUT
elif ((QUICK)); then
	OUT=build/perf/results/$DATE-udp-quick.json
else
	OUT=perf/results/$DATE-udp.json
fi
CMDLINE=$(bench_cmdline perf/run-udp.sh "$@")

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || die "python3 is required"
command -v gcc >/dev/null || die "gcc is required"
command -v ip >/dev/null || die "ip (iproute2) is required"
command -v ss >/dev/null || die "ss (iproute2) is required"
((EUID == 0)) || die "needs root (network namespaces, XDP); skipped"

bench_tools udpgen
UDPGEN=$(realpath "$TOOLS/udpgen")

# ---------------------------------------------------------------------------
# Processes (as in perf/run.sh): each runs under timeout(1), its own process
# group, stopped by that group id on any exit.
# ---------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/kfwd-perf-udp.XXXXXX) || die "mktemp failed"
LIFETIME=$((MAX_SECONDS + 900))
BG_PIDS=()
CLIENT_PID=
RAW=$TMP/raw.jsonl
: >"$RAW"
NS_C=kfwdperf-$$-client NS_G=kfwdperf-$$-gw NS_B=kfwdperf-$$-backend
NS_MADE=()

cleanup() {
	local ns
	trap - EXIT INT TERM HUP
	stop_all
	# Deleting a namespace deletes its veths (and any XDP program on them).
	for ns in "${NS_MADE[@]}"; do ip netns delete "$ns" 2>/dev/null; done
	if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything started"; exit 130' INT TERM HUP

# The same, inside a namespace: start_bg_ns LOG NS CMD..., run_client_ns SECS OUT ERR NS CMD...
start_bg_ns() { local log=$1 ns=$2; shift 2; start_bg "$log" ip netns exec "$ns" "$@"; }
run_client_ns() { local secs=$1 out=$2 err=$3 ns=$4; shift 4; run_client "$secs" "$out" "$err" ip netns exec "$ns" "$@"; }
udp_bound() { [[ -n $(ip netns exec "$1" ss -Hlun "sport = :$2" 2>/dev/null) ]]; }
wait_udp() { # PID NS PORT: PORT bound in NS within 5 s while PID lives
	local i
	for ((i = 0; i < 50; i++)); do
		udp_bound "$2" "$3" && return 0
		kill -0 "$1" 2>/dev/null || return 2
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# Namespaces and veths (as tests/integration/kfwdtest.py's Topology: each veth
# is created inside a benchmark namespace and its peer moved straight to the
# other one, so nothing ever exists in the host namespace).
# ---------------------------------------------------------------------------
C_IP=10.79.1.2 GC_IP=10.79.1.1 GB_IP=10.79.2.1 B_IP=10.79.2.2
LPORT=5000 BPORT=6000
make_topology() {
	local ns dev i
	for ns in "$NS_C" "$NS_G" "$NS_B"; do
		[[ -e /run/netns/$ns ]] && die "namespace $ns exists already"
		ip netns add "$ns" || die "ip netns add $ns failed"
		NS_MADE+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_C" link add veth0 type veth peer name vc netns "$NS_G" || die "veth client-gw failed"
	ip -n "$NS_B" link add veth0 type veth peer name vb netns "$NS_G" || die "veth backend-gw failed"
	ip -n "$NS_C" addr add "$C_IP/24" dev veth0
	ip -n "$NS_G" addr add "$GC_IP/24" dev vc
	ip -n "$NS_G" addr add "$GB_IP/24" dev vb
	ip -n "$NS_B" addr add "$B_IP/24" dev veth0
	for ns in "$NS_C" "$NS_B"; do
		ip netns exec "$ns" "$UDPGEN" nic veth0 || die "TX checksum off / GRO on failed in $ns"
	done
	ip netns exec "$NS_G" sysctl -q -w net.ipv4.conf.all.forwarding=1 || die "forwarding in gw failed"
	for ns in "$NS_C:veth0" "$NS_G:vc" "$NS_G:vb" "$NS_B:veth0"; do
		ip -n "${ns%%:*}" link set "${ns#*:}" up
	done
	for ns in "$NS_C:veth0" "$NS_G:vc" "$NS_G:vb" "$NS_B:veth0"; do
		for ((i = 0; i < 100; i++)); do
			[[ $(ip -n "${ns%%:*}" -br link show dev "${ns#*:}" | awk '{print $2}') == UP ]] && break
			sleep 0.05
		done
	done
	# Reachability is checked by every test's warm-up (one echo per flow).
}

# ---------------------------------------------------------------------------
# Versions, configs
# ---------------------------------------------------------------------------
# shellcheck disable=SC2034 # VERSION is read through a nameref (kv, bench_report)
declare -A STATUS=() VERSION=()
for s in "${SYSTEMS[@]}"; do STATUS[$s]=; done
VERSION[gcc]=$(first_line gcc --version)
KBIN=
if [[ -x $KFWD ]] && cp "$KFWD" "$TMP/kfwd"; then
	KBIN=$TMP/kfwd
	VERSION[kfwd]="$(first_line "$KBIN" --version) (sha256 $(sha256sum <"$KBIN" | cut -c1-16), tree $(git describe --always --dirty 2>/dev/null || echo unknown))"
fi
command -v nginx >/dev/null && VERSION[nginx]=$(first_line nginx -v)
NGINX_STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
[[ -f $NGINX_STREAM_MOD ]] && VERSION[libnginx-mod-stream]=$(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)

kfwd_conf() { # FILE NAME XDP(1|0)
	local xdp=
	(($3)) && xdp=' interfaces = ( "vc", "vb" ); xdp_forward = true;'
	cat >"$1" <<-EOF
		# perf/run-udp.sh: $2
		global = { workers = $WORKERS; control_socket = "$TMP/$2.sock"; instance = "perfudp-$$-$2";
		           bpf_pin_path = "/sys/fs/bpf/kfwd-perf-udp"; shutdown_grace_ms = 0;$xdp };
		listeners = (
		  { name = "u"; bind = "$GC_IP:$LPORT"; proto = "udp"; backends = ( "$B_IP:$BPORT" ); }
		);
	EOF
}

prepare() {
	local s=$1
	case $s in
	kfwd-xdp | kfwd-userspace)
		[[ -n $KBIN ]] || { STATUS[$s]="failed: $KFWD not found (run make)"; return; }
		kfwd_conf "$TMP/$s.conf" "$s" "$([[ $s == kfwd-xdp ]] && echo 1 || echo 0)"
		"$KBIN" check -c "$TMP/$s.conf" >"$TMP/check.out" 2>&1 ||
			STATUS[$s]="failed: config rejected by kfwd check: $(oneline "$TMP/check.out")"
		;;
	nginx)
		command -v nginx >/dev/null || { STATUS[$s]="failed: nginx not installed (bash scripts/deps.sh --bench)"; return; }
		[[ -f $NGINX_STREAM_MOD ]] || { STATUS[$s]="failed: $NGINX_STREAM_MOD missing (libnginx-mod-stream)"; return; }
		mkdir -p "$TMP/nginx"
		# One session per flow, as kfwd: proxy_responses stays unlimited (the
		# default; the traffic is one-way after the warm-up echo, and
		# `proxy_responses 1` would end each session after that echo and start
		# a new one, with a new upstream socket, for the next datagram), and
		# proxy_timeout is kfwd's UDP idle timeout (30 s), longer than a test.
		cat >"$TMP/nginx/nginx.conf" <<-EOF
			# perf/run-udp.sh: nginx stream UDP proxy, no access log
			load_module $NGINX_STREAM_MOD;
			daemon off;
			worker_processes $WORKERS;
			pid $TMP/nginx/nginx.pid;
			error_log $TMP/nginx/error.log warn;
			events { worker_connections 16384; }
			stream {
			    access_log off;
			    server {
			        listen $GC_IP:$LPORT udp reuseport;
			        proxy_pass $B_IP:$BPORT;
			        proxy_timeout 30s;
			    }
			}
		EOF
		ip netns exec "$NS_G" nginx -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/check.out" 2>&1 ||
			STATUS[$s]="failed: nginx -t: $(oneline "$TMP/check.out")"
		;;
	esac
}

SYS_PID=
start_system() { # S; sets SYS_PID, or START_ERR and returns 1
	local s=$1 log=$TMP/$1.log rc=0
	START_ERR=
	udp_bound "$NS_G" "$LPORT" && { START_ERR="port $LPORT already bound in gw"; return 1; }
	case $s in
	kfwd-*) start_bg_ns "$log" "$NS_G" "$KBIN" run -c "$TMP/$s.conf" --log-level warn ;;
	nginx) start_bg_ns "$log" "$NS_G" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" ;;
	esac
	SYS_PID=$BG_LAST
	wait_udp "$SYS_PID" "$NS_G" "$LPORT" || rc=$?
	if ((rc)); then
		sleep 0.2
		START_ERR="not listening after 5 s: $(oneline "$log")"
		((rc == 2)) && START_ERR="exited at start: $(oneline "$log")"
		[[ $s == nginx ]] && START_ERR+=" $(oneline "$TMP/nginx/error.log")"
		stop_system
		return 1
	fi
	if [[ $s == kfwd-xdp ]]; then
		"$KBIN" stats --json -s "$TMP/$s.sock" >"$TMP/stats.json" 2>&1
		if ! "$PY" -c 'import json,sys; x=json.load(open(sys.argv[1]))["xdp"]; sys.exit(0 if x.get("active") else 1)' "$TMP/stats.json" 2>/dev/null; then
			START_ERR="XDP program not active: $(oneline "$TMP/stats.json") $(oneline "$log")"
			stop_system
			return 1
		fi
	fi
	return 0
}
stop_system() {
	[[ -n $SYS_PID ]] || return 0
	stop_bg "$SYS_PID"
	SYS_PID=
}

# kfwd's listener counters: datagrams through its sockets and through XDP, client -> backend.
kfwd_counts() { # S -> "SOCKET XDP"
	"$KBIN" stats --json -s "$TMP/$1.sock" 2>/dev/null | "$PY" -c '
import json, sys
try:
    l = [x for x in json.load(sys.stdin)["listeners"] if x["name"] == "u"][0]
    print(l["packets_in"], (l.get("xdp") or {}).get("packets_in", 0))
except Exception:
    print("null null")'
}

# test_udp R S SIZE: one fresh sink, warm-up + SECS of sending, one record.
test_udp() {
	local r=$1 s=$2 z=$3 sink gen=$TMP/gen.out gerr=$TMP/gen.err sout=$TMP/sink.out c0=(null null) c1=(null null)
	start_bg_ns "$sout" "$NS_B" "$UDPGEN" sink -l "$B_IP:$BPORT" -t "$SINK_THREADS" -i 1000 -T $((SECS + 60))
	sink=$BG_LAST
	if ! wait_udp "$sink" "$NS_B" "$BPORT"; then
		record "$r" "$s" "$z" "" "sink did not start: $(oneline "$sout")"
		stop_bg "$sink"
		return
	fi
	[[ $s == kfwd-* ]] && read -r -a c0 <<<"$(kfwd_counts "$s")"
	if ! run_client_ns $((SECS + 60)) "$gen" "$gerr" "$NS_C" "$UDPGEN" send -c "$GC_IP:$LPORT" \
		-f "$FLOWS" -s "$z" -d "$SECS" -b "$BATCH" -t "$GEN_THREADS" -w 300; then
		record "$r" "$s" "$z" "" "udpgen send: $(oneline "$gerr")"
		stop_bg "$sink"
		return
	fi
	[[ $s == kfwd-* ]] && read -r -a c1 <<<"$(kfwd_counts "$s")"
	wait "$sink" # ends 1 s after the last datagram (bounded by -T and timeout(1))
	forget_pid "$sink"
	local v
	v=$("$PY" - "$gen" "$sout" "${c0[@]}" "${c1[@]}" <<-'EOF'
		import json, sys
		g = json.loads(open(sys.argv[1]).readline())
		k = json.loads(open(sys.argv[2]).read().strip().splitlines()[-1])
		c = [None if x == "null" else int(x) for x in sys.argv[3:7]]
		rx = k["received"]
		v = dict(g, **k)
		v["pps"] = rx / g["secs"]
		v["sent_pps"] = g["sent"] / g["secs"]
		v["loss_pct"] = 100.0 * (g["sent"] - rx) / g["sent"] if g["sent"] else None
		v["cpu_s_per_mpkt"] = (g["busy_jiffies"] / g["hz"]) / (rx / 1e6) if rx else None
		v["cpu_busy_pct"] = 100.0 * g["busy_jiffies"] / g["total_jiffies"] if g["total_jiffies"] else None
		if None not in c:
		    v["kfwd_socket_pkts"] = c[2] - c[0]
		    v["kfwd_xdp_pkts"] = c[3] - c[1]
		    v["kfwd_xdp_pps"] = (c[3] - c[1]) / g["secs"]
		print(json.dumps(v))
	EOF
	) || { record "$r" "$s" "$z" "" "bad output: $(oneline "$gen") / $(oneline "$sout")"; return; }
	record "$r" "$s" "$z" "$v"
	SUMMARY+=" | ${z} B $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f kpps (sent %.0f) %.2f CPU-s/Mpkt%s" % (d["pps"]/1e3, d["sent_pps"]/1e3, d["cpu_s_per_mpkt"] or 0, (" xdp %d sock %d" % (d["kfwd_xdp_pkts"], d["kfwd_socket_pkts"])) if "kfwd_xdp_pkts" in d else ""))' "$v")"
}

record() { # R S SIZE JSON|"" ERR
	if [[ -n $4 ]]; then
		printf '{"r":%d,"s":"%s","size":%d,"ok":true,"v":%s}\n' "$1" "$2" "$3" "$4" >>"$RAW"
	else
		printf '{"r":%d,"s":"%s","size":%d,"ok":false,"err":%s}\n' "$1" "$2" "$3" "$(jstr "$5")" >>"$RAW"
	fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
say "systems: ${SYSTEMS[*]}; $ROUNDS round(s) x sizes ${SIZES[*]} B x ${SECS}s, $FLOWS flows, batch $BATCH, $GEN_THREADS sending threads, $WORKERS workers"
say "temp dir $TMP; namespaces kfwdperf-$$-{client,gw,backend}; results -> $OUT"
make_topology
for s in "${SYSTEMS[@]}"; do
	prepare "$s"
	[[ -n ${STATUS[$s]} ]] && say "$s: ${STATUS[$s]}"
done
bench_active
ORDERS=()
BUDGET_NOTE=
declare -A FAILS=()
for ((r = 0; r < ROUNDS; r++)); do
	bench_bg "$r" '"s":"-","t":"bg"'
	bench_order "$r"
	for s in "${ORDER[@]}"; do
		bench_over_budget "$r" && break 2
		SUMMARY=
		if ! start_system "$s"; then
			for z in "${SIZES[@]}"; do record "$r" "$s" "$z" "" "start: $START_ERR"; done
			say "round $((r + 1))/$ROUNDS $s: failed to start: $START_ERR"
			FAILS[$s]=$((${FAILS[$s]:-0} + 1))
			continue
		fi
		for z in "${SIZES[@]}"; do test_udp "$r" "$s" "$z"; done
		if ! kill -0 "$SYS_PID" 2>/dev/null; then
			for z in "${SIZES[@]}"; do record "$r" "$s" "$z" "" "process exited during the tests: $(oneline "$TMP/$s.log")"; done
			SUMMARY+=" | EXITED during the tests"
		fi
		stop_system
		say "round $((r + 1))/$ROUNDS $s:$SUMMARY"
	done
done

# ---------------------------------------------------------------------------
# Report
M_SECS=$SECS M_SIZES="${SIZES[*]}" M_FLOWS=$FLOWS M_BATCH=$BATCH M_GEN_THREADS=$GEN_THREADS
M_WORKERS=$WORKERS
export M_SECS M_SIZES M_FLOWS M_BATCH M_GEN_THREADS M_WORKERS
bench_report report-udp.py
