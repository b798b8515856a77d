#!/usr/bin/env bash
# perf/run-tunnel.sh — kfwd's QUIC tunnel (two kfwd peers, mutual TLS) against
# stunnel4 (TLS over TCP, client stunnel -> server stunnel, mutual TLS too),
# `make bench` runs it after the TCP and UDP parts.
#
#   bash perf/run-tunnel.sh [--quick]
#
# Three tests, systems alternating round by round (order rotated each round):
#  (a) bulk: one stream of BYTES through the relay to an iperf3 server
#      (kfwd: listener mode "forward" via the tunnel -> kfwd server -> iperf3;
#      stunnel: client stunnel -> server stunnel -> iperf3), receiver Gbit/s
#      and CPU-s per GB; plus, once per system, BYTES of kfwd-peer's stream
#      whose SHA-256 must arrive unchanged;
#  (b) small requests: wrk (1 thread, CONNS keep-alive connections, SECS s)
#      for a 100-byte file from nginx, through `mode = "http"` / stunnel;
#  (c) first request after IDLE s idle over a link with 25 ms delay each way
#      (50 ms RTT): the client side runs in another namespace, joined to the
#      server side by TUN devices whose packets go through
#      build/tools/udp-impair (perf/tunlink.py), so TCP and QUIC see the same
#      delay. kfwd keeps its QUIC session (keep-alive); stunnel opens a fresh
#      TCP + TLS connection per request (curl connects anew each time).
#      Reported in ms and in RTTs (of the configured 50 ms).
# (a) and (b) run on loopback inside one namespace of the run's own.
# Medians over the rounds, ratios to stunnel; table on stdout, everything in
# perf/results/<YYYY-MM-DD>-tunnel.json.
#
# kfwd runs only when `kfwd check` accepts the tunnel configs; until then it is
# reported as "skipped: <reason>" and the stunnel parts run alone.
#
# Environment (defaults in brackets; BENCH_QUICK=1 / --quick: 2 rounds,
# 256M, 2 s, 3 s idle):
#   BENCH_TUN_ROUNDS [5]      rounds
#   BENCH_TUN_BYTES [1G]      bytes per bulk run (K/M/G = 2^10..)
#   BENCH_TUN_SECS [5]        seconds of wrk per round
#   BENCH_TUN_CONNS [16]      wrk connections
#   BENCH_TUN_IDLE [10]       seconds idle before the measured request in (c)
#   BENCH_TUN_DELAY_MS [25]   one-way delay of the link in (c)
#   BENCH_TUN_SYSTEMS [kfwd-tunnel kfwd-tunnel-bigudp stunnel]
#                             kfwd-tunnel-bigudp: kfwd with max_udp_payload
#                             set to the largest tsrv's lo takes (MTU - 28),
#                             what one would set on a jumbo-frame link
#   BENCH_TUN_MTU [65536]     MTU of tsrv's loopback, where (a) and (b) run:
#                             1500 or 9000 to see an Ethernet or jumbo-frame
#                             link's packet sizes (TCP keeps its 64 KiB
#                             offload segments on lo either way)
#   BENCH_TUN_TRANSPORT []    more tunnel.transport keys for both kfwd peers,
#                             e.g. "max_udp_payload = 8952;"
#   BENCH_WORKERS [2]         kfwd workers
#   BENCH_MAX_SECONDS [1800]  time budget: no new slot starts after it
#   BENCH_TUN_OUT [perf/results/<date>-tunnel.json; quick: build/perf/results/<date>-tunnel-quick.json]
#   BENCH_KEEP [0]            1: keep the temp dir (configs, logs, raw data)
#   KFWD [build/kfwd]
# Needs root (network namespaces, TUN devices).
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
BENCH_TAG=bench-tunnel
# shellcheck source=perf/lib.sh
source perf/lib.sh
T_START=$SECONDS
START_ISO=$(date -u +%Y-%m-%dT%H:%M:%SZ)

QUICK=${BENCH_QUICK:-0}
for arg in "$@"; do
	case $arg in
	--quick) QUICK=1 ;;
	-h | --help) sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown argument: $arg (see --help)" ;;
	esac
