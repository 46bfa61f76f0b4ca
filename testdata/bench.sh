#!/usr/bin/env bash
# xfsbox benchmark table: every row is ours beside a reference measured in
# the same run on the same image (median of RUNS), with the ratio. The
# check and repair rows against xfs_repair, with their targets, are
# testdata/bench-targets.sh's (make bench runs both).
# Usage: testdata/bench.sh BIN BENCH_IMAGE [INODES_IMAGE [FILES_IMAGE]]
# INODES_IMAGE (the benchinodes profile) is named in the header only;
# FILES_IMAGE (the files profile: a
# directory of a million entries, a 1 GiB file of ~9,000 extents) the
# rows of files/ against a kernel loop mount of the same image.
set -euo pipefail
BIN=$(realpath "$1"); IMG=$(realpath "$2"); INODES=${3:+$(realpath "$3")}; FILES=${4:+$(realpath "$4")}
RUNS=${RUNS:-3}
work=$(mktemp -d /tmp/xfsbox-bench.XXXXXX)
mnt="$work/mnt"; mkdir -p "$mnt"
cleanup() { fusermount3 -u "$mnt" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# measure CMD...: prints "seconds maxrss_kb" of one run
measure() { /usr/bin/time -f "%e %M" -o "$work/t" "$@" >/dev/null 2>&1 || true; cat "$work/t" | tail -1; }
# median of RUNS runs of a setup+command pair: SETUP is run before each
median() {
  local setup=$1; shift
  local ts=() rs=()
  for _ in $(seq "$RUNS"); do
    eval "$setup"
    read -r t r < <(measure "$@")
    ts+=("$t"); rs+=("$r")
  done
  printf '%s\n' "${ts[@]}" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
  printf '%s\n' "${rs[@]}" | sort -g | tail -1
}
row() { # name ours_s ref_s ours_rss ref_rss
  awk -v n="$1" -v a="$2" -v b="$3" -v ra="$4" -v rb="$5" 'BEGIN {
    printf "| %-44s | %8.2fs | %8.2fs | %6.2f | %7.0f MB | %7.0f MB | %5.2f |\n", n, a, b, (a>0 ? b/a : 0), ra/1024, rb/1024, (rb>0 ? ra/rb : 0) }'
}

echo "bench image: $IMG ($(du -h "$IMG" | cut -f1) on disk), $RUNS runs each, median time, peak RSS"
if [ -n "$INODES" ]; then echo "inode-heavy image: $INODES ($(du -h "$INODES" | cut -f1) on disk, $(xfs_db -r -c 'sb 0' -c 'print icount' "$INODES" | sed 's/.* = //') inodes)"; fi
echo
echo "| row | ours | reference | speedup | our RSS | ref RSS | RSS ratio |"
echo "|---|---|---|---|---|---|---|"

# ONLY=files runs the files/ rows alone (with FILES_IMAGE).
if [ "${ONLY:-}" != files ]; then
# Stream 2M bnobt records through the mount vs xfs_db printing them.
"$BIN" mount --read-only "$IMG" "$mnt" & mpid=$!
for _ in $(seq 100); do [ -e "$mnt/ag/0/agf" ] && break; sleep 0.1; done
mapfile -t o < <(median ":" cat "$mnt/ag/0/bnobt/records")
mapfile -t r < <(median ":" xfs_db -r -c "agf 0" -c "addr bnoroot" -c btdump "$IMG")
nrec=$(grep -vc '^#' "$mnt/ag/0/bnobt/records")
hwm=$(awk '/VmHWM/ {print $2}' /proc/$mpid/status)
fusermount3 -u "$mnt"; wait $mpid || true
row "stream ag/0/bnobt/records ($nrec recs) vs xfs_db" "${o[0]}" "${r[0]}" "$hwm" "${r[1]}"
fi

# files/ against the kernel's XFS on the same image, each side's caches
# dropped first (the kernel's page cache; our mount is started afresh).
if [ -n "$FILES" ]; then
  kmnt="$work/kmnt"; mkdir -p "$kmnt"
  drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
  ours() { # SETUP-free: start our mount, run CMD on files/, report "seconds rss_kb_of_the_mount"
    "$BIN" mount --read-only "$FILES" "$mnt" & local mpid=$!
    for _ in $(seq 100); do [ -e "$mnt/geometry" ] && break; sleep 0.1; done
    drop
    local s e; s=$(date +%s.%N); sh -c "$1" _ "$mnt/files" >/dev/null; e=$(date +%s.%N)
    local hwm; hwm=$(awk '/VmHWM/ {print $2}' /proc/$mpid/status)
    fusermount3 -u "$mnt"; wait $mpid || true
    awk -v s="$s" -v e="$e" -v h="$hwm" 'BEGIN { printf "%.3f %d\n", e-s, h }'
  }
  kernel() {
    mount -o ro,nouuid,loop "$FILES" "$kmnt"; drop
    local s e; s=$(date +%s.%N); sh -c "$1" _ "$kmnt" >/dev/null; e=$(date +%s.%N)
    umount "$kmnt"
    awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f 0\n", e-s }'
  }
  files_row() { # NAME CMD ($1 in CMD is the tree's root)
    local o k
    read -r -a o < <(ours "$2"); read -r -a k < <(kernel "$2")
    row "$1" "${o[0]}" "${k[0]}" "${o[1]}" 0
  }
  files_row "tar cf - files/ | wc -c vs kernel" 'tar cf - -C "$1" . | wc -c'
  files_row "find files/ -printf '%i %s %T@' vs kernel" 'find "$1" -printf "%i %s %T@\n"'
  files_row "read 1 GiB file (~9,000 extents) vs kernel" 'cat "$1/big/gib"'
  files_row "ls -f of a 1,000,000-entry dir vs kernel" 'ls -f "$1/million" | wc -l'
fi

[ "${ONLY:-}" = files ] && exit 0

# Mount an empty 8 TiB sparse image (no reference: target < 2 s, < 100 MB).
truncate -s 8T "$work/8t.img"; mkfs.xfs -q -m rmapbt=1,reflink=1 "$work/8t.img"
start=$(date +%s.%N)
/usr/bin/time -f "%M" -o "$work/m" "$BIN" mount --read-only "$work/8t.img" "$mnt" & mpid=$!
for _ in $(seq 200); do [ -e "$mnt/geometry" ] && break; sleep 0.01; done
end=$(date +%s.%N); cat "$mnt/ag/7/agf" >/dev/null
fusermount3 -u "$mnt"; wait $mpid || true
awk -v s="$start" -v e="$end" -v r="$(tail -1 "$work/m")" 'BEGIN { printf "| %-44s | %8.2fs | %9s | %6s | %7.0f MB | %10s | %5s |\n", "mount empty 8 TiB image (target < 2 s, 100 MB)", e-s, "-", "-", r/1024, "-", "-" }'
rm -f "$work/8t.img"
echo
echo "workspace versus memory (sort, append, iterate of 16-byte records):"
