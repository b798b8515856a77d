#!/usr/bin/env bash
# perf/run.sh — TCP forwarding benchmark: kfwd against direct, HAProxy, nginx
# stream and socat, on loopback only (`make bench` runs it).
#
#   bash perf/run.sh [--quick]
#
# In one run the systems under test ALTERNATE round by round (each round runs
# every system once, the order rotated by one each round, so machine drift hits
# all alike) and the report gives the MEDIAN over the rounds of:
#   - throughput with 1 and 4 parallel streams (iperf3 -P, control connection
#     through the proxy too), receiver Gbit/s
#   - CPU-seconds per GB (1e9 bytes) moved, all cores incl. irq/softirq, from
#     /proc/stat deltas around each iperf3 run (client and server included)
#   - latency of a 1-byte ping-pong over one persistent connection (p50, p99;
#     "added" = the system's median minus direct's)
#   - new connections per second (connect, 32-byte request/response, close)
# A table goes to stdout (each figure and its ratio to HAProxy), progress to
# stderr, everything to perf/results/<YYYY-MM-DD>-tcp.json (+ .png when
# python3-matplotlib is installed).
#
# Environment (defaults in brackets; BENCH_QUICK=1 / --quick: 2 rounds, 256 MiB,
# 2000 round trips, 1 s of connections):
#   BENCH_ROUNDS [5]          rounds
#   BENCH_BYTES [4G]          bytes per iperf3 run (iperf3 -n; K/M/G = 2^10..)
#   BENCH_PING_N [20000]      measured ping-pong round trips per round
#   BENCH_CONN_SECS [5]       seconds of the connection-rate test per round
#   BENCH_CONN_WORKERS [8]    concurrent connecting workers
#   BENCH_WORKERS [2]         worker threads/processes of every proxy
#   BENCH_SYSTEMS [direct kfwd-fastpath kfwd-userspace haproxy nginx socat]
#   BENCH_PORT_BASE [17000]   loopback ports BASE..BASE+51 are used
#   BENCH_MAX_SECONDS [3600]  time budget: no new slot starts after it
#   BENCH_HAPROXY_SPLICE [0]  1: HAProxy with `option splice-auto`
#   BENCH_OUT [perf/results/<date>-tcp.json; quick: build/perf/results/<date>-tcp-quick.json]
#   BENCH_KEEP [0]            1: keep the temp dir (configs, logs, raw data)
#   KFWD [build/kfwd]
#   BENCH_UDP [1]             0: skip the UDP part (perf/run-udp.sh, run after this one)
#   BENCH_TUNNEL [1]          0: skip the QUIC tunnel part (perf/run-tunnel.sh, run after UDP)
#   BENCH_CONNECT [1]         0: skip the CONNECT proxy part (perf/run-connect.sh, run last)
#
# kfwd-fastpath runs kfwd with `fastpath = true`; while `kfwd check` rejects
# that key it is reported as skipped, and it runs by itself once the key exists
# (kfwd-userspace then gets `fastpath = false`).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_TAG=bench
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

if ((QUICK)); then
	d_rounds=2 d_bytes=256M d_ping=2000 d_conn=1
else
	d_rounds=5 d_bytes=4G d_ping=20000 d_conn=5
fi
ROUNDS=${BENCH_ROUNDS:-$d_rounds}
BYTES_SPEC=${BENCH_BYTES:-$d_bytes}
PING_N=${BENCH_PING_N:-$d_ping}
CONN_SECS=${BENCH_CONN_SECS:-$d_conn}
CONN_WORKERS=${BENCH_CONN_WORKERS:-8}
WORKERS=${BENCH_WORKERS:-2}
PORT_BASE=${BENCH_PORT_BASE:-17000}
MAX_SECONDS=${BENCH_MAX_SECONDS:-3600}
HAPROXY_SPLICE=${BENCH_HAPROXY_SPLICE:-0}
KEEP=${BENCH_KEEP:-0}
KFWD=${KFWD:-build/kfwd}
read -r -a SYSTEMS <<<"${BENCH_SYSTEMS:-direct kfwd-fastpath kfwd-userspace haproxy nginx socat}"

