#!/usr/bin/env bash
# scripts/gen-config-doc.sh — regenerate the key tables of docs/config.md from
# the code's own schema table (`build/kfwd schema`, userspace/conf.c).
#
#   bash scripts/gen-config-doc.sh           rewrite the part between the markers
#   bash scripts/gen-config-doc.sh --check   exit 1 if docs/config.md is out of date
#
# Only the text between the BEGIN/END marker lines changes; the prose around
# them is written by hand. Raw '<' and '>' outside `code` are escaped so that
# Markdown renderers do not take them for HTML tags. Needs build/kfwd (`make`);
# KFWD=path overrides it.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
KFWD=${KFWD:-build/kfwd}
DOC=docs/config.md
# shellcheck disable=SC2016 # the backticks are Markdown, not a command
BEGIN='<!-- BEGIN GENERATED: `kfwd schema` (scripts/gen-config-doc.sh); do not edit by hand -->'
END='<!-- END GENERATED -->'

check=0
case ${1:-} in
--check) check=1 ;;
'') ;;
*) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

[[ -x $KFWD ]] || { echo "gen-config-doc: $KFWD not found: run 'make' first" >&2; exit 1; }
[[ -f $DOC ]] || { echo "gen-config-doc: $DOC not found" >&2; exit 1; }
for m in "$BEGIN" "$END"; do
	n=$(grep -cxF -- "$m" "$DOC" || true)
	[[ $n == 1 ]] || { echo "gen-config-doc: $DOC must hold the line '$m' once (found $n)" >&2; exit 1; }
done

tables=$(mktemp) new=$(mktemp)
trap 'rm -f "$tables" "$new"' EXIT

# Escape < and > in the text outside backtick code spans.
"$KFWD" schema | awk -F'`' -v OFS='`' '{
	for (i = 1; i <= NF; i += 2) { gsub(/</, "\\&lt;", $i); gsub(/>/, "\\&gt;", $i) }
	print
}' >"$tables"
# The schema ends with a blank line; keep exactly one before the END marker.
sed -i -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$tables"

awk -v begin="$BEGIN" -v end="$END" -v tables="$tables" '
	$0 == begin { print; print ""; while ((getline l < tables) > 0) print l; print ""; skip = 1; next }
	$0 == end { skip = 0 }
	!skip { print }' "$DOC" >"$new"

if ((check)); then
	if cmp -s "$DOC" "$new"; then
		echo "gen-config-doc: $DOC is up to date"
		exit 0
	fi
	echo "gen-config-doc: $DOC is out of date; run: bash scripts/gen-config-doc.sh" >&2
	diff -u "$DOC" "$new" >&2 || true
	exit 1
fi
if cmp -s "$DOC" "$new"; then
	echo "gen-config-doc: $DOC unchanged"
else
	cat "$new" >"$DOC"
	echo "gen-config-doc: $DOC updated from '$KFWD schema'"
fi
