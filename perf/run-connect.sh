#!/usr/bin/env bash
# perf/run-connect.sh — kfwd's HTTP CONNECT proxy (mode "connect", via
# "direct") against tinyproxy and squid, on loopback; `make bench` runs it
# after the TCP, UDP and tunnel parts (BENCH_CONNECT=0 skips it there).
#
#   bash perf/run-connect.sh [--quick]
#
# Systems alternate round by round (order rotated each round); medians over
# the rounds of:
#  (a) tunnels established per second: WORKERS connections at a time, each a
#      new TCP connection to the proxy, CONNECT to an echo server, the 200,
#      32 bytes there and back, close (build/perf/connectload rate, SECS s),
#      and the proxy's own CPU time per tunnel (its process group's user +
#      system ticks over the run);
#  (b) tunnel throughput: BYTES through 1 tunnel and through 4 in parallel
#      to a sink that acknowledges every byte (build/perf/connectload bulk),
#      Gbit/s from all tunnels up to the last acknowledgement, and CPU-s per
#      GB of the whole machine; once per system, 64 MiB compared byte for
#      byte by the sink.
# Ratios: setup rate to squid's, throughput and CPU to the best peer's
# (tinyproxy or squid). Table on stdout, everything in
# perf/results/<YYYY-MM-DD>-connect.json.
#
# Environment (defaults in brackets; BENCH_QUICK=1 / --quick: 2 rounds, 1 s,
# 256M):
#   BENCH_CONNECT_ROUNDS [5]        rounds
#   BENCH_CONNECT_SECS [5]          seconds of (a) per round
#   BENCH_CONNECT_CONC [8]          concurrent connecting workers in (a)
#   BENCH_CONNECT_BYTES [2G]        bytes per bulk run in (b), all tunnels together (K/M/G = 2^10..)
#   BENCH_CONNECT_SYSTEMS [kfwd-fastpath kfwd-userspace tinyproxy squid]
#   BENCH_CONNECT_PORT_BASE [17100] loopback ports BASE..BASE+41 are used
#   BENCH_WORKERS [2]               workers of kfwd and squid (tinyproxy: a thread per connection)
#   BENCH_SQUID_WORKERS [BENCH_WORKERS]  1: squid without SMP (no IPC sockets in /run/squid)
#   BENCH_MAX_SECONDS [1800]        time budget: no new slot starts after it
#   BENCH_CONNECT_OUT [perf/results/<date>-connect.json; quick: build/perf/results/<date>-connect-quick.json]
#   BENCH_KEEP [0]                  1: keep the temp dir (configs, logs, raw data)
#   KFWD [build/kfwd]
#
# kfwd-fastpath runs kfwd with `fastpath = true` and is measured only if a
# probe tunnel is really spliced in the kernel (the listener's `spliced`
# count); otherwise it is reported as skipped, and runs by itself once kfwd
# splices CONNECT tunnels.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_TAG=bench-connect
# shellcheck source=perf/lib.sh
source perf/lib.sh
T_START=$SECONDS
START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)

QUICK=${BENCH_QUICK:-0}
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help) sed -n '2,40p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done
[[ $QUICK == 1 ]] || QUICK=0
if ((QUICK)); then d_rounds=2 d_secs=1 d_bytes=256M; else d_rounds=5 d_secs=5 d_bytes=2G; fi
ROUNDS=${BENCH_CONNECT_ROUNDS:-$d_rounds}
SECS=${BENCH_CONNECT_SECS:-$d_secs}
CONC=${BENCH_CONNECT_CONC:-8}
BYTES_SPEC=${BENCH_CONNECT_BYTES:-$d_bytes}
PORT_BASE=${BENCH_CONNECT_PORT_BASE:-17100}
WORKERS=${BENCH_WORKERS:-2}
SQUID_WORKERS=${BENCH_SQUID_WORKERS:-$WORKERS}
MAX_SECONDS=${BENCH_MAX_SECONDS:-1800}
KEEP=${BENCH_KEEP:-0}
KFWD=${KFWD:-build/kfwd}
read -r -a SYSTEMS <<<"${BENCH_CONNECT_SYSTEMS:-kfwd-fastpath kfwd-userspace tinyproxy squid}"
VERIFY_BYTES=$((64 << 20))

