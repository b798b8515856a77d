#!/usr/bin/env bash
# scripts/gen-certs.sh — a small CA and peer certificates for kfwd's QUIC tunnel
# (mutual TLS: each peer's certificate is both a server and a client one).
#
#   scripts/gen-certs.sh [-o DIR] [-d DAYS] [--ca-name NAME] [--ca-dir DIR2]
#                        [--expired] [--force] NAME...
#
#   -o DIR         where to write (default: the current folder); created if missing
#   -d DAYS        validity of the peer certificates (default 825; the CA gets 3650)
#   --ca-name NAME common name of a CA made now (default "kfwd tunnel CA")
#   --ca-dir DIR2  sign with the CA in DIR2 (made there if absent) instead of DIR's
#   --expired      peer certificates whose validity lies wholly in the past (tests)
#   --force        replace NAME.pem/NAME.key that exist (default: keep them)
#
# Makes DIR/ca.pem + DIR/ca.key (EC P-256, self-signed) unless both exist, and
# for each NAME: DIR/NAME.key and DIR/NAME.pem signed by the CA, with
# subjectAltName DNS:NAME and extendedKeyUsage serverAuth, clientAuth. NAME is
# the `peer_name` the other side writes in its config. Keys are mode 0600.
# Running it again keeps what exists, so it can add peers to an existing CA.
set -euo pipefail

usage() {
	sed -n '4,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
	exit "${1:-2}"
}
die() {
	echo "gen-certs: $*" >&2
	exit 1
}

out=. days=825 ca_name="kfwd tunnel CA" ca_dir="" expired=0 force=0
names=()
while (($#)); do
	case $1 in
	-o) (($# >= 2)) || usage; out=$2; shift 2 ;;
	-d) (($# >= 2)) || usage; days=$2; shift 2 ;;
	--ca-name) (($# >= 2)) || usage; ca_name=$2; shift 2 ;;
	--ca-dir) (($# >= 2)) || usage; ca_dir=$2; shift 2 ;;
	--expired) expired=1; shift ;;
	--force) force=1; shift ;;
	-h | --help) usage 0 ;;
	--) shift; names+=("$@"); break ;;
	-*) echo "gen-certs: unknown option $1" >&2; usage ;;
	*) names+=("$1"); shift ;;
	esac
