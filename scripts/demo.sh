#!/usr/bin/env bash
# scripts/demo.sh — a guided tour of kfwd (`make demo`; root, Debian 12).
#
# Builds three network namespaces joined by veth pairs,
#
#   kfwd-demo-client          kfwd-demo-gw                      kfwd-demo-backend
#   10.77.1.2  <--veth-->  10.77.1.1  [kfwd]  10.77.2.1  <--veth-->  10.77.2.2
#
# runs an HTTP file server and a UDP echo server in the backend namespace,
# kfwd in the gateway namespace with docs/examples/demo.conf, and sends
# traffic from the client namespace through kfwd: a 64 MiB download checked
# with SHA-256, a few HTTP requests, a few UDP datagrams. Then it shows
# `kfwd stats`, stops kfwd with SIGTERM and removes everything it created,
# also when it fails or is interrupted. The gateway does not route between
# its two sides, so every byte the client gets has been relayed by kfwd.
#
# Exit status: 0 when everything worked, 1 otherwise (e.g. checksum mismatch).
# Environment: KFWD=path/to/kfwd (default build/kfwd), DEMO_MIB=64.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
# shellcheck source=scripts/netns.sh
source "$ROOT/scripts/netns.sh"

KFWD=${KFWD:-$ROOT/build/kfwd}
DEMO_MIB=${DEMO_MIB:-64}
EXAMPLE=$ROOT/docs/examples/demo.conf
NS_C=kfwd-demo-client NS_G=kfwd-demo-gw NS_B=kfwd-demo-backend
CLIENT_IP=10.77.1.2 GW_IP=10.77.1.1 GW_BACK_IP=10.77.2.1 BACKEND_IP=10.77.2.2
TMP_PREFIX=${TMPDIR:-/tmp}/kfwd-demo.
STEPS=8

if [[ -t 1 ]]; then B=$'\e[1m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'; else B='' G='' R='' N=''; fi
STEP=0
step() { STEP=$((STEP + 1)); printf '\n%s[%d/%d] %s%s\n' "$B" "$STEP" "$STEPS" "$*" "$N"; }
say() { printf '      %s\n' "$@"; }
ok() { printf '      %sOK%s  %s\n' "$G" "$N" "$*"; }
die() { printf '\n%sdemo FAILED:%s %s\n' "$R" "$N" "$*" >&2; exit 1; }
indent() { sed 's/^/      | /'; }

# ---------------------------------------------------------------------------
# Preconditions
# ---------------------------------------------------------------------------

[[ $EUID -eq 0 ]] || die "must run as root (it creates network namespaces)"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3 || true)
for tool in ip curl sha256sum flock timeout "$PY"; do
	command -v "$tool" >/dev/null 2>&1 || die "'${tool:-python3}' not found: run 'make deps' first"
done
[[ -x $KFWD ]] || die "$KFWD not built: run 'make' (or 'make demo', which builds it first)"
[[ -r $EXAMPLE ]] || die "$EXAMPLE is missing"

# One demo at a time: the namespace names are fixed. Long-lived children get
# 9>&- so that a demo killed hard does not leave its lock held by orphans.
LOCK=/run/lock/kfwd-demo.lock
[[ -d /run/lock ]] || LOCK=${TMPDIR:-/tmp}/kfwd-demo.lock
exec 9>"$LOCK"
flock -n 9 || die "another kfwd demo is running (lock $LOCK)"

# ---------------------------------------------------------------------------
# Teardown: on every exit path
# ---------------------------------------------------------------------------

TMP='' CTL='' KFWD_PID='' HTTP_PID='' UDP_PID=''

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if ((rc != 0 && rc != 130 && rc != 143)); then
		# Show what kfwd saw: its counters name the error (connect_refused, ...).
		if [[ -n $KFWD_PID ]] && kill -0 "$KFWD_PID" 2>/dev/null; then
			echo "kfwd stats at the time of the failure:" >&2
			timeout 5 "$KFWD" stats -s "$CTL" 2>&1 | indent >&2
		fi
		if [[ -n $TMP && -s $TMP/kfwd.log ]]; then
			echo "kfwd log (last 15 lines):" >&2
			tail -n 15 "$TMP/kfwd.log" | indent >&2
		fi
	fi
	[[ -n $KFWD_PID ]] && netns_stop_pid "$KFWD_PID" 5
	[[ -n $HTTP_PID ]] && netns_stop_pid "$HTTP_PID"
	[[ -n $UDP_PID ]] && netns_stop_pid "$UDP_PID"
	netns_del "$NS_C"
	netns_del "$NS_G"
	netns_del "$NS_B"
	[[ -n $TMP && -d $TMP ]] && rm -rf "$TMP"
	if ((rc != 0)); then
		printf '%sdemo aborted (exit %d); namespaces, processes and files removed%s\n' \
			"$R" "$rc" "$N" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A previous demo that was killed hard (SIGKILL, power loss) leaves its