for v in ROUNDS SECS CONC PORT_BASE WORKERS SQUID_WORKERS MAX_SECONDS; do
	isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS >= 1 && ROUNDS <= 100)) || die "BENCH_CONNECT_ROUNDS must be 1..100"
((SECS >= 1 && SECS <= 600)) || die "BENCH_CONNECT_SECS must be 1..600"
((CONC >= 1 && CONC <= 256)) || die "BENCH_CONNECT_CONC must be 1..256"
((WORKERS >= 1 && WORKERS <= 64)) || die "BENCH_WORKERS must be 1..64"
((SQUID_WORKERS >= 1 && SQUID_WORKERS <= 64)) || die "BENCH_SQUID_WORKERS must be 1..64"
((PORT_BASE >= 1024 && PORT_BASE <= 65000)) || die "BENCH_CONNECT_PORT_BASE must be 1024..65000"
BYTES=$(numfmt --from=iec "$BYTES_SPEC" 2>/dev/null) || die "BENCH_CONNECT_BYTES: bad size '$BYTES_SPEC'"
((BYTES >= 1048576)) || die "BENCH_CONNECT_BYTES must be at least 1M"
((${#SYSTEMS[@]} > 0)) || die "BENCH_CONNECT_SYSTEMS is empty"
for s in "${SYSTEMS[@]}"; do
	case $s in kfwd-fastpath | kfwd-userspace | tinyproxy | squid) ;;
	*) die "BENCH_CONNECT_SYSTEMS: unknown system '$s'" ;; esac
done

DATE=$(date +%F)
if [[ -n ${BENCH_CONNECT_OUT:-} ]]; then
	OUT=$BENCH_CONNECT_OUT
elif ((QUICK)); then
	OUT=build/perf/results/$DATE-connect-quick.json # smoke runs stay out of the committed results/
else
	OUT=perf/results/$DATE-connect.json
fi
CMDLINE=$(bench_cmdline perf/run-connect.sh "$@")

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
for t in "$PY" gcc ss numfmt; do
	command -v "$t" >/dev/null || die "$t is required"
done

# Load generators: compiled here, never by the Makefile (as perf/run.sh does).
bench_tools echo connectload
LOAD=$TOOLS/connectload
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------------------
# Processes: each runs under timeout(1) in a process group of its own (see
# perf/lib.sh), stopped by that group's id on exit, error or signal.
# ---------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/kfwd-perf-connect.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # tinyproxy and squid drop root and write their logs under it
LIFETIME=$((MAX_SECONDS + 900))
BG_PIDS=()
CLIENT_PID=
RAW=$TMP/raw.jsonl
: >"$RAW"
# squid's SMP mode makes IPC sockets in its compiled-in /run/squid; the ones
# this run made are removed after each stop (squid leaves them behind).
SQUID_RUN=/run/squid
squid_ipc_list() { find "$SQUID_RUN" -maxdepth 1 -name 'squid-*.ipc' -printf '%f\n' 2>/dev/null | sort; }
SQUID_IPC_BEFORE=$(squid_ipc_list)

squid_ipc_cleanup() {
	local f
	[[ -d $SQUID_RUN ]] || return 0
	for f in $(comm -13 <(printf '%s\n' "$SQUID_IPC_BEFORE") <(squid_ipc_list)); do
		rm -f "${SQUID_RUN:?}/$f"
	done
}

cleanup() {
	trap - EXIT INT TERM HUP
	stop_all
	squid_ipc_cleanup
	if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything started"; exit 130' INT TERM HUP

port_listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }
# wait_port PID PORT: PORT listens within 10 s while PID lives (1: timeout, 2: exited).
wait_port() {
	local i
	for ((i = 0; i < 100; i++)); do
		port_listening "$2" && return 0
		kill -0 "$1" 2>/dev/null || return 2
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# Ports and versions
# ---------------------------------------------------------------------------
P_ECHO=$PORT_BASE P_SINK=$((PORT_BASE + 1))
declare -A P_PX=([kfwd-fastpath]=$((PORT_BASE + 10)) [kfwd-userspace]=$((PORT_BASE + 20))
	[tinyproxy]=$((PORT_BASE + 30)) [squid]=$((PORT_BASE + 40)))
T_ECHO=127.0.0.1:$P_ECHO T_SINK=127.0.0.1:$P_SINK
# shellcheck disable=SC2034 # KFWD_PATHS and VERSION are read through a nameref (kv)
# shellcheck disable=SC2034 # VERSION is read through a nameref (kv, bench_report)
declare -A STATUS=() VERSION=() KFWD_PATHS=()
for s in "${SYSTEMS[@]}"; do STATUS[$s]=; done
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576

KBIN=
if [[ -x $KFWD ]] && cp "$KFWD" "$TMP/kfwd"; then
	KBIN=$TMP/kfwd # a rebuild during the run must not change the binary between rounds
	VERSION[kfwd]="$(first_line "$KBIN" --version) (sha256 $(sha256sum <"$KBIN" | cut -c1-16), tree $(git describe --always --dirty 2>/dev/null || echo unknown))"
fi
command -v tinyproxy >/dev/null && VERSION[tinyproxy]=$(first_line tinyproxy -v)
command -v squid >/dev/null && VERSION[squid]=$(first_line squid -v | sed 's/^Squid Cache: //')
VERSION[gcc]=$(first_line gcc --version)

# ---------------------------------------------------------------------------
# Configs (written once; each slot starts the system fresh)
# ---------------------------------------------------------------------------
kfwd_conf() { # SYSTEM FASTPATH(true|false)
	local s=$1 p=${P_PX[$1]}
	cat >"$TMP/$s.conf" <<-EOF
		# perf/run-connect.sh: kfwd's CONNECT proxy under test (fastpath = $2)
		global = { workers = $WORKERS; control_socket = "$TMP/$s.sock"; instance = "perfcx-$$-$p";
		           bpf_pin_path = "/sys/fs/bpf/kfwd-perf-connect"; shutdown_grace_ms = 0; };
		listeners = (
		  { name = "px"; bind = "127.0.0.1:$p"; mode = "connect"; via = "direct"; fastpath = $2;
		    allow = ( "127.0.0.1:$P_ECHO-$P_SINK" ); }
		);
	EOF
}

tinyproxy_conf() {
	mkdir -p "$TMP/tinyproxy"
	chown nobody:nogroup "$TMP/tinyproxy" 2>/dev/null || chmod 777 "$TMP/tinyproxy"
	cat >"$TMP/tinyproxy/tinyproxy.conf" <<-EOF
		# perf/run-connect.sh: tinyproxy, CONNECT to the two test ports only, no Via header
		User nobody
		Group nogroup
		Listen 127.0.0.1
		Port ${P_PX[tinyproxy]}
		Timeout 600
		MaxClients 4096
		LogFile "$TMP/tinyproxy/tinyproxy.log"
		LogLevel Warning
		Allow 127.0.0.1
		ConnectPort $P_ECHO
		ConnectPort $P_SINK
		DisableViaHeader Yes
	EOF
}

squid_conf() {
	mkdir -p "$TMP/squid"
	chown proxy:proxy "$TMP/squid" 2>/dev/null || chmod 777 "$TMP/squid"
	cat >"$TMP/squid/squid.conf" <<-EOF
		# perf/run-connect.sh: squid, no cache, no access log, CONNECT to the test ports only
		http_port 127.0.0.1:${P_PX[squid]}
		workers $SQUID_WORKERS
		pid_filename $TMP/squid/squid.pid
		cache_log $TMP/squid/cache.log
		coredump_dir $TMP/squid
		access_log none
		cache_store_log none
		cache deny all
		cache_mem 0 MB
		pinger_enable off
		shutdown_lifetime 0 seconds
		max_filedescriptors $((NOFILE < 65536 ? NOFILE : 65536))
		acl bench_src src 127.0.0.1/32
		acl bench_ports port $P_ECHO $P_SINK
		acl CONNECT method CONNECT
		http_access deny CONNECT !bench_ports
		http_access allow bench_src
		http_access deny all
	EOF
}

# ---------------------------------------------------------------------------
# Start, check, stop
# ---------------------------------------------------------------------------
SYS_PID=
start_system() { # S: started, listening and one tunnel through it answered; else START_ERR
	local s=$1 log=$TMP/$1.log rc=0
	START_ERR=
	port_listening "${P_PX[$s]}" && { START_ERR="port ${P_PX[$s]} already in use by another process"; return 1; }
	case $s in
	kfwd-*) start_bg "$log" "$KBIN" run -c "$TMP/$s.conf" --log-level warn ;;
	tinyproxy) start_bg "$log" tinyproxy -d -c "$TMP/tinyproxy/tinyproxy.conf" ;;
	squid) start_bg "$log" squid --foreground -f "$TMP/squid/squid.conf" ;;
	esac
	SYS_PID=$BG_LAST
	wait_port "$SYS_PID" "${P_PX[$s]}" || rc=$?
	if ((rc)); then
		START_ERR="$( ((rc == 2)) && echo "exited at start" || echo "port ${P_PX[$s]} not listening after 10 s"): $(oneline "$log")"
		[[ $s == squid ]] && START_ERR+=" $(oneline "$TMP/squid/cache.log")"
		stop_system
		return 1
	fi
	# squid's workers take the port a moment after the master: retry the first tunnel.
	local i
	for ((i = 0; i < 10; i++)); do
		run_client 15 "$TMP/probe.out" "$TMP/probe.err" "$LOAD" rate -p "127.0.0.1:${P_PX[$s]}" \
			-t "$T_ECHO" -k 1 -d 0.2 -T 2000 && return 0
		sleep 0.3
	done
	START_ERR="no tunnel through it: $(oneline "$TMP/probe.err") $(oneline "$TMP/probe.out")"
	stop_system
	return 1
}

