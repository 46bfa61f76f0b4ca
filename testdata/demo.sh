#!/usr/bin/env bash
# xfsbox demo: make a small XFS image, damage its free-space btree, mount
# it with xfsbox and look at the damage the way xfs_db and xfs_repair see
# it. Needs root (loop mount to populate the image, FUSE to mount it).
set -euo pipefail
BIN=${1:-bin/xfsbox}
BIN=$(realpath "$BIN")
work=$(mktemp -d /tmp/xfsbox-demo.XXXXXX)
mnt="$work/mnt"; img="$work/demo.img"
mkdir -p "$mnt"
cleanup() {
  fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null || true
  [ -n "${pid:-}" ] && wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

say "make a small all-features XFS image with some files"
truncate -s 512M "$img"
mkfs.xfs -q -m rmapbt=1,reflink=1 "$img"
mount -o loop "$img" "$mnt"
for i in $(seq 1 200); do echo "file $i" > "$mnt/f$i"; done
xfs_io -f -c 'pwrite -q 0 16m' "$mnt/big"
for off in $(seq 0 2 511); do xfs_io -c "fpunch $((off * 4096)) 4096" "$mnt/big"; done
umount "$mnt"

say "damage it: zero the freeblks counter of AG 0's AGF"
run xfs_db -x -c 'agf 0' -c 'write -d freeblks 0' "$img" >/dev/null

say "xfs_repair -n sees the damage"
run xfs_repair -n "$img" 2>&1 | grep -iE 'freeblks|free block|agf' | head -5 || true

say "mount it with xfsbox and look"
"$BIN" mount "$img" "$mnt" & pid=$!
for _ in $(seq 100); do [ -e "$mnt/ag/0/agf" ] && break; sleep 0.1; done
run ls "$mnt" "$mnt/ag/0"
run grep -E 'freeblks|longest|crc' "$mnt/ag/0/agf"
run head -5 "$mnt/ag/0/bnobt/records"
printf '$ awk ... ag/0/bnobt/records   # sum of free extents\n'
awk '!/^#/ {s += $2} END {print "free blocks in the bnobt:", s}' "$mnt/ag/0/bnobt/records"
run cat "$mnt/ag/0/bnobt/shape"
run cat "$mnt/ag/0/freesp"
run cat "$mnt/ag/0/health"

say "repair it: echo bnobt > ag/0/repair"
run sh -c "echo bnobt > '$mnt/ag/0/repair'"
run cat "$mnt/log"
run grep -E 'freeblks|longest|crc' "$mnt/ag/0/agf"
run cat "$mnt/ag/0/health"
fusermount3 -u "$mnt"; wait "$pid"; pid=

say "xfs_repair -n agrees it is clean"
if xfs_repair -n "$img" >"$work/repair.txt" 2>&1; then
  echo "xfs_repair -n: clean (exit 0)"
else
  cat "$work/repair.txt"; echo "xfs_repair -n still complains"; exit 1
fi
say "the kernel mounts it and the files are intact"
mount -o loop "$img" "$mnt"
run cat "$mnt/f42"
run ls "$mnt" | head -3
umount "$mnt"
say "done"
