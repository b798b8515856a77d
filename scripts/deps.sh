#!/usr/bin/env bash
# scripts/deps.sh — install everything kfwd needs to build and test (`make deps`).
#
#   bash scripts/deps.sh            Debian packages + wolfSSL (QUIC) + ngtcp2 into deps/prefix
#   bash scripts/deps.sh --bench    the above plus the benchmark peers (BENCH_PKGS)
#
# Idempotent: every step is guarded by a stamp in deps/ AND a cheap check of the
# real state (dpkg-query, files in deps/prefix), so a second run does nothing,
# and a stale deps/ on a fresh machine is repaired. Delete deps/ to start over.
#
# No mirror host name is written into the repo: the backports entry and the
# private deb-src list are derived from the system's own Debian entry.
# Build logs go to deps/logs/; only a one-line summary per step is printed.
set -euo pipefail

# ---------------------------------------------------------------------------
# Package lists: add to these.
# ---------------------------------------------------------------------------

# Debian packages from the default suite (bookworm).
DEB_PKGS=(
	# build
	clang llvm gcc make pkg-config libelf-dev zlib1g-dev linux-libc-dev
	libxdp-dev libconfig-dev libcriterion-dev libc-ares-dev libsystemd-dev
	# building wolfSSL / ngtcp2 from Debian source packages
	dpkg-dev cmake autoconf automake libtool xz-utils
	# runtime and test tools; caddy 2.6 (HTTP/3 over quic-go) is the non-ngtcp2
	# QUIC peer of the tunnel interop test
	iproute2 procps python3 openssl curl socat caddy
)

# Debian packages taken from bookworm-backports (`-t bookworm-backports`), with
# the minimum version the project relies on.
BPO_PKGS=(libbpf-dev bpftool libnghttp3-dev)
declare -A BPO_MIN=(
	[libbpf-dev]=1:1.4     # bookworm has 1.1; backports 1:1.4.6
	[bpftool]=7.5          # bookworm has 7.1; backports 7.5.0
	[libnghttp3-dev]=1.8   # bookworm has 0.8; backports 1.8.0, pairs with ngtcp2 1.11
)

# Benchmark peers, installed only with --bench. Each is checked with
# apt-cache policy at run time and dropped (with a warning) if the mirror has
# no candidate. All had a bookworm candidate when this was written
# (haproxy 2.6.12, nginx 1.22.1, squid 5.7, ...), none dropped.
BENCH_PKGS=(
	haproxy nginx libnginx-mod-stream socat iperf3 sockperf wrk hyperfine
	squid tinyproxy stunnel4
	python3-matplotlib   # perf/report.py draws the PNG chart with it
)

# Source-built dependencies (Debian source packages, fetched with apt-get source).
# The private deb-src list holds both suites; the newest Debian revision of
# VERSION-* found in either is used (for ngtcp2 that is trixie's 1.11.0-1+deb13u1:
# the same orig tarball as bookworm-backports' 1.11.0-1~bpo12+1, plus the
# CVE-2026-40170 qlog fix); SUITE is where to fall back if VERSION is gone.
WOLFSSL_SRC=wolfssl WOLFSSL_VERSION=5.7.2 WOLFSSL_SUITE=trixie
NGTCP2_SRC=ngtcp2 NGTCP2_VERSION=1.11.0 NGTCP2_SUITE=bookworm-backports

# Debian's libwolfssl-dev has no QUIC; this set is the recipe verified in
# shared/DESIGN.md, plus static/PIC for linking into the kfwd binary and
# pwdbased for PBKDF2.
WOLFSSL_CONFIGURE=(
	--enable-quic --enable-tls13 --enable-alpn --enable-sni
	--enable-session-ticket --enable-earlydata --enable-aesgcm --enable-chacha
	--enable-curve25519 --enable-ed25519 --enable-hkdf --enable-opensslextra
	--enable-certgen --enable-keygen --enable-pwdbased
	--enable-static --disable-shared --disable-examples --disable-crypttests
)
# AES-GCM in portable C cost the tunnel 77 % of its CPU (GHASH + AesEncrypt_C,
# 0.26 Gbit/s against stunnel's 3.7). wolfSSL checks the CPU at run time and
# falls back to C where AES-NI/AVX are missing.
case $(uname -m) in
x86_64) WOLFSSL_CONFIGURE+=(--enable-aesni --enable-intelasm) ;;
aarch64) WOLFSSL_CONFIGURE+=(--enable-armasm) ;;
esac