stop_system() {
	[[ -n $SYS_PID ]] || return 0
	stop_bg "$SYS_PID"
	SYS_PID=
	squid_ipc_cleanup
}

# kfwd_listener S FIELD: a field of listener "px" in kfwd's stats.
kfwd_listener() {
	"$KBIN" stats --json -s "$TMP/$1.sock" 2>/dev/null |
		"$PY" -c 'import json,sys; l=[x for x in json.load(sys.stdin)["listeners"] if x["name"]=="px"]; print(l[0][sys.argv[1]] if l else "")' "$2" 2>/dev/null
}

prepare() {
	local s=$1 spliced path
	case $s in
	kfwd-fastpath | kfwd-userspace)
		[[ -n $KBIN ]] || { STATUS[$s]="failed: $KFWD not found (run make)"; return; }
		kfwd_conf "$s" "$([[ $s == kfwd-fastpath ]] && echo true || echo false)"
		if ! "$KBIN" check -c "$TMP/$s.conf" >"$TMP/check.out" 2>&1; then
			STATUS[$s]="failed: config rejected by kfwd check: $(oneline "$TMP/check.out")"
			return
		fi
		# Which path do its tunnels really take? One bulk tunnel, then the stats.
		start_system "$s" || { STATUS[$s]="failed: $START_ERR"; return; }
		run_client 30 "$TMP/probe.out" "$TMP/probe.err" "$LOAD" bulk -p "127.0.0.1:${P_PX[$s]}" \
			-t "$T_SINK" -P 1 -n 4194304 -T 5000
		spliced=$(kfwd_listener "$s" spliced) path=$(kfwd_listener "$s" path)
		stop_system
		# shellcheck disable=SC2034 # read through a nameref (kv)
		KFWD_PATHS[$s]="listener path '$path', probe tunnels spliced: ${spliced:-?}"
		if [[ $s == kfwd-fastpath && ${spliced:-0} == 0 ]]; then
			STATUS[$s]="skipped: fastpath = true, but kfwd did not splice the probe CONNECT tunnel in the kernel (listener path '$path', spliced 0): CONNECT tunnels run on the userspace relay in this build; this system runs by itself once they are spliced"
		elif [[ $s == kfwd-userspace && ${spliced:-0} != 0 ]]; then
			STATUS[$s]="failed: fastpath = false, but kfwd spliced $spliced probe tunnel(s)"
		fi
		;;
	tinyproxy)
		command -v tinyproxy >/dev/null || { STATUS[$s]="failed: tinyproxy not installed (bash scripts/deps.sh --bench)"; return; }
		tinyproxy_conf
		;;
	squid)
		command -v squid >/dev/null || { STATUS[$s]="failed: squid not installed (bash scripts/deps.sh --bench)"; return; }
		squid_conf
		if ((SQUID_WORKERS > 1)) && ss -Hxl 2>/dev/null | grep -q "$SQUID_RUN/squid-coordinator.ipc"; then
			STATUS[$s]="failed: another squid runs in SMP mode here ($SQUID_RUN/squid-coordinator.ipc is in use); set BENCH_SQUID_WORKERS=1"
			return
		fi
		squid -k parse -f "$TMP/squid/squid.conf" >"$TMP/check.out" 2>&1 ||
			STATUS[$s]="failed: squid -k parse: $(grep -m1 -iE 'error|fatal' "$TMP/check.out")"
		;;
	esac
}