done
[[ $QUICK == 1 ]] || QUICK=0
if ((QUICK)); then d_rounds=2 d_bytes=256M d_secs=2 d_idle=3; else d_rounds=5 d_bytes=1G d_secs=5 d_idle=10; fi
ROUNDS=${BENCH_TUN_ROUNDS:-$d_rounds}
BYTES_SPEC=${BENCH_TUN_BYTES:-$d_bytes}
SECS=${BENCH_TUN_SECS:-$d_secs}
CONNS=${BENCH_TUN_CONNS:-16}
IDLE=${BENCH_TUN_IDLE:-$d_idle}
DELAY_MS=${BENCH_TUN_DELAY_MS:-25}
LO_MTU=${BENCH_TUN_MTU:-65536}
TRANSPORT=${BENCH_TUN_TRANSPORT:-}
WORKERS=${BENCH_WORKERS:-2}
MAX_SECONDS=${BENCH_MAX_SECONDS:-1800}
KEEP=${BENCH_KEEP:-0}
KFWD=${KFWD:-build/kfwd}
read -r -a SYSTEMS <<<"${BENCH_TUN_SYSTEMS:-kfwd-tunnel kfwd-tunnel-bigudp stunnel}"

case $BYTES_SPEC in
*[kK]) BYTES=$((${BYTES_SPEC%?} << 10)) ;;
*[mM]) BYTES=$((${BYTES_SPEC%?} << 20)) ;;
*[gG]) BYTES=$((${BYTES_SPEC%?} << 30)) ;;
*) BYTES=$BYTES_SPEC ;;
esac 2>/dev/null
isint "${BYTES:-x}" && ((BYTES >= 1048576)) || die "BENCH_TUN_BYTES must be at least 1M (got '$BYTES_SPEC')"
for v in ROUNDS SECS CONNS IDLE DELAY_MS WORKERS MAX_SECONDS LO_MTU; do
	isint "${!v}" || die "$v must be a non-negative integer (got '${!v}')"