for v in ROUNDS PING_N CONN_SECS CONN_WORKERS WORKERS PORT_BASE MAX_SECONDS; do
	isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS >= 1 && ROUNDS <= 100)) || die "BENCH_ROUNDS must be 1..100"
((CONN_SECS >= 1 && CONN_SECS <= 600)) || die "BENCH_CONN_SECS must be 1..600"
((WORKERS >= 1 && WORKERS <= 64)) || die "BENCH_WORKERS must be 1..64"
((PORT_BASE >= 1024 && PORT_BASE <= 65000)) || die "BENCH_PORT_BASE must be 1024..65000"
BYTES=$(numfmt --from=iec "$BYTES_SPEC" 2>/dev/null) || die "BENCH_BYTES: bad size '$BYTES_SPEC'"
((BYTES >= 1048576)) || die "BENCH_BYTES must be at least 1M"
for s in "${SYSTEMS[@]}"; do
	case $s in direct | kfwd-fastpath | kfwd-userspace | haproxy | nginx | socat) ;;
	*) die "BENCH_SYSTEMS: unknown system '$s'" ;; esac
done
((${#SYSTEMS[@]} > 0)) || die "BENCH_SYSTEMS is empty"

DATE=$(date +%F)
if [[ -n ${BENCH_OUT:-} ]]; then
	OUT=$BENCH_OUT
elif ((QUICK)); then
	OUT=build/perf/results/$DATE-tcp-quick.json # smoke runs stay out of the committed results/
else
	OUT=perf/results/$DATE-tcp.json
fi

# The exact command, with the settings that came from the environment.
CMDLINE=$(bench_cmdline perf/run.sh "$@")

# Debian's own interpreter first: Debian's python3-* packages (matplotlib for
# the optional chart) are installed for it, not for a python3 earlier in PATH.
PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
command -v "$PY" >/dev/null || die "python3 is required"
command -v iperf3 >/dev/null || die "iperf3 is required (bash scripts/deps.sh --bench)"
command -v gcc >/dev/null || die "gcc is required"
command -v ss >/dev/null || die "ss (iproute2) is required"

# ---------------------------------------------------------------------------
# Load generators: compiled here, never by the Makefile.
# ---------------------------------------------------------------------------
bench_tools echo pingpong connrate

# ---------------------------------------------------------------------------
# Processes: each background process runs under timeout(1), which puts it in a
# process group of its own (pgid = the pid we record) and ends it by itself
# after the time budget even if this script is killed with SIGKILL.
# ---------------------------------------------------------------------------
TMP=$(mktemp -d /tmp/kfwd-perf.XXXXXX) || die "mktemp failed"
LIFETIME=$((MAX_SECONDS + 900))
BG_PIDS=()
CLIENT_PID=
RAW=$TMP/raw.jsonl
: >"$RAW"



cleanup() {
	trap - EXIT INT TERM HUP
	stop_all
	if ((KEEP)); then
		say "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything started"; exit 130' INT TERM HUP



port_listening() { [[ -n $(ss -Hltn "sport = :$1" 2>/dev/null) ]]; }

# wait_ports PID PORT...: all ports listen within 5 s while PID lives.
wait_ports() {
	local pid=$1 p i
	shift
	for p in "$@"; do
		for ((i = 0; i < 50; i++)); do
			port_listening "$p" && break
			kill -0 "$pid" 2>/dev/null || return 2
			sleep 0.1
		done
		port_listening "$p" || { WAIT_FAIL="port $p not listening after 5 s"; return 1; }
	done
	return 0
}


HZ=$(getconf CLK_TCK)
# Descriptor budget of the peers: what this shell may open (HAProxy refuses to
# start when its maxconn needs more than the hard limit).
NOFILE=$(ulimit -Hn)
[[ $NOFILE == unlimited ]] && NOFILE=1048576
MAXCONN=$(((NOFILE - 256) / 2))
((MAXCONN > 100000)) && MAXCONN=100000
((MAXCONN >= 1000)) || die "open-file limit too low for the peers: ulimit -Hn = $NOFILE"

# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------
BE_TP=$PORT_BASE BE_ECHO=$((PORT_BASE + 1))
declare -A P_TP=([direct]=$BE_TP [kfwd-fastpath]=$((PORT_BASE + 10)) [kfwd-userspace]=$((PORT_BASE + 20))
	[haproxy]=$((PORT_BASE + 30)) [nginx]=$((PORT_BASE + 40)) [socat]=$((PORT_BASE + 50)))
declare -A P_ECHO
for s in "${!P_TP[@]}"; do P_ECHO[$s]=$((P_TP[$s] + 1)); done

# STATUS[s]: "" (runs), "skipped: ..." or "failed: ..." (decided before round 1)
# shellcheck disable=SC2034 # KFWD_PATHS is read through a nameref (kv)
declare -A STATUS=() VERSION=() KFWD_PATHS=()
for s in "${SYSTEMS[@]}"; do STATUS[$s]=; done

# ---------------------------------------------------------------------------
# Versions and machine
VERSION[iperf3]=$(first_line iperf3 --version)
VERSION[gcc]=$(first_line gcc --version)
# kfwd is copied once: a rebuild of build/kfwd during the run (other work in
# the same tree) must not change the binary between rounds.
KBIN=
if [[ -x $KFWD ]]; then
	if cp "$KFWD" "$TMP/kfwd"; then
		KBIN=$TMP/kfwd
		VERSION[kfwd]="$(first_line "$KBIN" --version) (sha256 $(sha256sum <"$KBIN" | cut -c1-16), tree $(git describe --always --dirty 2>/dev/null || echo unknown))"
	fi
fi
command -v haproxy >/dev/null && VERSION[haproxy]=$(haproxy -v 2>&1 | head -n1 | sed 's/ - https.*//')
command -v nginx >/dev/null && VERSION[nginx]=$(first_line nginx -v)
command -v socat >/dev/null && VERSION[socat]=$(socat -V 2>&1 | sed -n 's/^socat version \([^ ]*\).*/socat \1/p' | head -n1)
NGINX_STREAM_MOD=/usr/lib/nginx/modules/ngx_stream_module.so
# shellcheck disable=SC2034 # VERSION is read through a nameref (kv)
[[ -f $NGINX_STREAM_MOD ]] && VERSION[libnginx-mod-stream]=$(dpkg-query -W -f='${Version}' libnginx-mod-stream 2>/dev/null)

# ---------------------------------------------------------------------------
# Configs (written once; started fresh for every slot)
# ---------------------------------------------------------------------------
kfwd_conf() { # FILE PORT_TP PORT_ECHO FASTPATH(true|false|"")
	local fp=
	[[ -n $4 ]] && fp=" fastpath = $4;"
	cat >"$1" <<-EOF
		# perf/run.sh: kfwd under test (${4:-default path})
		global = { workers = $WORKERS; control_socket = "$TMP/kfwd-$2.sock"; instance = "perf-$$-$2";
		           bpf_pin_path = "/sys/fs/bpf/kfwd-perf"; shutdown_grace_ms = 0; };
		listeners = (
		  { name = "tp";   bind = "127.0.0.1:$2"; proto = "tcp"; backends = ( "127.0.0.1:$BE_TP" );$fp },
		  { name = "echo"; bind = "127.0.0.1:$3"; proto = "tcp"; backends = ( "127.0.0.1:$BE_ECHO" );$fp }
		);
	EOF
}

prepare() {
	local s=$1
	case $s in
	direct) ;;
	kfwd-fastpath | kfwd-userspace)
		[[ -n $KBIN ]] || { STATUS[$s]="failed: $KFWD not found (run make)"; return; }
		local fpconf=$TMP/kfwd-fastpath-probe.conf
		kfwd_conf "$fpconf" "${P_TP[kfwd-fastpath]}" "${P_ECHO[kfwd-fastpath]}" true
		if "$KBIN" check -c "$fpconf" >"$TMP/check.out" 2>&1; then
			FASTPATH_KEY=1
		else
			FASTPATH_KEY=0
			FASTPATH_ERR=$(grep -m1 -i fastpath "$TMP/check.out" | sed "s|^$TMP/[^:]*:[0-9]*: *||")
			[[ -n $FASTPATH_ERR ]] || FASTPATH_ERR=$(head -n1 "$TMP/check.out" | sed "s|^$TMP/[^:]*:[0-9]*: *||")
		fi
		if [[ $s == kfwd-fastpath ]]; then
			if ((!FASTPATH_KEY)); then
				STATUS[$s]="skipped: '$KFWD check' rejects the per-listener key 'fastpath' ($FASTPATH_ERR); this system runs by itself once kfwd accepts it"
				return
			fi
			cp "$fpconf" "$TMP/$s.conf"
		else
			if ((FASTPATH_KEY)); then
				kfwd_conf "$TMP/$s.conf" "${P_TP[$s]}" "${P_ECHO[$s]}" false
			else
				kfwd_conf "$TMP/$s.conf" "${P_TP[$s]}" "${P_ECHO[$s]}" ""
			fi
			if ! "$KBIN" check -c "$TMP/$s.conf" >"$TMP/check.out" 2>&1; then
				STATUS[$s]="failed: config rejected by kfwd check: $(oneline "$TMP/check.out")"
			fi
		fi
		;;
	haproxy)
		command -v haproxy >/dev/null || { STATUS[$s]="failed: haproxy not installed (bash scripts/deps.sh --bench)"; return; }
		local splice=
		((HAPROXY_SPLICE)) && splice="    option splice-auto"
		cat >"$TMP/haproxy.cfg" <<-EOF
			# perf/run.sh: HAProxy in tcp mode, no logging
			global
			    nbthread $WORKERS
			    maxconn $MAXCONN
			defaults
			    mode tcp
			    timeout connect 5s
			    timeout client 120s
			    timeout server 120s
			$splice
			frontend tp
			    bind 127.0.0.1:${P_TP[$s]}
			    default_backend tp
			backend tp
			    server s1 127.0.0.1:$BE_TP
			frontend echo
			    bind 127.0.0.1:${P_ECHO[$s]}
			    default_backend echo
			backend echo
			    server s1 127.0.0.1:$BE_ECHO
		EOF
		haproxy -c -q -f "$TMP/haproxy.cfg" >"$TMP/check.out" 2>&1 ||
			STATUS[$s]="failed: haproxy -c: $(oneline "$TMP/check.out")"
		;;
	nginx)
		command -v nginx >/dev/null || { STATUS[$s]="failed: nginx not installed (bash scripts/deps.sh --bench)"; return; }
		[[ -f $NGINX_STREAM_MOD ]] || { STATUS[$s]="failed: $NGINX_STREAM_MOD missing (libnginx-mod-stream)"; return; }
		mkdir -p "$TMP/nginx"
		cat >"$TMP/nginx/nginx.conf" <<-EOF
			# perf/run.sh: nginx stream proxy, no access log
			load_module $NGINX_STREAM_MOD;
			daemon off;
			worker_processes $WORKERS;
			worker_rlimit_nofile $NOFILE;
			pid $TMP/nginx/nginx.pid;
			error_log $TMP/nginx/error.log warn;
			events { worker_connections $MAXCONN; }
			stream {
			    access_log off;
			    server { listen 127.0.0.1:${P_TP[$s]} reuseport backlog=4096; proxy_pass 127.0.0.1:$BE_TP; }
			    server { listen 127.0.0.1:${P_ECHO[$s]} reuseport backlog=4096; proxy_pass 127.0.0.1:$BE_ECHO; }
			}
		EOF
		nginx -t -q -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/check.out" 2>&1 ||
			STATUS[$s]="failed: nginx -t: $(oneline "$TMP/check.out")"
		;;
	socat)
		command -v socat >/dev/null || STATUS[$s]="failed: socat not installed"
		;;
	esac
}