CODENAME=bookworm
BACKPORTS=$CODENAME-backports
JOBS=${JOBS:-2}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd -P)
DEPS=$ROOT/deps
PREFIX=$DEPS/prefix
LOGS=$DEPS/logs
export DEBIAN_FRONTEND=noninteractive

WITH_BENCH=0
for arg in "$@"; do
	case $arg in
	--bench) WITH_BENCH=1 ;;
	-h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "deps.sh: unknown argument: $arg" >&2; exit 2 ;;
	esac
done

say() { printf '[deps] %s\n' "$*"; }
warn() { printf '[deps] WARNING: %s\n' "$*" >&2; }
die() { printf '[deps] ERROR: %s\n' "$*" >&2; exit 1; }

# run_step NAME LOG CMD...: run CMD with output appended to deps/logs/LOG, print
# one summary line; on failure print the log's tail and exit.
run_step() {
	local name=$1 log=$LOGS/$2 start rc=0
	shift 2
	start=$SECONDS
	printf '\n==== %s: %s\n' "$(date '+%F %T')" "$*" >>"$log"
	"$@" >>"$log" 2>&1 || rc=$?
	if ((rc != 0)); then
		printf '[deps] %-40s FAILED (exit %d, log: %s)\n' "$name" "$rc" "${log#"$ROOT"/}" >&2
		tail -n 40 "$log" | sed 's/^/    /' >&2
		exit 1
	fi
	printf '[deps] %-40s ok (%ds)\n' "$name" $((SECONDS - start))
}

hash_of() { printf '%s\n' "$@" | sha256sum | cut -c1-16; }

[[ $EUID -eq 0 ]] || die "must run as root (apt-get install)"
if [[ -r /etc/os-release ]]; then
	# shellcheck disable=SC1091
	os_codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-}")
	[[ $os_codename == "$CODENAME" ]] ||
		die "written for Debian $CODENAME, this is '${os_codename:-unknown}'"
fi
mkdir -p "$DEPS" "$LOGS" "$PREFIX"
# Two `make test` at once must not build into deps/ together.
exec 9>"$DEPS/.lock"
flock 9

# ---------------------------------------------------------------------------
# The system's Debian mirror (never hard-coded)
# ---------------------------------------------------------------------------