# namespaces, their processes and its temporary folder: remove them first.
cleanup_leftovers() {
	local ns found=0 d
	for ns in "$NS_C" "$NS_G" "$NS_B"; do
		if netns_exists "$ns"; then
			found=1
			netns_del "$ns"
		fi
	done
	for d in "$TMP_PREFIX"*; do
		[[ -d $d ]] || continue
		found=1
		rm -rf "$d"
	done
	((found == 0)) || say "removed leftovers of an earlier, interrupted demo"
}

# mib_per_s BYTES SECONDS
mib_per_s() { awk -v b="$1" -v s="$2" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "?" }'; }

printf '%skfwd demo%s: %s\n' "$B" "$N" "$("$KFWD" --version)"
say "a client, a gateway running kfwd and a backend, each in its own network" \
	"namespace; the host's own interfaces are not touched."

# ---------------------------------------------------------------------------
step "Network: three namespaces joined by two veth pairs"
# ---------------------------------------------------------------------------
cleanup_leftovers
TMP=$(mktemp -d "${TMP_PREFIX}XXXXXX")
netns_add "$NS_C"
netns_add "$NS_G"
netns_add "$NS_B"
netns_veth "$NS_C" eth0 "$CLIENT_IP/24" "$NS_G" cli0 "$GW_IP/24"
netns_veth "$NS_G" back0 "$GW_BACK_IP/24" "$NS_B" eth0 "$BACKEND_IP/24"
echo
say "$NS_C        $NS_G                  $NS_B" \
	"$CLIENT_IP <--veth--> $GW_IP [kfwd] $GW_BACK_IP <--veth--> $BACKEND_IP"
echo
# The gateway does not forward IP packets and the client has no route to
# 10.77.2.0/24: the only way from client to backend is through kfwd.
if netns_exec "$NS_C" curl -s --max-time 2 -o /dev/null "http://$BACKEND_IP:8000/" 2>/dev/null; then
	die "the client reaches the backend directly; the demo would prove nothing"
fi
ok "client cannot reach $BACKEND_IP directly (no route): only kfwd connects them"

# ---------------------------------------------------------------------------
step "Backend: HTTP file server on $BACKEND_IP:8000 and UDP echo on $BACKEND_IP:5353"
# ---------------------------------------------------------------------------
mkdir -p "$TMP/www" "$TMP/client"
head -c "$((DEMO_MIB * 1048576))" /dev/urandom >"$TMP/www/big.bin"
SUM=$(sha256sum <"$TMP/www/big.bin" | cut -d' ' -f1)
cat >"$TMP/www/index.html" <<EOF
<!doctype html>
<title>kfwd demo backend</title>
<p>Hello from the backend namespace ($NS_B, $BACKEND_IP).</p>
<p><a href="big.bin">big.bin</a>: $DEMO_MIB MiB of random bytes.</p>
EOF
say "generated big.bin: $DEMO_MIB MiB of random bytes, sha256 ${SUM:0:16}..."

# Servers are started with `ip netns exec` itself (not a shell function), which
# execs the command: $! is then the server's own pid, the one to stop later.
ip netns exec "$NS_B" "$PY" -m http.server 8000 --bind "$BACKEND_IP" --directory "$TMP/www" \
	>"$TMP/http.log" 2>&1 9>&- &
HTTP_PID=$!
# The echo server tells who it saw as the sender: kfwd's gateway address.
cat >"$TMP/udp_echo.py" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind((sys.argv[1], int(sys.argv[2])))
while True:
    data, peer = s.recvfrom(65535)
    s.sendto(b"echo from backend (sender %s:%d): " % (peer[0].encode(), peer[1]) + data, peer)
EOF
ip netns exec "$NS_B" "$PY" "$TMP/udp_echo.py" "$BACKEND_IP" 5353 >"$TMP/udp.log" 2>&1 9>&- &
UDP_PID=$!
netns_wait_tcp "$NS_G" "$BACKEND_IP" 8000 10 || {
	indent <"$TMP/http.log"
	die "the HTTP server did not start"
}
for ((i = 0; i < 100; i++)); do
	[[ -n $(ip netns exec "$NS_B" ss -Hlun "sport = :5353") ]] && break
	kill -0 "$UDP_PID" 2>/dev/null || break
	sleep 0.05