# ---------------------------------------------------------------------------
# Backends and tests
# ---------------------------------------------------------------------------
start_backends() {
	start_bg "$TMP/echo.log" "$TOOLS/echo" -l "$T_ECHO" -t "$WORKERS" -T "$LIFETIME"
	ECHO_PID=$BG_LAST
	wait_port "$ECHO_PID" "$P_ECHO" || die "echo backend did not start: $(oneline "$TMP/echo.log")"
	start_bg "$TMP/sink.log" "$LOAD" sink -l "$T_SINK" -L "$LIFETIME"
	SINK_PID=$BG_LAST
	wait_port "$SINK_PID" "$P_SINK" || die "sink did not start: $(oneline "$TMP/sink.log")"
}

record() { # R S TEST JSON|"" ERR
	if [[ -n $4 ]]; then
		printf '{"r":%d,"s":"%s","t":"%s","ok":true,"v":%s}\n' "$1" "$2" "$3" "$4" >>"$RAW"
	else
		printf '{"r":%d,"s":"%s","t":"%s","ok":false,"err":%s}\n' "$1" "$2" "$3" "$(jstr "$5")" >>"$RAW"
	fi
}

test_rate() { # R S
	local out=$TMP/rate.out err=$TMP/rate.err t0 t1 v
	t0=$(pgrp_ticks "$SYS_PID")
	if run_client $((SECS + 60)) "$out" "$err" "$LOAD" rate -p "127.0.0.1:${P_PX[$2]}" -t "$T_ECHO" \
		-k "$CONC" -d "$SECS" -s 32 -T 2000; then
		t1=$(pgrp_ticks "$SYS_PID")
		# The proxy's own CPU per tunnel: the part of the machine's work that is its.
		v=$("$PY" -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
d["proxy_cpu_us"] = int(sys.argv[2]) / int(sys.argv[3]) * 1e6 / max(d["tunnels"], 1)
print(json.dumps(d))' "$out" "$((t1 - t0))" "$HZ")
		record "$1" "$2" rate "$v"
		SUMMARY+=" $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f tunnels/s (%d errors), proxy %.0f us CPU per tunnel" % (d["rate"], d["errors"], d["proxy_cpu_us"]))' "$v")"
	else
		record "$1" "$2" rate "" "connectload rate: $(oneline "$err") $(oneline "$out")"
		SUMMARY+=" rate FAILED"
	fi
}