# Print "URI<TAB>SIGNED-BY" for every enabled binary (deb) entry of SUITE with
# component main, from deb822 .sources files and one-line .list files.
find_debian_entries() {
	local suite=$1 f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		awk -v suite="$suite" '
		function has(list, word,   n, a, i) {
			n = split(list, a, /[ \t]+/)
			for (i = 1; i <= n; i++) if (a[i] == word) return 1
			return 0
		}
		function flush(   u) {
			if (has(types, "deb") && has(suites, suite) && has(comps, "main") &&
			    enabled != "no" && uris != "") {
				split(uris, u, /[ \t]+/)
				if (signed !~ /^\//) signed = ""   # inline key: use the default
				print u[1] "\t" signed
			}
			types = uris = suites = comps = signed = enabled = last = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ {                                  # continuation line
			sub(/^[ \t]+/, "")
			if (last == "uris") uris = uris " " $0
			else if (last == "suites") suites = suites " " $0
			else if (last == "components") comps = comps " " $0
			next
		}
		{
			i = index($0, ":"); if (i == 0) next
			key = tolower(substr($0, 1, i - 1)); val = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", val); last = key
			if (key == "types") types = val
			else if (key == "uris") uris = val
			else if (key == "suites") suites = val
			else if (key == "components") comps = val
			else if (key == "signed-by") signed = val
			else if (key == "enabled") enabled = tolower(val)
		}
		END { flush() }' "$f"
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		awk -v suite="$suite" '
		$1 == "deb" {
			i = 2; opts = ""
			if ($2 ~ /^\[/) {
				while (i <= NF && $i !~ /\]$/) opts = opts " " $(i++)
				opts = opts " " $(i++)
			}
			if ($(i + 1) != suite) next
			for (j = i + 2; j <= NF; j++) if ($j == "main") {
				sb = ""
				if (match(opts, /signed-by=[^] \t]+/)) sb = substr(opts, RSTART + 10, RLENGTH - 10)
				print $i "\t" sb
				next
			}
		}' "$f"
	done
}

DEBIAN_URI='' DEBIAN_KEYRING=''
load_debian_uri() {
	[[ -n $DEBIAN_URI ]] && return 0
	local line
	line=$(find_debian_entries "$CODENAME" | head -n1)
	[[ -n $line ]] || die "no '$CODENAME main' deb entry found in /etc/apt/sources.list{,.d/}"
	DEBIAN_URI=${line%%$'\t'*}
	DEBIAN_KEYRING=${line#*$'\t'}
	if [[ -z $DEBIAN_KEYRING && -r /usr/share/keyrings/debian-archive-keyring.gpg ]]; then
		DEBIAN_KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
	fi
}

# ---------------------------------------------------------------------------
# Step 1: Debian packages (first: other work waits on them)
# ---------------------------------------------------------------------------

BPO_SOURCE_FILE=/etc/apt/sources.list.d/kfwd-backports.sources
BPO_SOURCE_ADDED=0

ensure_backports_source() {
	[[ -e $BPO_SOURCE_FILE ]] && return 0
	if [[ -n $(find_debian_entries "$BACKPORTS") ]]; then
		return 0 # the system already has a backports entry of its own
	fi
	load_debian_uri
	{
		echo "# Added by kfwd scripts/deps.sh: $BACKPORTS from the system's Debian mirror."
		echo "Types: deb"
		echo "URIs: $DEBIAN_URI"
		echo "Suites: $BACKPORTS"
		echo "Components: main"
		[[ -n $DEBIAN_KEYRING ]] && echo "Signed-By: $DEBIAN_KEYRING"
	} >"$BPO_SOURCE_FILE"
	BPO_SOURCE_ADDED=1
	say "added $BPO_SOURCE_FILE"
}

# missing_pkgs PKG...: print the packages that are not installed (or, for
# BPO_PKGS, are older than BPO_MIN).
missing_pkgs() {
	local -A ver=()
	local name status v p
	while IFS=' ' read -r name status v; do
		[[ $status == installed ]] && ver[${name%%:*}]=$v
	done < <(dpkg-query -W -f='${Package} ${db:Status-Status} ${Version}\n' "$@" 2>/dev/null || true)
	for p in "$@"; do
		if [[ -z ${ver[$p]:-} ]]; then
			echo "$p"
		elif [[ -n ${BPO_MIN[$p]:-} ]] && ! dpkg --compare-versions "${ver[$p]}" ge "${BPO_MIN[$p]}"; then
			echo "$p"
		fi
	done
}

APT_UPDATED=0
apt_update() {
	((APT_UPDATED)) && return 0
	run_step "apt-get update" apt.log apt-get -o DPkg::Lock::Timeout=600 update
	APT_UPDATED=1
}

backports_lists_present() {
	apt-cache policy 2>/dev/null | grep -q "n=$BACKPORTS,"
}

# has_candidate PKG: the package lists offer an installable version of PKG.
has_candidate() {
	local c
	c=$(apt-cache policy "$1" 2>/dev/null | awk '/Candidate:/ { print $2 }')
	[[ -n $c && $c != "(none)" ]]
}

apt_install() { # [-t RELEASE] PKG...
	apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "$@"
}

install_debian_packages() {
	local -a want=("${DEB_PKGS[@]}" "${BPO_PKGS[@]}") bench=() missing=() dropped=()
	local stamp p
	if ((WITH_BENCH)); then
		bench=("${BENCH_PKGS[@]}")
		want+=("${bench[@]}")
	fi
	stamp=$DEPS/.apt-$(hash_of "${want[@]}").stamp
	# Bench packages the mirror does not have (recorded in the stamp) are not
	# looked for again until the list changes.
	if [[ -f $stamp ]]; then
		mapfile -t dropped < <(sed -n 's/^dropped //p' "$stamp")
	fi
	mapfile -t missing < <(missing_pkgs "${want[@]}")
	if ((${#dropped[@]})); then
		mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -vxF -f <(printf '%s\n' "${dropped[@]}") || true)
	fi
	if ((${#missing[@]} == 0)); then
		[[ -f $stamp ]] || : >"$stamp"
		say "debian packages: all $((${#want[@]} - ${#dropped[@]})) installed${dropped[*]:+ (unavailable, skipped: ${dropped[*]})}"
		return 0
	fi
	say "debian packages missing: ${missing[*]}"

	ensure_backports_source
	if ((BPO_SOURCE_ADDED)) || ! backports_lists_present; then
		apt_update
	fi
	for p in "${missing[@]}"; do
		if ! has_candidate "$p"; then apt_update; break; fi
	done

	local -a bpo=() main=() bench_missing=()
	dropped=()
	for p in "${missing[@]}"; do
		if [[ " ${BPO_PKGS[*]} " == *" $p "* ]]; then
			bpo+=("$p")
		elif [[ " ${DEB_PKGS[*]} " == *" $p "* ]]; then
			main+=("$p")
		elif has_candidate "$p"; then
			bench_missing+=("$p")
		else
			warn "benchmark peer '$p' has no installable candidate; skipped"
			dropped+=("$p")
		fi
	done
	# Backports first, so that the main install does not pull the bookworm
	# libbpf-dev in as a dependency and upgrade it right after.
	((${#bpo[@]} == 0)) || run_step "apt install ($BACKPORTS): ${#bpo[@]} pkgs" apt.log \
		apt_install -t "$BACKPORTS" "${bpo[@]}"
	((${#main[@]} == 0)) || run_step "apt install: ${#main[@]} pkgs" apt.log \
		apt_install "${main[@]}"
	((${#bench_missing[@]} == 0)) || run_step "apt install (bench): ${#bench_missing[@]} pkgs" apt.log \
		apt_install "${bench_missing[@]}"

	mapfile -t missing < <(missing_pkgs "${want[@]}")
	if ((${#dropped[@]})); then
		mapfile -t missing < <(printf '%s\n' "${missing[@]}" | grep -vxF -f <(printf '%s\n' "${dropped[@]}") || true)
	fi
	((${#missing[@]} == 0)) || die "still missing or too old after install: ${missing[*]} (see deps/logs/apt.log)"
	printf 'dropped %s\n' "${dropped[@]}" | grep -v '^dropped $' >"$stamp" || true
}

# ---------------------------------------------------------------------------
# Step 2: Debian source packages through a private apt configuration
# ---------------------------------------------------------------------------

PRIV=$DEPS/apt
APT_PRIV=(
	-o Dir::Etc::SourceList="$PRIV/sources.list"
	-o Dir::Etc::SourceParts="$PRIV/empty"
	-o Dir::State::Lists="$PRIV/lists"
	-o Dir::Cache="$PRIV/cache"
	-o APT::Sandbox::User=root # deps/ is not writable by _apt
)
PRIV_READY=0

prepare_private_apt() {
	((PRIV_READY)) && return 0
	local list
	load_debian_uri
	mkdir -p "$PRIV/empty" "$PRIV/lists/partial" "$PRIV/cache/archives/partial"
	local opt=
	[[ -n $DEBIAN_KEYRING ]] && opt="[signed-by=$DEBIAN_KEYRING] "
	list=$(printf 'deb-src %s%s %s main\n' "$opt" "$DEBIAN_URI" "$WOLFSSL_SUITE" \
		"$opt" "$DEBIAN_URI" "$NGTCP2_SUITE" | sort -u)
	if [[ ! -f $PRIV/sources.list || $(<"$PRIV/sources.list") != "$list" ]] ||
		! compgen -G "$PRIV/lists/*_Sources*" >/dev/null; then
		printf '%s\n' "$list" >"$PRIV/sources.list"
		run_step "apt-get update (private deb-src)" apt-src.log apt-get "${APT_PRIV[@]}" update
	fi
	PRIV_READY=1
}

# source_files SRCPKG VERSION: print "SHA256 NAME" for each file of that
# source package version, from the (signed) Sources index.
source_files() {
	apt-cache "${APT_PRIV[@]}" showsrc "$1" 2>/dev/null | awk -v p="$1" -v v="$2" '
		/^$/ { pk = ve = ""; in_sums = 0; next }
		/^Package: / { pk = $2 }
		/^Version: / { ve = $2 }
		/^[^ ]/ { in_sums = ($1 == "Checksums-Sha256:"); next }
		in_sums && pk == p && ve == v { print $1, $3 }'
}

# unpack_orig DIR ORIG [DEBIAN_TARBALL]: what dpkg-source -x does for a
# "3.0 (quilt)" package, for when the .dsc itself cannot be downloaded.
unpack_orig() {
	local dir=$1 orig=$2 debian=${3:-} patch
	mkdir -p "$dir"
	tar -xf "$orig" -C "$dir" --strip-components=1
	[[ -n $debian ]] || return 0
	tar -xf "$debian" -C "$dir"
	[[ -f $dir/debian/patches/series ]] || return 0
	while read -r patch _; do
		[[ -z $patch || $patch == \#* ]] && continue
		echo "applying debian/patches/$patch"
		patch -d "$dir" -p1 --forward --no-backup-if-mismatch <"$dir/debian/patches/$patch"
	done <"$dir/debian/patches/series"
}

# fetch_source SRCPKG VERSION SUITE: download the newest Debian revision of
# SRCPKG VERSION-* offered by the private list (or, failing that, the newest
# version in SUITE, with a warning) into deps/src, unpack it fresh under
# deps/build with its Debian patches and set FETCHED_DIR/FETCHED_VERSION.
FETCHED_DIR='' FETCHED_VERSION=''
fetch_source() {
	local pkg=$1 upstream=$2 suite=$3 ver='' v dir sum name orig='' debian='' dsc='' rc=0
	local -a all in_suite files
	prepare_private_apt
	# "VERSION SUITE" for every version of the source package, newest first.
	mapfile -t all < <(apt-cache "${APT_PRIV[@]}" madison "$pkg" 2>/dev/null |
		awk -F'|' '$3 ~ /Sources/ { gsub(/ /, "", $2); split($3, a, " "); sub(/\/.*/, "", a[2]); print $2, a[2] }' |
		sort -Vr -k1,1)
	for v in "${all[@]}"; do
		[[ ${v%% *} == "$upstream"-* ]] && { ver=${v%% *}; break; }
	done
	if [[ -z $ver ]]; then
		mapfile -t in_suite < <(printf '%s\n' "${all[@]}" | awk -v s="$suite" '$2 == s { print $1 }')
		((${#in_suite[@]})) || die "source package $pkg not found in $suite"
		ver=${in_suite[0]}
		warn "$pkg $upstream-* not in the index; using $ver from $suite"
	fi
	mapfile -t files < <(source_files "$pkg" "$ver")
	((${#files[@]})) || die "no file list for source package $pkg $ver"

	mkdir -p "$DEPS/src" "$DEPS/build"
	local start=$SECONDS
	(
		cd "$DEPS/src"
		printf '\n==== %s: apt-get source %s=%s\n' "$(date '+%F %T')" "$pkg" "$ver"
		apt-get "${APT_PRIV[@]}" source --download-only "$pkg=$ver"
	) >>"$LOGS/$pkg.log" 2>&1 || rc=$?
	# Keep every file whose checksum matches the index; a file that failed to
	# download is acceptable only if it is the .dsc or the Debian tarball.
	for v in "${files[@]}"; do
		sum=${v%% *} name=${v#* }
		if [[ -f $DEPS/src/$name ]] && [[ $(sha256sum <"$DEPS/src/$name" | cut -d' ' -f1) == "$sum" ]]; then
			case $name in
			*.dsc) dsc=$DEPS/src/$name ;;
			*.orig.tar.*.asc) ;;
			*.orig.tar.* | *[0-9].tar.*) orig=$DEPS/src/$name ;;
			*.debian.tar.*) debian=$DEPS/src/$name ;;
			esac
		else
			rm -f "$DEPS/src/$name"
		fi
	done
	[[ -n $orig ]] || {
		tail -n 20 "$LOGS/$pkg.log" | sed 's/^/    /' >&2
		die "fetch $pkg $ver: upstream tarball not downloaded (see deps/logs/$pkg.log)"
	}
	if ((rc == 0)) && [[ -n $dsc ]]; then
		printf '[deps] %-40s ok (%ds)\n' "fetch $pkg $ver" $((SECONDS - start))
	else
		warn "fetch $pkg $ver: the .dsc could not be downloaded; unpacking the checksum-verified orig tarball${debian:+ and applying the Debian patches}"
	fi
	dir=$DEPS/build/$pkg-${ver#*:}
	rm -rf "$dir"
	if ((rc == 0)) && [[ -n $dsc ]]; then
		run_step "unpack $pkg $ver" "$pkg.log" dpkg-source -x "$dsc" "$dir"
	else
		run_step "unpack $pkg $ver (orig + patches)" "$pkg.log" unpack_orig "$dir" "$orig" "$debian"
	fi
	FETCHED_DIR=$dir FETCHED_VERSION=$ver
}

# ---------------------------------------------------------------------------
# Step 3: wolfSSL with QUIC, static, into deps/prefix
# ---------------------------------------------------------------------------

WOLFSSL_STAMP=$DEPS/.wolfssl.stamp
wolfssl_key() { hash_of "$WOLFSSL_SRC" "$WOLFSSL_VERSION" "$WOLFSSL_SUITE" "${WOLFSSL_CONFIGURE[@]}" "$PREFIX"; }

wolfssl_ok() {
	[[ -f $WOLFSSL_STAMP && $(head -n1 "$WOLFSSL_STAMP") == "$(wolfssl_key)" ]] &&
		[[ -f $PREFIX/lib/libwolfssl.a && -f $PREFIX/lib/pkgconfig/wolfssl.pc ]] &&
		grep -q 'WOLFSSL_QUIC' "$PREFIX/include/wolfssl/options.h" 2>/dev/null
}

build_wolfssl() {
	if wolfssl_ok; then
		say "wolfssl: $(sed -n 2p "$WOLFSSL_STAMP") up to date"
		return 0
	fi
	local ver
	rm -f "$WOLFSSL_STAMP" "$DEPS/.ngtcp2.stamp" "$DEPS/.check.stamp"
	: >"$LOGS/wolfssl.log"
	fetch_source "$WOLFSSL_SRC" "$WOLFSSL_VERSION" "$WOLFSSL_SUITE"
	ver=$FETCHED_VERSION
	cd "$FETCHED_DIR"
	# The Debian source has no generated configure; autogen.sh also creates
	# the empty placeholder sources (fips, async) that the Makefiles expect.
	if [[ ! -x configure ]]; then
		if [[ -f autogen.sh ]]; then
			run_step "wolfssl: autogen.sh" wolfssl.log sh ./autogen.sh
		else
			run_step "wolfssl: autoreconf" wolfssl.log autoreconf -fi
		fi
	fi
	run_step "wolfssl: configure" wolfssl.log \
		./configure --prefix="$PREFIX" --libdir="$PREFIX/lib" "${WOLFSSL_CONFIGURE[@]}" CFLAGS="-fPIC -O2"
	grep -q 'WOLFSSL_QUIC' wolfssl/options.h || die "wolfssl configured without QUIC (see deps/logs/wolfssl.log)"
	run_step "wolfssl: make -j$JOBS" wolfssl.log make -j"$JOBS"
	run_step "wolfssl: install" wolfssl.log make install
	cd "$ROOT"
	printf '%s\n%s\n' "$(wolfssl_key)" "$ver" >"$WOLFSSL_STAMP"
}

# ---------------------------------------------------------------------------
# Step 4: ngtcp2 with the wolfSSL crypto backend, static, into deps/prefix
# ---------------------------------------------------------------------------

NGTCP2_STAMP=$DEPS/.ngtcp2.stamp
ngtcp2_key() { hash_of "$NGTCP2_SRC" "$NGTCP2_VERSION" "$NGTCP2_SUITE" "$(head -n1 "$WOLFSSL_STAMP" 2>/dev/null)" "$PREFIX"; }

ngtcp2_ok() {
	[[ -f $NGTCP2_STAMP && $(head -n1 "$NGTCP2_STAMP") == "$(ngtcp2_key)" ]] &&
		[[ -f $PREFIX/lib/libngtcp2.a && -f $PREFIX/lib/libngtcp2_crypto_wolfssl.a ]] &&
		[[ -f $PREFIX/include/ngtcp2/ngtcp2_crypto_wolfssl.h ]]
}

build_ngtcp2() {
	if ngtcp2_ok; then
		say "ngtcp2: $(sed -n 2p "$NGTCP2_STAMP") up to date"
		return 0
	fi
	local src ver bld
	rm -f "$NGTCP2_STAMP" "$DEPS/.check.stamp"
	: >"$LOGS/ngtcp2.log"
	fetch_source "$NGTCP2_SRC" "$NGTCP2_VERSION" "$NGTCP2_SUITE"
	src=$FETCHED_DIR ver=$FETCHED_VERSION
	bld=$src/_build
	run_step "ngtcp2: cmake configure" ngtcp2.log \
		env PKG_CONFIG_PATH="$PREFIX/lib/pkgconfig" \
		cmake -S "$src" -B "$bld" \
		-DCMAKE_BUILD_TYPE=Release \
		-DCMAKE_INSTALL_PREFIX="$PREFIX" -DCMAKE_INSTALL_LIBDIR=lib \
		-DCMAKE_POSITION_INDEPENDENT_CODE=ON \
		-DENABLE_WOLFSSL=ON -DENABLE_OPENSSL=OFF -DENABLE_GNUTLS=OFF \
		-DENABLE_BORINGSSL=OFF -DENABLE_PICOTLS=OFF \
		-DENABLE_STATIC_LIB=ON -DENABLE_SHARED_LIB=OFF -DENABLE_LIB_ONLY=ON \
		-DWOLFSSL_INCLUDE_DIR="$PREFIX/include" \
		-DWOLFSSL_LIBRARY="$PREFIX/lib/libwolfssl.a"
	run_step "ngtcp2: build -j$JOBS" ngtcp2.log cmake --build "$bld" -j"$JOBS"
	run_step "ngtcp2: install" ngtcp2.log cmake --install "$bld"
	printf '%s\n%s\n' "$(ngtcp2_key)" "$ver" >"$NGTCP2_STAMP"
}

# ---------------------------------------------------------------------------
# Step 5: link check, with the flags scripts/deps.mk gives the Makefile
# ---------------------------------------------------------------------------

CHECK_STAMP=$DEPS/.check.stamp

# check_fresh: the link check passed after the fragment and the libraries last changed.
check_fresh() {
	local f
	[[ -f $CHECK_STAMP ]] || return 1
	for f in scripts/deps.mk "$PREFIX"/lib/*.a; do
		[[ $f -nt $CHECK_STAMP ]] && return 1
	done
	return 0
}

link_check() {
	if check_fresh; then
		say "link check: up to date"
		return 0
	fi
	rm -f "$CHECK_STAMP"
	mkdir -p "$DEPS/check"
	cat >"$DEPS/check/deps-check.c" <<-'EOF'
		/* Written by scripts/deps.sh: proves the QUIC stack links and runs. */
		#include <wolfssl/options.h>
		#include <wolfssl/ssl.h>
		#include <ngtcp2/ngtcp2.h>
		#include <ngtcp2/ngtcp2_crypto.h>
		#include <ngtcp2/ngtcp2_crypto_wolfssl.h>
		#include <nghttp3/nghttp3.h>
		#include <stdio.h>

		int main(void)
		{
			WOLFSSL_CTX *ctx;
			const ngtcp2_info *ng;
			const nghttp3_info *h3;

			if (wolfSSL_Init() != WOLFSSL_SUCCESS)
				return 1;
			ctx = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
			if (!ctx)
				return 2;
			if (ngtcp2_crypto_wolfssl_configure_client_context(ctx) != 0)
				return 3;
			ng = ngtcp2_version(0);
			h3 = nghttp3_version(0);
			if (!ng || !h3)
				return 4;
			printf("wolfSSL %s, ngtcp2 %s, nghttp3 %s\n", LIBWOLFSSL_VERSION_STRING,
			       ng->version_str, h3->version_str);
			wolfSSL_CTX_free(ctx);
			wolfSSL_Cleanup();
			return 0;
		}
	EOF
	# Read QUIC_CFLAGS / QUIC_LIBS from the fragment itself, so it is tested too.
	local flags
	# shellcheck disable=SC2016 # $(...) here is make syntax
	flags=$(make -s --no-print-directory -f scripts/deps.mk \
		-f <(printf 'print-quic:\n\t@echo "$(QUIC_CFLAGS)|$(QUIC_LIBS)"\n') print-quic)
	# shellcheck disable=SC2086 # word splitting of the flag lists is intended
	run_step "link check: compile" check.log \
		cc -Wall -Werror ${flags%%|*} -o "$DEPS/check/deps-check" "$DEPS/check/deps-check.c" ${flags#*|}
	run_step "link check: run" check.log "$DEPS/check/deps-check"
	say "link check: $(tail -n1 "$LOGS/check.log")"
	: >"$CHECK_STAMP"
}

# ---------------------------------------------------------------------------

START=$SECONDS
install_debian_packages
build_wolfssl
build_ngtcp2
link_check
say "done in $((SECONDS - START))s"