# start_system S: start S's processes and check both ports answer and the
# echo path round-trips. Sets SYS_PIDS; on failure sets START_ERR, returns 1.
SYS_PIDS=()
start_system() {
	local s=$1 log=$TMP/$1.log pid rc=0
	SYS_PIDS=()
	START_ERR=
	for p in "${P_TP[$s]}" "${P_ECHO[$s]}"; do
		[[ $s == direct ]] && break
		port_listening "$p" && { START_ERR="port $p already in use by another process"; return 1; }
	done
	case $s in
	direct) ;;
	kfwd-*)
		start_bg "$log" "$KBIN" run -c "$TMP/$s.conf" --log-level warn
		SYS_PIDS=("$BG_LAST")
		;;
	haproxy)
		start_bg "$log" haproxy -db -f "$TMP/haproxy.cfg"
		SYS_PIDS=("$BG_LAST")
		;;
	nginx)
		start_bg "$log" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
		SYS_PIDS=("$BG_LAST")
		;;
	socat)
		start_bg "$log" socat -lf "$TMP/socat-tp.log" \
			"TCP4-LISTEN:${P_TP[$s]},bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" \
			"TCP4:127.0.0.1:$BE_TP,nodelay"
		SYS_PIDS=("$BG_LAST")
		start_bg "$TMP/socat-echo.out" socat -lf "$TMP/socat-echo.log" \
			"TCP4-LISTEN:${P_ECHO[$s]},bind=127.0.0.1,fork,reuseaddr,backlog=4096,nodelay" \
			"TCP4:127.0.0.1:$BE_ECHO,nodelay"
		SYS_PIDS+=("$BG_LAST")
		;;
	esac
	for pid in "${SYS_PIDS[@]}"; do
		WAIT_FAIL=
		wait_ports "$pid" "${P_TP[$s]}" "${P_ECHO[$s]}" || rc=$?
		if ((rc)); then
			sleep 0.2
			if ((rc == 2)) || ! kill -0 "$pid" 2>/dev/null; then
				START_ERR="exited at start: $(oneline "$log")"
				[[ $s == nginx ]] && START_ERR+=" $(oneline "$TMP/nginx/error.log")"
			else
				START_ERR=$WAIT_FAIL
			fi
			stop_system
			return 1
		fi
	done
	if ! run_client 15 "$TMP/probe.out" "$TMP/probe.err" \
		"$TOOLS/pingpong" -c "127.0.0.1:${P_ECHO[$s]}" -n 10 -w 0 -t 2000 -D 10; then
		START_ERR="echo path does not answer: $(oneline "$TMP/probe.err")"
		stop_system
		return 1
	fi
	# kfwd: the path each listener really runs (stats), checked against the wanted one.
	if [[ $s == kfwd-* ]]; then
		"$KBIN" stats --json -s "$TMP/kfwd-${P_TP[$s]}.sock" >"$TMP/$s.stats.json" 2>/dev/null
		KPATH=$("$PY" perf/report.py kfwd-path "$TMP/$s.stats.json")
		# shellcheck disable=SC2034 # read through a nameref (kv)
		KFWD_PATHS[$s]=$KPATH
		if [[ $s == kfwd-fastpath && $KPATH == *userspace* ]]; then
			START_ERR="fastpath = true but kfwd stats reports listener path(s) '$KPATH'"
			stop_system
			return 1
		fi
		if [[ $s == kfwd-userspace && $KPATH != userspace ]]; then
			START_ERR="kfwd stats reports listener path(s) '$KPATH', not userspace"
			stop_system
			return 1
		fi
	fi
	return 0
}