test_bulk() { # R S STREAMS
	local out=$TMP/bulk.out err=$TMP/bulk.err b0 b1 v
	sleep 0.3
	b0=$(cpu_busy)
	# Bounded: fails below ~0.1 Gbit/s, far under any proxy here.
	run_client $((30 + BYTES / 12500000)) "$out" "$err" "$LOAD" bulk -p "127.0.0.1:${P_PX[$2]}" \
		-t "$T_SINK" -P "$3" -n "$BYTES" -T 10000
	b1=$(cpu_busy)
	if v=$("$PY" -c '
import json, sys
d = json.loads(open(sys.argv[1]).readline())
d["cpu_s_per_gb"] = int(sys.argv[2]) / int(sys.argv[3]) / (d["bytes"] / 1e9)
print(json.dumps(d))' "$out" "$((b1 - b0))" "$HZ" 2>/dev/null); then
		record "$1" "$2" "bulk$3" "$v"
		SUMMARY+=" | $3 tunnel(s) $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.2f Gbit/s %.2f CPU-s/GB" % (d["gbps"], d["cpu_s_per_gb"]))' "$v")"
	else
		record "$1" "$2" "bulk$3" "" "connectload bulk -P $3: $(oneline "$err")"
		SUMMARY+=" | $3 tunnel(s) FAILED"
	fi
}