done
[[ -n $(ip netns exec "$NS_B" ss -Hlun "sport = :5353") ]] || {
	indent <"$TMP/udp.log"
	die "the UDP echo server did not start"
}
ok "python3 -m http.server (pid $HTTP_PID) and the UDP echo (pid $UDP_PID) are up"

# ---------------------------------------------------------------------------
step "kfwd: check and start it in $NS_G"
# ---------------------------------------------------------------------------
CONF=$TMP/demo.conf
CTL=$TMP/kfwd.sock
# Same config, but the control socket lives in this run's temporary folder.
sed "s|^\([[:space:]]*control_socket[[:space:]]*=\).*|\1 \"$CTL\";|" "$EXAMPLE" >"$CONF"
grep -q "\"$CTL\"" "$CONF" || die "could not set control_socket in the copy of $EXAMPLE"
say "config: docs/examples/demo.conf (control_socket moved to $CTL):"
grep -Ev '^[[:space:]]*(#|$)' "$CONF" | indent
say "\$ kfwd check -c demo.conf"
out=$("$KFWD" check -c "$CONF" 2>&1) || {
	indent <<<"$out"
	die "docs/examples/demo.conf does not pass 'kfwd check'"
}
indent <<<"$out"
ip netns exec "$NS_G" "$KFWD" run -c "$CONF" 2>"$TMP/kfwd.log" 9>&- &
KFWD_PID=$!
for ((i = 0; i < 100; i++)); do
	grep -q ' ready: ' "$TMP/kfwd.log" && break
	kill -0 "$KFWD_PID" 2>/dev/null || break
	sleep 0.05
done
grep -q ' ready: ' "$TMP/kfwd.log" || {
	indent <"$TMP/kfwd.log"
	die "kfwd did not become ready"
}
say "\$ kfwd run -c demo.conf     (pid $KFWD_PID, log on stderr:)"
cut -d' ' -f2- "$TMP/kfwd.log" | indent
ok "kfwd is listening on $GW_IP:8080/tcp and $GW_IP:5353/udp"

# ---------------------------------------------------------------------------
step "TCP: a few HTTP requests through kfwd"
# ---------------------------------------------------------------------------
# http_req METHOD PATH: one request from the client namespace, one summary line.
http_req() {
	local method=$1 path=$2 out
	local -a opt=(-s -o /dev/null -w '%{http_code} %header{content-length}')
	[[ $method == HEAD ]] && opt+=(-I)
	out=$(netns_exec "$NS_C" curl "${opt[@]}" "http://$GW_IP:8080$path") ||
		die "$method $path through kfwd failed (curl exit status $?)"
	printf '      %-4s %-15s -> HTTP %s, Content-Length %s\n' "$method" "$path" "${out% *}" \
		"${out#* }"
}
say "\$ curl http://$GW_IP:8080/...      (from $NS_C; python's server closes after each reply)"
http_req GET /
http_req GET /index.html
http_req HEAD /big.bin
http_req GET /no-such-file
say "the index page as the client sees it:"
out=$(netns_exec "$NS_C" curl -s "http://$GW_IP:8080/") || die "GET / through kfwd failed"
grep -m1 'Hello' <<<"$out" | indent
ok "every answer came from the backend's HTTP server through kfwd (the 404 too)"

# ---------------------------------------------------------------------------
step "TCP: download the $DEMO_MIB MiB file through kfwd and verify it"
# ---------------------------------------------------------------------------
say "\$ curl -o big.bin http://$GW_IP:8080/big.bin      (from $NS_C)"
out=$(netns_exec "$NS_C" curl -sS --fail --max-time 120 -o "$TMP/client/big.bin" \
	-w '%{size_download} %{time_total}' "http://$GW_IP:8080/big.bin") ||
	die "the download through kfwd failed (curl exit status $?)"
read -r size secs <<<"$out"
GOT=$(sha256sum <"$TMP/client/big.bin" | cut -d' ' -f1)
say "received $size bytes in ${secs}s: $(mib_per_s "$size" "$secs") MiB/s"
say "sha256 on the backend: $SUM" \
	"sha256 at the client:  $GOT"
[[ $GOT == "$SUM" ]] || die "checksum mismatch: the file was corrupted on its way through kfwd"
ok "identical: every byte went backend -> kfwd -> client unchanged"
rm -f "$TMP/client/big.bin"
# For scale: the same download without kfwd, from the gateway namespace.
out=$(netns_exec "$NS_G" curl -sS --fail --max-time 120 -o /dev/null \
	-w '%{size_download} %{time_total}' "http://$BACKEND_IP:8000/big.bin") ||
	die "the direct download from the backend failed (curl exit status $?)"