stop_system() {
	local pid
	for pid in "${SYS_PIDS[@]}"; do
		stop_bg "$pid"
	done
	SYS_PIDS=()
}

# ---------------------------------------------------------------------------
# Backends: iperf3 server (throughput) and perf/echo (latency, connections)
# ---------------------------------------------------------------------------
IPERF_PID=
start_iperf() {
	start_bg "$TMP/iperf3-server.log" iperf3 -s -B 127.0.0.1 -p "$BE_TP"
	IPERF_PID=$BG_LAST
	WAIT_FAIL=
	wait_ports "$IPERF_PID" "$BE_TP" || die "iperf3 server did not start: ${WAIT_FAIL:-$(oneline "$TMP/iperf3-server.log")}"
}
restart_iperf() {
	stop_bg "$IPERF_PID"
	sleep 0.5
	start_iperf
}

ECHO_PID=
start_echo() {
	start_bg "$TMP/echo.log" "$TOOLS/echo" -l "127.0.0.1:$BE_ECHO" -t "$WORKERS" -T "$LIFETIME"
	ECHO_PID=$BG_LAST
	WAIT_FAIL=
	wait_ports "$ECHO_PID" "$BE_ECHO" || die "echo backend did not start: ${WAIT_FAIL:-$(oneline "$TMP/echo.log")}"
}

