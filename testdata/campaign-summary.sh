#!/usr/bin/env bash
# campaign-summary.sh [FILE...]: the files campaign's standing, object by
# profile, from its result tables (default: testdata/results/
# campaign-files-*.txt, oldest first by the commit that added each, files
# not yet committed last). A later table (or a later section of one
# file) supersedes an earlier one for the pairs it holds, as a rerun
# after a fix does. A line "rerun: PROFILE OBJECT misses N failed N
# (why)" in a table sets that pair's counts after cases re-run by hand
# (a pause that timed out the cases in flight, say).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
if [ $# -eq 0 ]; then
	mapfile -t files < <(
		for f in testdata/results/campaign-files-*.txt; do
			t=$(git log --diff-filter=A --format=%ct -1 -- "$f" 2>/dev/null)
			echo "${t:-9999999999} $f"
		done | sort -n | cut -d' ' -f2
	)
	set -- "${files[@]}"
fi
awk '
BEGIN { split("zeroes ones firstbit middlebit lastbit add sub random", v, " "); for (i in v) verb[v[i]] = 1 }
FNR == 1 { sec++; prof = "" }
/^## / { sec++; prof = "" }
/^rerun: / { k = $2 SUBSEP $3; miss[k] = $5; fail[k] = $7; src[k] = FILENAME " + rerun"; next }
# A table row: [profile object] verb cases unchanged rejected failed xfs_repair us misses extras
NF == 11 && ($3 in verb) && $4 ~ /^[0-9]+$/ { prof = $1; obj = $2; add($4, $7, $10); next }
NF == 9 && ($1 in verb) && $2 ~ /^[0-9]+$/ && prof != "" { add($2, $5, $8); next }
{ prof = "" }
function add(c, f, m,   k) {
	k = prof SUBSEP obj
	if (!(k in last)) order[++n] = k
	if (last[k] != sec) { cases[k] = 0; miss[k] = 0; fail[k] = 0; last[k] = sec }
	cases[k] += c; fail[k] += f; miss[k] += m; src[k] = FILENAME
}
END {
	printf "%-12s %-22s %6s %6s %6s  %s\n", "profile", "object", "cases", "misses", "failed", "table"
	for (i = 1; i <= n; i++) {
		k = order[i]
		split(k, pk, SUBSEP)
		tc += cases[k]; tm += miss[k]; tf += fail[k]
		printf "%-12s %-22s %6d %6d %6d  %s\n", pk[1], pk[2], cases[k], miss[k], fail[k], src[k]
	}
	printf "%-12s %-22s %6d %6d %6d  (%d pairs)\n", "total", "", tc, tm, tf, n
}' "$@"