done
((ROUNDS >= 1 && ROUNDS <= 100)) || die "BENCH_TUN_ROUNDS must be 1..100"
((SECS >= 1 && SECS <= 600)) || die "BENCH_TUN_SECS must be 1..600"
((CONNS >= 1 && CONNS <= 1000)) || die "BENCH_TUN_CONNS must be 1..1000"
((IDLE <= 600)) || die "BENCH_TUN_IDLE must be 0..600"
((DELAY_MS >= 1 && DELAY_MS <= 1000)) || die "BENCH_TUN_DELAY_MS must be 1..1000"
((LO_MTU >= 1280 && LO_MTU <= 65536)) || die "BENCH_TUN_MTU must be 1280..65536"
[[ $TRANSPORT != *[\"{}]* ]] || die "BENCH_TUN_TRANSPORT: no quotes or braces, only 'key = value;' pairs"
((WORKERS >= 1 && WORKERS <= 64)) || die "BENCH_WORKERS must be 1..64"
((${#SYSTEMS[@]} > 0)) || die "BENCH_TUN_SYSTEMS is empty"
for s in "${SYSTEMS[@]}"; do
	case $s in kfwd-tunnel | kfwd-tunnel-bigudp | stunnel) ;; *) die "BENCH_TUN_SYSTEMS: unknown system '$s'" ;; esac
done

DATE=$(date +%F)
if [[ -n ${BENCH_TUN_OUT:-} ]]; then
	OUT=$BENCH_TUN_OUT
elif ((QUICK)); then
	OUT=build/perf/results/$DATE-tunnel-quick.json
else
	OUT=perf/results/$DATE-tunnel.json
fi
CMDLINE=$(bench_cmdline perf/run-tunnel.sh "$@")

PY=python3
[[ -x /usr/bin/python3 ]] && PY=/usr/bin/python3
((EUID == 0)) || die "needs root (network namespaces, TUN devices); skipped"
for t in "$PY" ip ss openssl iperf3 wrk curl nginx make; do
	command -v "$t" >/dev/null || die "$t is required (bash scripts/deps.sh --bench)"
done
STUNNEL=$(command -v stunnel4 || command -v stunnel) || STUNNEL=
make -s --no-print-directory build/tools/udp-impair build/tools/kfwd-peer || die "building the test tools failed"
IMPAIR=$(realpath build/tools/udp-impair) PEER=$(realpath build/tools/kfwd-peer)
HZ=$(getconf CLK_TCK)

TMP=$(mktemp -d /tmp/kfwd-perf-tunnel.XXXXXX) || die "mktemp failed"
chmod 755 "$TMP" # nginx's workers (not root) read the files under it
LIFETIME=$((MAX_SECONDS + 900))
BG_PIDS=()
CLIENT_PID=
RAW=$TMP/raw.jsonl
: >"$RAW"
NS_S=kfwdperf-$$-tsrv NS_C=kfwdperf-$$-tcli NS_W=kfwdperf-$$-twire
NS_MADE=()

cleanup() {
	local ns
	trap - EXIT INT TERM HUP
	stop_all
	for ns in "${NS_MADE[@]}"; do ip netns delete "$ns" 2>/dev/null; done
	if ((KEEP)); then say "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'say "interrupted: stopping everything started"; exit 130' INT TERM HUP

start_bg_ns() { local log=$1 ns=$2; shift 2; start_bg "$log" ip netns exec "$ns" "$@"; }
run_client_ns() { local secs=$1 out=$2 err=$3 ns=$4; shift 4; run_client "$secs" "$out" "$err" ip netns exec "$ns" "$@"; }
bound() { [[ -n $(ip netns exec "$1" ss -Hln"$2" "sport = :$3" 2>/dev/null) ]]; }
wait_bound() { # PID NS t|u PORT: bound within 10 s while PID lives (1: timeout, 2: exited)
	local i
	for ((i = 0; i < 100; i++)); do
		bound "$2" "$3" "$4" && return 0
		kill -0 "$1" 2>/dev/null || return 2
		sleep 0.1
	done
	return 1
}

# ---------------------------------------------------------------------------
# Namespaces: tsrv (all of (a) and (b) on its loopback; the server side of
# (c)), tcli (the client side of (c)), twire (udp-impair and the tunnel
# sockets of the link). Nothing is created in the host namespace.
# ---------------------------------------------------------------------------
C_IP=10.80.0.1 S_IP=10.80.0.2
IMPAIR_PORT=7000 LINKB_PORT=7001
make_namespaces() {
	local ns
	for ns in "$NS_S" "$NS_C" "$NS_W"; do
		[[ -e /run/netns/$ns ]] && die "namespace $ns exists already"
		ip netns add "$ns" || die "ip netns add $ns failed"
		NS_MADE+=("$ns")
		ip -n "$ns" link set lo up
	done
	ip -n "$NS_S" link set lo mtu "$LO_MTU" || die "setting tsrv's lo mtu $LO_MTU failed"
}

# The 50 ms link: udp-impair in twire, TUN devices tl0 in tcli and tsrv.
LINK_OK=0 LINK_ERR='' LINK_PING=''
make_link() {
	local pid i
	start_bg "$TMP/impair.log" ip netns exec "$NS_W" "$IMPAIR" --listen 127.0.0.1:$IMPAIR_PORT \
		--upstream 127.0.0.1:$LINKB_PORT --delay "$DELAY_MS" --stats "$TMP/impair.stats"
	pid=$BG_LAST
	wait_bound "$pid" "$NS_W" u $IMPAIR_PORT || { LINK_ERR="udp-impair: $(oneline "$TMP/impair.log")"; return 1; }
	start_bg "$TMP/tunlink.log" "$PY" perf/tunlink.py "$NS_C" "$NS_S" "$NS_W" $IMPAIR_PORT $LINKB_PORT
	pid=$BG_LAST
	for ((i = 0; i < 50; i++)); do
		grep -q '^ready' "$TMP/tunlink.log" 2>/dev/null && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	grep -q '^ready' "$TMP/tunlink.log" || { LINK_ERR="tunlink: $(oneline "$TMP/tunlink.log")"; return 1; }
	ip -n "$NS_C" addr add $C_IP/24 dev tl0 && ip -n "$NS_C" link set tl0 mtu 1400 up &&
		ip -n "$NS_S" addr add $S_IP/24 dev tl0 && ip -n "$NS_S" link set tl0 mtu 1400 up ||
		{ LINK_ERR="addressing tl0 failed"; return 1; }
	# The measured RTT of the link (median of 5 UDP echoes through it), for the report.
	start_bg_ns "$TMP/link-echo.log" "$NS_S" "$PEER" udp-echo --listen $S_IP:7777 --timeout 20000
	pid=$BG_LAST
	wait_bound "$pid" "$NS_S" u 7777 || { LINK_ERR="udp echo: $(oneline "$TMP/link-echo.log")"; return 1; }
	LINK_PING=$(ip netns exec "$NS_C" "$PY" -c '
import socket, statistics, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
rtt = []
for i in range(5):
    t = time.monotonic()
    s.sendto(b"ping", (sys.argv[1], 7777))
    s.recvfrom(64)
    rtt.append((time.monotonic() - t) * 1e3)
print("%.1f" % statistics.median(rtt))' $S_IP 2>"$TMP/link-ping.err")
	stop_bg "$pid"
	[[ -n $LINK_PING ]] || { LINK_ERR="no echo over the link: $(oneline "$TMP/link-ping.err")"; return 1; }
	LINK_OK=1
}

# ---------------------------------------------------------------------------
# Certificates (a test CA in the temp dir), backends
# ---------------------------------------------------------------------------
make_certs() {
	local d=$TMP/pki role cn usage
	mkdir -p "$d"
	(
		cd "$d" || exit 1
		openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
			-days 2 -subj "/CN=kfwd bench CA" -addext basicConstraints=critical,CA:TRUE \
			-addext keyUsage=critical,keyCertSign,cRLSign || exit 1
		for role in server client; do
			cn=$role.bench usage=serverAuth
			[[ $role == client ]] && usage=clientAuth
			printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=%s\nsubjectAltName=DNS:%s,IP:127.0.0.1,IP:%s\n' \
				"$usage" "$cn" "$S_IP" >$role.ext
			openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $role.key -out $role.csr \
				-subj "/CN=$cn" || exit 1
			openssl x509 -req -in $role.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
				-extfile $role.ext -out $role.pem || exit 1
		done
	) >"$TMP/certs.log" 2>&1 || die "certificates: $(oneline "$TMP/certs.log")"
}

P_IPERF=5201 P_HTTP=8080
start_backends() {
	mkdir -p "$TMP/www" "$TMP/nginx"
	head -c 100 /dev/zero | tr '\0' 'k' >"$TMP/www/small.txt"
	cat >"$TMP/nginx/nginx.conf" <<-EOF
		# perf/run-tunnel.sh: the upstream HTTP server of (b) and (c)
		daemon off;
		worker_processes 1;
		pid $TMP/nginx/nginx.pid;
		error_log $TMP/nginx/error.log warn;
		events { worker_connections 4096; }
		http {
		    access_log off;
		    keepalive_requests 1000000;
		    server { listen 127.0.0.1:$P_HTTP; root $TMP/www; }
		}
	EOF
	start_bg_ns "$TMP/nginx.log" "$NS_S" nginx -p "$TMP/nginx" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf"
	wait_bound "$BG_LAST" "$NS_S" t $P_HTTP || die "nginx did not start: $(oneline "$TMP/nginx/error.log")"
	start_iperf
}
IPERF_PID=
start_iperf() {
	start_bg_ns "$TMP/iperf3.log" "$NS_S" iperf3 -s -B 127.0.0.1 -p $P_IPERF
	IPERF_PID=$BG_LAST
	wait_bound "$IPERF_PID" "$NS_S" t $P_IPERF || die "iperf3 server did not start: $(oneline "$TMP/iperf3.log")"
}

# ---------------------------------------------------------------------------
# Systems. Ports on the client side: bulk 20101, http 20102; the server
# side: stunnel 20443 (bulk) / 20444 (http), kfwd's QUIC 20010/udp.
# ---------------------------------------------------------------------------
P_BULK=20101 P_REQ=20102 P_ST_BULK=20443 P_ST_HTTP=20444 P_QUIC=20010
# shellcheck disable=SC2034 # VERSION is read through a nameref (kv, bench_report)
declare -A STATUS=() VERSION=()
for s in "${SYSTEMS[@]}"; do STATUS[$s]=; done
KBIN=
if [[ -x $KFWD ]] && cp "$KFWD" "$TMP/kfwd"; then
	KBIN=$TMP/kfwd
	VERSION[kfwd]="$(first_line "$KBIN" --version) (tree $(git describe --always --dirty 2>/dev/null || echo unknown))"
fi
[[ -n $STUNNEL ]] && VERSION[stunnel]=$("$STUNNEL" -version 2>&1 | grep -m1 -i '^stunnel')
VERSION[openssl]=$(first_line openssl version)
VERSION[iperf3]=$(first_line iperf3 --version)
VERSION[wrk]=$(wrk -v 2>&1 | head -n1)
VERSION[nginx]=$(first_line nginx -v)
VERSION[curl]=$(first_line curl -V)

# kfwd_confs SYSTEM PEER_HOST: server.conf (in tsrv) and client.conf (tsrv for (a)/(b), tcli for (c)).
BIG_UDP=$((LO_MTU - 28 > 65507 ? 65507 : LO_MTU - 28))
kfwd_confs() {
	# bpffs refuses names with dots (EPERM on pinning): the instance names
	# carry the peer address with its dots and colons made dashes.
	local s=$1 d=$TMP/$1-$2 pki=$TMP/pki tag=${2//[.:]/-} tr=$TRANSPORT
	shift
	[[ $s == kfwd-tunnel-bigudp ]] && tr="max_udp_payload = $BIG_UDP; $tr" tag=big-$tag
	mkdir -p "$d"
	cat >"$d/server.conf" <<-EOF
		# perf/run-tunnel.sh: tunnel server (tsrv)
		global = { workers = $WORKERS; control_socket = "$d/server.sock"; instance = "perftun-$$-s-$tag"; shutdown_grace_ms = 0; };
		tunnel = { role = "server"; bind = "0.0.0.0:$P_QUIC"; peer_name = "client.bench";
		           tls = { ca = "$pki/ca.pem"; cert = "$pki/server.pem"; key = "$pki/server.key"; };
		           transport = { $tr }; };
		upstreams = { http = "127.0.0.1:$P_HTTP"; allow = ( "127.0.0.1:$P_IPERF" ); };
		listeners = ( );
	EOF
	cat >"$d/client.conf" <<-EOF
		# perf/run-tunnel.sh: tunnel client
		global = { workers = $WORKERS; control_socket = "$d/client.sock"; instance = "perftun-$$-c-$tag"; shutdown_grace_ms = 0; };
		tunnel = { role = "client"; peer = "$1:$P_QUIC"; peer_name = "server.bench";
		           tls = { ca = "$pki/ca.pem"; cert = "$pki/client.pem"; key = "$pki/client.key"; };
		           transport = { $tr }; };
		listeners = (
		  { name = "bulk"; bind = "127.0.0.1:$P_BULK"; mode = "forward"; via = "tunnel"; target = "127.0.0.1:$P_IPERF"; },
		  { name = "req"; bind = "127.0.0.1:$P_REQ"; mode = "http"; via = "tunnel"; }
		);
	EOF
}

# stunnel_confs PEER_HOST: the same pair with stunnel, TLS 1.3, mutual certificate checks.
stunnel_confs() {
	local d=$TMP/stunnel-$1 pki=$TMP/pki
	mkdir -p "$d"
	cat >"$d/server.conf" <<-EOF
		; perf/run-tunnel.sh: stunnel server (tsrv)
		foreground = yes
		pid =
		debug = 3
		sslVersionMin = TLSv1.3
		cert = $pki/server.pem
		key = $pki/server.key
		CAfile = $pki/ca.pem
		verifyChain = yes
		socket = l:TCP_NODELAY=1
		socket = r:TCP_NODELAY=1
		[bulk]
		accept = 0.0.0.0:$P_ST_BULK
		connect = 127.0.0.1:$P_IPERF
		[http]
		accept = 0.0.0.0:$P_ST_HTTP
		connect = 127.0.0.1:$P_HTTP
	EOF
	cat >"$d/client.conf" <<-EOF
		; perf/run-tunnel.sh: stunnel client
		foreground = yes
		pid =
		debug = 3
		client = yes
		sslVersionMin = TLSv1.3
		cert = $pki/client.pem
		key = $pki/client.key
		CAfile = $pki/ca.pem
		verifyChain = yes
		checkHost = server.bench
		socket = l:TCP_NODELAY=1
		socket = r:TCP_NODELAY=1
		[bulk]
		accept = 127.0.0.1:$P_BULK
		connect = $1:$P_ST_BULK
		[http]
		accept = 127.0.0.1:$P_REQ
		connect = $1:$P_ST_HTTP
	EOF
}

prepare() {
	local s=$1 h
	case $s in
	kfwd-tunnel | kfwd-tunnel-bigudp)
		[[ -n $KBIN ]] || { STATUS[$s]="skipped: $KFWD not found (run make)"; return; }
		for h in 127.0.0.1 $S_IP; do
			kfwd_confs "$s" $h
			for f in server client; do
				"$KBIN" check -c "$TMP/$s-$h/$f.conf" >"$TMP/check.out" 2>&1 || {
					STATUS[$s]="skipped: kfwd has no tunnel yet (kfwd check rejects the $f config: $(head -n1 "$TMP/check.out" | sed 's|^[^:]*:||'))"
					return
				}
			done
		done
		;;
	stunnel)
		[[ -n $STUNNEL ]] || { STATUS[$s]="failed: stunnel4 not installed (bash scripts/deps.sh --bench)"; return; }
		for h in 127.0.0.1 $S_IP; do stunnel_confs $h; done
		;;
	esac
}

SRV_PID= CLI_PID=
# start_system S PEER_HOST CLIENT_NS: server side in tsrv, client side in CLIENT_NS.
start_system() {
	local s=$1 h=$2 cns=$3 d rc=0
	START_ERR=
	bound "$cns" t $P_BULK && { START_ERR="port $P_BULK already bound"; return 1; }
	case $s in
	kfwd-tunnel | kfwd-tunnel-bigudp)
		d=$TMP/$s-$h
		start_bg_ns "$TMP/$s-server.log" "$NS_S" "$KBIN" run -c "$d/server.conf" --log-level warn
		SRV_PID=$BG_LAST
		wait_bound "$SRV_PID" "$NS_S" u $P_QUIC || rc=$?
		((rc)) || {
			start_bg_ns "$TMP/$s-client.log" "$cns" "$KBIN" run -c "$d/client.conf" --log-level warn
			CLI_PID=$BG_LAST
			wait_bound "$CLI_PID" "$cns" t $P_REQ || rc=$?
		}
		;;
	stunnel)
		d=$TMP/stunnel-$h
		start_bg_ns "$TMP/$s-server.log" "$NS_S" "$STUNNEL" "$d/server.conf"
		SRV_PID=$BG_LAST
		wait_bound "$SRV_PID" "$NS_S" t $P_ST_HTTP || rc=$?
		((rc)) || {
			start_bg_ns "$TMP/$s-client.log" "$cns" "$STUNNEL" "$d/client.conf"
			CLI_PID=$BG_LAST
			wait_bound "$CLI_PID" "$cns" t $P_REQ || rc=$?
		}
		;;
	esac
	if ((rc)); then
		START_ERR="did not start: server: $(oneline "$TMP/$s-server.log") client: $(oneline "$TMP/$s-client.log" 2>/dev/null)"
		stop_system
		return 1
	fi
	# One request end to end (also waits for kfwd's tunnel to come up).
	local i
	for ((i = 0; i < 50; i++)); do
		ip netns exec "$cns" curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$P_REQ/small.txt" && return 0
		sleep 0.2
	done
	START_ERR="no HTTP response through it within 10 s: $(oneline "$TMP/$s-client.log") $(oneline "$TMP/$s-server.log")"
	stop_system
	return 1
}
stop_system() {
	local p
	for p in $CLI_PID $SRV_PID; do stop_bg "$p"; done
	CLI_PID= SRV_PID=
}

record() { # R S TEST JSON|"" ERR
	if [[ -n $4 ]]; then
		printf '{"r":%d,"s":"%s","t":"%s","ok":true,"v":%s}\n' "$1" "$2" "$3" "$4" >>"$RAW"
	else
		printf '{"r":%d,"s":"%s","t":"%s","ok":false,"err":%s}\n' "$1" "$2" "$3" "$(jstr "$5")" >>"$RAW"
	fi
}

# ---------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------
test_verify() { # R S: BYTES of kfwd-peer's stream, SHA-256 compared, once per system
	local srv out=$TMP/verify.out err=$TMP/verify.err sout=$TMP/verify-srv.out tmo=$((60 + BYTES / 50000000))
	start_bg_ns "$sout" "$NS_S" "$PEER" server --listen 127.0.0.1:$P_IPERF --conns 1 --timeout $((tmo * 1000))
	srv=$BG_LAST
	# iperf3 owns that port otherwise: stop it for the check, restart after.
	if ! wait_bound "$srv" "$NS_S" t $P_IPERF; then
		record "$1" "$2" verify "" "kfwd-peer server did not start (port $P_IPERF): $(oneline "$sout")"
		stop_bg "$srv"
		return
	fi
	run_client_ns "$tmo" "$out" "$err" "$NS_S" "$PEER" client --connect 127.0.0.1:$P_BULK --send "$BYTES" \
		--timeout $((tmo * 1000))
	wait "$srv" 2>/dev/null
	forget_pid "$srv"
	local v
	v=$("$PY" - "$out" "$sout" "$BYTES" <<-'EOF'
		import json, sys
		def conn(p):
		    c = [json.loads(l) for l in open(p) if l.startswith('{"conn"')]
		    return c[0] if c else None
		c, s = conn(sys.argv[1]), conn(sys.argv[2])
		ok = bool(c and s and not c["error"] and c["tx_bytes"] == int(sys.argv[3])
		          and (c["tx_bytes"], c["tx_sha256"]) == (s["rx_bytes"], s["rx_sha256"]))
		print(json.dumps({"bytes": c and c["tx_bytes"], "received_bytes": s and s["rx_bytes"],
		                  "sha256_equal": ok,
		                  "sent_sha256": c and c["tx_sha256"], "received_sha256": s and s["rx_sha256"],
		                  "error": (c or {}).get("error") or (None if c else "no client report")}))
	EOF
	)
	record "$1" "$2" verify "$v"
	SUMMARY+=" | sha256 $([[ $v == *'"sha256_equal": true'* ]] && echo equal || echo DIFFERS)"
}

test_bulk() { # R S
	local out=$TMP/iperf.json err=$TMP/iperf.err b0 b1 v tmo=$((30 + BYTES / 50000000))
	sleep 0.3
	b0=$(cpu_busy)
	run_client_ns "$tmo" "$out" "$err" "$NS_S" iperf3 -c 127.0.0.1 -p $P_BULK -n "$BYTES" -P 1 -J \
		--connect-timeout 3000 --snd-timeout 10000
	b1=$(cpu_busy)
	v=$("$PY" perf/report.py iperf "$out" "$((b1 - b0))" "$HZ" "$err")
	if [[ $v == *'"error"'* ]]; then
		record "$1" "$2" bulk "" "iperf3: $v"
		SUMMARY+=" | bulk FAILED"
	else
		record "$1" "$2" bulk "$v"
		SUMMARY+=" | bulk $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.2f Gbit/s %.2f CPU-s/GB" % (d["gbps"], d["cpu_s_per_gb"]))' "$v")"
	fi
}

test_rps() { # R S
	local out=$TMP/wrk.out err=$TMP/wrk.err v
	run_client_ns $((SECS + 30)) "$out" "$err" "$NS_S" wrk -t 1 -c "$CONNS" -d "${SECS}s" --latency \
		"http://127.0.0.1:$P_REQ/small.txt"
	v=$("$PY" - "$out" <<-'EOF'
		import json, re, sys
		t = open(sys.argv[1]).read()
		def num(pat, conv=float):
		    m = re.search(pat, t)
		    return conv(m.group(1)) if m else None
		def ms(s):
		    m = re.match(r"([\d.]+)(us|ms|s)", s)
		    return float(m.group(1)) * {"us": 1e-3, "ms": 1, "s": 1e3}[m.group(2)] if m else None
		rps = num(r"Requests/sec:\s+([\d.]+)")
		p50 = re.search(r"\s50%\s+(\S+)", t)
		errs = num(r"Non-2xx or 3xx responses:\s+(\d+)", int) or 0
		sock = re.search(r"Socket errors: (.*)", t)
		if rps is None:
		    print(json.dumps({"error": "no Requests/sec in wrk output: " + t[-300:]}))
		else:
		    print(json.dumps({"rps": rps, "p50_ms": ms(p50.group(1)) if p50 else None,
		                      "non_2xx": errs, "socket_errors": sock.group(1) if sock else None}))
	EOF
	)
	if [[ $v == *'"error"'* || $v == *'"non_2xx": '[1-9]* ]]; then
		record "$1" "$2" rps "" "wrk: $v $(oneline "$err")"
		SUMMARY+=" | rps FAILED"
	else
		record "$1" "$2" rps "$v"
		SUMMARY+=" | $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.0f req/s" % d["rps"])' "$v")"
	fi
}

# (c): one warm-up request, IDLE s of nothing, then the measured request (a new
# curl, so a new TCP connection to the local client side).
test_first() { # R S
	local out=$TMP/first.out err=$TMP/first.err v
	ip netns exec "$NS_C" curl -sf --max-time 5 -o /dev/null "http://127.0.0.1:$P_REQ/small.txt"
	sleep "$IDLE"
	if run_client_ns 30 "$out" "$err" "$NS_C" curl -sS -f --max-time 20 -o /dev/null \
		-w '%{time_connect} %{time_starttransfer} %{time_total}\n' "http://127.0.0.1:$P_REQ/small.txt"; then
		v=$("$PY" -c 'import json,sys; c,f,t=map(float,open(sys.argv[1]).read().split()); r=float(sys.argv[2])*2/1e3; print(json.dumps({"ms":t*1e3,"rtts":t/r,"ttfb_ms":f*1e3}))' "$out" "$DELAY_MS")
		record "$1" "$2" first "$v"
		SUMMARY+=" | first request $("$PY" -c 'import json,sys; d=json.loads(sys.argv[1]); print("%.1f ms = %.2f RTT" % (d["ms"], d["rtts"]))' "$v")"
	else
		record "$1" "$2" first "" "curl: $(oneline "$err")"
		SUMMARY+=" | first FAILED"
	fi
}

# ---------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------
say "systems: ${SYSTEMS[*]}; $ROUNDS round(s): bulk $BYTES_SPEC, wrk ${SECS}s x $CONNS conns, first request after ${IDLE}s idle at ${DELAY_MS} ms each way"
say "temp dir $TMP; namespaces kfwdperf-$$-{tsrv,tcli,twire}; results -> $OUT"
make_namespaces
make_certs
start_backends
make_link || say "link for (c) unavailable: $LINK_ERR"
for s in "${SYSTEMS[@]}"; do
	prepare "$s"
	[[ -n ${STATUS[$s]} ]] && say "$s: ${STATUS[$s]}"
done
bench_active
ORDERS=()
BUDGET_NOTE=
declare -A VERIFIED=()
for ((r = 0; r < ROUNDS; r++)); do
	bench_bg "$r" '"s":"-","t":"bg"'
	bench_order "$r"
	for s in "${ORDER[@]}"; do
		bench_over_budget "$r" && break 2
		SUMMARY=
		if start_system "$s" 127.0.0.1 "$NS_S"; then
			if [[ -z ${VERIFIED[$s]:-} ]]; then
				stop_bg "$IPERF_PID"
				test_verify "$r" "$s"
				VERIFIED[$s]=1
				start_iperf
			fi
			test_bulk "$r" "$s"
			test_rps "$r" "$s"
			stop_system
		else
			for t in bulk rps; do record "$r" "$s" $t "" "start: $START_ERR"; done
			SUMMARY+=" | loopback: failed to start: $START_ERR"
		fi
		if ((LINK_OK)); then
			if start_system "$s" $S_IP "$NS_C"; then
				test_first "$r" "$s"
				stop_system
			else
				record "$r" "$s" first "" "start: $START_ERR"
				SUMMARY+=" | link: failed to start: $START_ERR"
			fi
		else
			record "$r" "$s" first "" "link: $LINK_ERR"
		fi
		say "round $((r + 1))/$ROUNDS $s:$SUMMARY"
	done
done

# ---------------------------------------------------------------------------
# Report
M_BYTES=$BYTES M_SECS=$SECS M_CONNS=$CONNS M_IDLE=$IDLE M_DELAY=$DELAY_MS
M_PING=$LINK_PING M_WORKERS=$WORKERS M_LO_MTU=$LO_MTU M_TRANSPORT=$TRANSPORT
M_IMPAIR=$(cat "$TMP/impair.stats" 2>/dev/null)
export M_BYTES M_SECS M_CONNS M_IDLE M_DELAY M_PING M_WORKERS M_LO_MTU M_TRANSPORT M_IMPAIR
bench_report report-tunnel.py