record() { # ROUND SYSTEM TEST JSON-VALUE|"" ERROR
	if [[ -n $4 ]]; then
		printf '{"r":%d,"s":"%s","t":"%s","ok":true,"v":%s}\n' "$1" "$2" "$3" "$4" >>"$RAW"
	else
		printf '{"r":%d,"s":"%s","t":"%s","ok":false,"err":%s}\n' "$1" "$2" "$3" "$(jstr "$5")" >>"$RAW"
	fi
}

# ---------------------------------------------------------------------------
# Tests of one system in one round
# ---------------------------------------------------------------------------
test_ping() { # R S
	local out=$TMP/ping.out err=$TMP/ping.err
	if run_client 150 "$out" "$err" "$TOOLS/pingpong" -c "127.0.0.1:${P_ECHO[$2]}" \
		-n "$PING_N" -w 200 -s 1 -t 2000 -D 120; then
		record "$1" "$2" ping "$(head -n1 "$out")"
		SUMMARY+=" ping $("$PY" perf/report.py fmt-ping "$out")"
	else
		record "$1" "$2" ping "" "pingpong: $(oneline "$err")"
		SUMMARY+=" ping FAILED"
	fi
}

test_tput() { # R S STREAMS
	local r=$1 s=$2 n=$3 out=$TMP/iperf.json err=$TMP/iperf.err b0 b1 tmo try v
	# Fails below ~0.8 Gbit/s: far under any relay here, and bounds a stall.
	tmo=$((30 + BYTES / 100000000))
	for try in 1 2; do
		sleep 0.3
		b0=$(cpu_busy)
		run_client "$tmo" "$out" "$err" iperf3 -c 127.0.0.1 -p "${P_TP[$s]}" -n "$BYTES" -P "$n" -J \
			--connect-timeout 3000 --snd-timeout 10000
		b1=$(cpu_busy)
		v=$("$PY" perf/report.py iperf "$out" "$((b1 - b0))" "$HZ" "$err")
		# The one-test-at-a-time iperf3 server may still be closing the last test.
		[[ $v == *'"error"'*busy* && $try == 1 ]] && { sleep 2; continue; }
		break
	done
	if [[ $v == *'"error"'* ]]; then
		record "$r" "$s" "tput$n" "" "iperf3 -P $n: $("$PY" -c 'import json,sys; print(json.loads(sys.argv[1])["error"])' "$v")"
		SUMMARY+=" | $n-stream FAILED"
		restart_iperf # a half-finished test can leave the server stuck
	else
		record "$r" "$s" "tput$n" "$v"
		SUMMARY+=" | $n-stream $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.2f Gbit/s %.2f CPU-s/GB" % (d["gbps"], d["cpu_s_per_gb"]))' "$v")"
	fi
}