read -r size2 secs2 <<<"$out"
say "for scale, the same file straight from the backend (from $NS_G, no kfwd," \
	"one hop fewer): $(mib_per_s "$size2" "$secs2") MiB/s. Both numbers include a single-threaded" \
	"python server on a shared machine: a sanity check, not a benchmark."

# ---------------------------------------------------------------------------
step "UDP: datagrams from two client sockets through kfwd"
# ---------------------------------------------------------------------------
cat >"$TMP/udp_client.py" <<'EOF'
import socket, sys, time
host, port = sys.argv[1], int(sys.argv[2])
socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(2)]
lost = 0
for n, (s, msg) in enumerate([(0, "ping 1"), (0, "ping 2"), (0, "ping 3"),
                              (1, "hello from a second socket"), (1, "x" * 1200)]):
    sk = socks[s]
    sk.settimeout(2)
    t = time.perf_counter()
    sk.sendto(msg.encode(), (host, port))
    try:
        data, peer = sk.recvfrom(65535)
    except socket.timeout:
        print("      socket %d: sent %4d bytes: NO REPLY" % (s + 1, len(msg)))
        lost += 1
        continue
    ms = (time.perf_counter() - t) * 1000
    ok = data.endswith(msg.encode())
    text = data.decode(errors="replace")
    if len(text) > 76:
        text = text[:73] + "..."
    print("      socket %d (port %d): sent %4d bytes, reply from %s:%d after %.2f ms%s"
          % (s + 1, sk.getsockname()[1], len(msg), peer[0], peer[1], ms,
             "" if ok else " (WRONG CONTENT)"))
    print("        %s" % text)
    lost += not ok
sys.exit(1 if lost else 0)
EOF
netns_exec "$NS_C" "$PY" "$TMP/udp_client.py" "$GW_IP" 5353 ||
	die "some UDP datagrams were lost or mangled"
ok "replies come from $GW_IP:5353 (kfwd); the backend saw kfwd's address $GW_BACK_IP as sender"
say "each client address:port is one UDP flow with its own socket towards the backend"

# ---------------------------------------------------------------------------
step "Counters: kfwd stats"
# ---------------------------------------------------------------------------
sleep 0.2 # let the last TCP close be counted
say "\$ kfwd stats -c demo.conf      (asks the running instance over $CTL)"
"$KFWD" stats -c "$CONF" | indent
cat <<'EOF'
      What the columns mean:
        ACTIVE  connections (tcp) or flows (udp) open right now; a UDP flow has
                no close, so it stays until idle_timeout_ms (30 s here) passes
        TOTAL   connections accepted / flows created since kfwd started
        IN      bytes client -> backend; OUT: bytes backend -> client, counted
                when kfwd has delivered them
        PATH    "fastpath": after the first bytes, the kernel splices the two TCP
                sockets (sockmap) and the bytes never reach kfwd ("kfwd flows"
                lists them); "userspace": relayed by kfwd's worker threads (TCP
                with splice(2), no copy into kfwd's memory; UDP by datagram)
        ERRORS  non-zero error counters by reason (connect_refused, idle_timeout,
                ...), "-" when there are none; docs/operations.md lists them all
      `kfwd stats --json` gives the same, plus packet counts, as JSON.
EOF

# ---------------------------------------------------------------------------
step "Shutdown: SIGTERM kfwd, then remove everything"
# ---------------------------------------------------------------------------
say "\$ kill -TERM $KFWD_PID"
lines_before=$(wc -l <"$TMP/kfwd.log")
kill -TERM "$KFWD_PID"
rc=0
wait "$KFWD_PID" || rc=$?
KFWD_PID=''
tail -n +"$((lines_before + 1))" "$TMP/kfwd.log" | cut -d' ' -f2- | indent
((rc == 0)) || die "kfwd exited with status $rc"
ok "kfwd closed its listeners, let the flows end and exited with status 0"
netns_stop_pid "$HTTP_PID"
netns_stop_pid "$UDP_PID"
HTTP_PID='' UDP_PID=''
netns_del "$NS_C"
netns_del "$NS_G"
netns_del "$NS_B"
rm -rf "$TMP"
TMP=''
ok "namespaces $NS_C, $NS_G, $NS_B and the temporary files are gone"

printf '\n%sDemo complete.%s Next: README.md, docs/config.md (every key), docs/operations.md.\n' "$G" "$N"