done
((${#names[@]})) || { echo "gen-certs: no NAME given" >&2; usage; }
if ! [[ $days =~ ^[0-9]{1,5}$ ]] || ((days < 1 || days > 36500)); then
	die "-d $days: days must be 1 to 36500"
fi
[[ -n $ca_name && $ca_name != */* ]] || die "--ca-name \"$ca_name\": must be non-empty, without '/'"
command -v openssl >/dev/null || die "openssl not found (apt-get install openssl)"
for n in "${names[@]}"; do
	# A DNS name: it is the certificate's subjectAltName and a file name.
	[[ $n =~ ^[A-Za-z0-9]([A-Za-z0-9_-]{0,62})(\.[A-Za-z0-9_-]{1,63})*$ && ${#n} -le 253 ]] ||
		die "\"$n\" is not a DNS name (letters, digits, '-', '_', dot-separated labels)"
	[[ $n != ca ]] || die "\"ca\" is reserved for the CA's own files"
done

mkdir -p "$out" || die "cannot create $out"
ca_dir=${ca_dir:-$out}
mkdir -p "$ca_dir" || die "cannot create $ca_dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
umask 077

# A new P-256 key in $1 (0600).
new_key() {
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>"$tmp/err" ||
		die "key generation failed: $(cat "$tmp/err")"
}

# Install $1 as $2 with mode $3, replacing atomically.
install_file() {
	chmod "$3" "$1"
	mv -f "$1" "$2.tmp.$$" || die "cannot write $2.tmp.$$"
	mv -f "$2.tmp.$$" "$2" || die "cannot write $2"
}

make_ca() {
	local dir=$1
	if [[ -e $dir/ca.pem && -e $dir/ca.key ]]; then
		openssl x509 -in "$dir/ca.pem" -noout 2>/dev/null || die "$dir/ca.pem is not a certificate"
		echo "gen-certs: using the CA in $dir/ca.pem"
		return
	fi
	[[ ! -e $dir/ca.pem && ! -e $dir/ca.key ]] ||
		die "$dir has only one of ca.pem and ca.key: remove it or supply the other"
	new_key "$tmp/ca.key"
	openssl req -x509 -new -key "$tmp/ca.key" -sha256 -days 3650 -subj "/CN=$ca_name" \
		-addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" \
		-addext "subjectKeyIdentifier=hash" \
		-out "$tmp/ca.pem" 2>"$tmp/err" || die "CA certificate failed: $(cat "$tmp/err")"
	install_file "$tmp/ca.key" "$dir/ca.key" 600
	install_file "$tmp/ca.pem" "$dir/ca.pem" 644
	echo "gen-certs: made CA \"$ca_name\": $dir/ca.pem, $dir/ca.key"
}

# `openssl ca` (not `x509 -req`) because only it takes explicit start and end
# dates in OpenSSL 3.0, which --expired needs; its bookkeeping stays in $tmp.
sign() {
	local name=$1 csr=$2 cert=$3
	: >"$tmp/index.txt"
	echo 01 >"$tmp/serial" # required by the config; -rand_serial picks the serial
	cat >"$tmp/ca.cnf" <<-EOF
		[ ca ]
		default_ca = kfwd_ca
		[ kfwd_ca ]
		database = $tmp/index.txt
		serial = $tmp/serial
		new_certs_dir = $tmp
		default_md = sha256
		policy = any_cn
		unique_subject = no
		email_in_dn = no
		copy_extensions = none
		[ any_cn ]
		commonName = supplied
		[ peer ]
		basicConstraints = critical, CA:FALSE
		keyUsage = critical, digitalSignature
		extendedKeyUsage = serverAuth, clientAuth
		subjectAltName = DNS:$name
		subjectKeyIdentifier = hash
		authorityKeyIdentifier = keyid, issuer
	EOF
	local when=(-days "$days")
	if ((expired)); then
		when=(-startdate "$(date -u -d '-30 days' +%Y%m%d%H%M%SZ)"
		      -enddate "$(date -u -d '-1 day' +%Y%m%d%H%M%SZ)")
	fi
	openssl ca -batch -config "$tmp/ca.cnf" -name kfwd_ca -extensions peer -rand_serial \
		-cert "$ca_dir/ca.pem" -keyfile "$ca_dir/ca.key" -notext "${when[@]}" \
		-in "$csr" -out "$cert" >/dev/null 2>"$tmp/err" ||
		die "$name: signing failed: $(cat "$tmp/err")"
}

make_ca "$ca_dir"
for n in "${names[@]}"; do
	if ((!force)) && [[ -e $out/$n.pem || -e $out/$n.key ]]; then
		[[ -e $out/$n.pem && -e $out/$n.key ]] ||
			die "$out has only one of $n.pem and $n.key: remove it or use --force"
		echo "gen-certs: $out/$n.pem exists, kept (--force replaces it)"
		continue
	fi
	new_key "$tmp/$n.key"
	openssl req -new -key "$tmp/$n.key" -subj "/CN=$n" -out "$tmp/$n.csr" 2>"$tmp/err" ||
		die "$n: request failed: $(cat "$tmp/err")"
	sign "$n" "$tmp/$n.csr" "$tmp/$n.pem"
	install_file "$tmp/$n.key" "$out/$n.key" 600
	install_file "$tmp/$n.pem" "$out/$n.pem" 644
	echo "gen-certs: made $out/$n.pem, $out/$n.key (DNS:$n$( ((expired)) && echo ", EXPIRED"), signed by $ca_dir/ca.pem)"
done