test_conn() { # R S
	local out=$TMP/conn.out err=$TMP/conn.err
	if run_client $((CONN_SECS + 60)) "$out" "$err" "$TOOLS/connrate" -c "127.0.0.1:${P_ECHO[$2]}" \
		-k "$CONN_WORKERS" -d "$CONN_SECS" -s 32 -t 2000; then
		record "$1" "$2" conn "$(head -n1 "$out")"
		SUMMARY+=" | $("$PY" -c 'import json,sys; d=json.loads(open(sys.argv[1]).readline()); print("%.0f conn/s (%d errors)" % (d["rate"], d["errors"]))' "$out")"
	else
		record "$1" "$2" conn "" "connrate: $(oneline "$err") $(oneline "$out")"
		SUMMARY+=" | conn FAILED"
	fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
say "systems: ${SYSTEMS[*]}; $ROUNDS round(s), $BYTES_SPEC per iperf3 run, $PING_N ping-pongs, ${CONN_SECS}s x $CONN_WORKERS connecting workers, $WORKERS proxy workers"
say "temp dir $TMP; results -> $OUT"
for p in "$BE_TP" "$BE_ECHO"; do
	port_listening "$p" && die "backend port $p is already in use (set BENCH_PORT_BASE)"
done
FASTPATH_KEY=0 FASTPATH_ERR=
for s in "${SYSTEMS[@]}"; do
	prepare "$s"
	[[ -n ${STATUS[$s]} ]] && say "$s: ${STATUS[$s]}"
done

start_iperf
start_echo

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
		if ! kill -0 "$ECHO_PID" 2>/dev/null; then
			say "echo backend died ($(oneline "$TMP/echo.log")); restarting it"
			forget_pid "$ECHO_PID"
			start_echo
		fi
		if ! start_system "$s"; then
			record "$r" "$s" start "" "$START_ERR"
			say "round $((r + 1))/$ROUNDS $s: failed to start: $START_ERR"
			FAILS[$s]=$((${FAILS[$s]:-0} + 1))
			continue
		fi
		test_ping "$r" "$s"
		test_tput "$r" "$s" 1
		test_tput "$r" "$s" 4
		test_conn "$r" "$s"
		if [[ $s != direct ]] && ! kill -0 "${SYS_PIDS[0]}" 2>/dev/null; then
			record "$r" "$s" alive "" "process exited during the tests: $(oneline "$TMP/$s.log")"
			SUMMARY+=" | EXITED during the tests"
		fi
		stop_system
		say "round $((r + 1))/$ROUNDS $s:$SUMMARY"
	done
done

stop_bg "$ECHO_PID"
stop_bg "$IPERF_PID"

# ---------------------------------------------------------------------------
# Report
M_BYTES=$BYTES M_PING=$PING_N M_CONN=$CONN_SECS M_CONNW=$CONN_WORKERS
M_WORKERS=$WORKERS M_SPLICE=$HAPROXY_SPLICE M_KPATHS=$(kv KFWD_PATHS)
export M_BYTES M_PING M_CONN M_CONNW M_WORKERS M_SPLICE M_KPATHS
bench_report report.py report

# ---------------------------------------------------------------------------
# UDP part: perf/run-udp.sh (own namespaces, see its header). BENCH_UDP=0 skips it.
# ---------------------------------------------------------------------------
if [[ ${BENCH_UDP:-1} != 0 ]]; then
	say "UDP part: bash perf/run-udp.sh$( ((QUICK)) && echo ' --quick')"
	udp_args=()
	((QUICK)) && udp_args=(--quick)
	bash perf/run-udp.sh "${udp_args[@]}" || exit $?
fi

# ---------------------------------------------------------------------------
# QUIC tunnel part: perf/run-tunnel.sh (own namespaces). BENCH_TUNNEL=0 skips it.
# ---------------------------------------------------------------------------
if [[ ${BENCH_TUNNEL:-1} != 0 ]]; then
	say "tunnel part: bash perf/run-tunnel.sh$( ((QUICK)) && echo ' --quick')"
	tun_args=()
	((QUICK)) && tun_args=(--quick)
	bash perf/run-tunnel.sh "${tun_args[@]}" || exit $?
fi

# ---------------------------------------------------------------------------
# CONNECT proxy part: perf/run-connect.sh (loopback). BENCH_CONNECT=0 skips it.
# ---------------------------------------------------------------------------
if [[ ${BENCH_CONNECT:-1} != 0 ]]; then
	say "CONNECT part: bash perf/run-connect.sh$( ((QUICK)) && echo ' --quick')"
	cx_args=()
	((QUICK)) && cx_args=(--quick)
	bash perf/run-connect.sh "${cx_args[@]}" || exit $?
fi