test_verify() { # R S: VERIFY_BYTES through 4 tunnels, every byte compared by the sink
	local out=$TMP/verify.out err=$TMP/verify.err
	if run_client 120 "$out" "$err" "$LOAD" bulk -p "127.0.0.1:${P_PX[$2]}" -t "$T_SINK" -P 4 \
		-n "$VERIFY_BYTES" -T 10000 -V; then
		record "$1" "$2" verify '{"equal":true}'
		SUMMARY+=" | 64 MiB verified"
	else
		record "$1" "$2" verify "{\"equal\":false,\"error\":$(jstr "$(oneline "$err")")}"
		SUMMARY+=" | VERIFY FAILED: $(oneline "$err")"
	fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
say "systems: ${SYSTEMS[*]}; $ROUNDS round(s): ${SECS}s x $CONC connecting workers, $BYTES_SPEC per bulk run (1 and 4 tunnels), $WORKERS workers (squid $SQUID_WORKERS)"
say "temp dir $TMP; results -> $OUT"
for p in "$P_ECHO" "$P_SINK"; do
	port_listening "$p" && die "backend port $p is already in use (set BENCH_CONNECT_PORT_BASE)"
done
start_backends
for s in "${SYSTEMS[@]}"; do
	prepare "$s"
	[[ -n ${STATUS[$s]} ]] && say "$s: ${STATUS[$s]}"
done
bench_active
ORDERS=()
BUDGET_NOTE=
declare -A FAILS=() VERIFIED=()
for ((r = 0; r < ROUNDS; r++)); do
	bench_bg "$r" '"s":"-","t":"bg"'
	bench_order "$r"
	for s in "${ORDER[@]}"; do
		bench_over_budget "$r" && break 2
		SUMMARY=
		if ! start_system "$s"; then
			record "$r" "$s" start "" "$START_ERR"
			say "round $((r + 1))/$ROUNDS $s: failed to start: $START_ERR"
			FAILS[$s]=$((${FAILS[$s]:-0} + 1))
			continue
		fi
		if [[ -z ${VERIFIED[$s]:-} ]]; then
			test_verify "$r" "$s"
			VERIFIED[$s]=1
		fi
		test_rate "$r" "$s"
		test_bulk "$r" "$s" 1
		test_bulk "$r" "$s" 4
		kill -0 "$SYS_PID" 2>/dev/null ||
			{ record "$r" "$s" alive "" "exited during the tests: $(oneline "$TMP/$s.log")"; SUMMARY+=" | EXITED"; }
		stop_system
		say "round $((r + 1))/$ROUNDS $s:$SUMMARY"
	done
done

# ---------------------------------------------------------------------------
# Report
M_SECS=$SECS M_CONC=$CONC M_BYTES=$BYTES M_VBYTES=$VERIFY_BYTES
M_WORKERS=$WORKERS M_SQUID_WORKERS=$SQUID_WORKERS M_KPATHS=$(kv KFWD_PATHS)
export M_SECS M_CONC M_BYTES M_VBYTES M_WORKERS M_SQUID_WORKERS M_KPATHS
bench_report report-connect.py
