#!/usr/bin/env bash
# mklog.sh [PROFILE...]
#
# Makes dirty logs and writes testdata/fixtures/log.tar.gz, for
# xfsformat/log's tests and fuzz seeds, which then need no root and no
# xfsprogs. Profiles (default: both):
#   dirty    a small filesystem with rmapbt and reflink mounted with
#            64 KiB log buffers (records with an extended header),
#            logwork.sh's intents workload, then a shutdown that forces the log first
#            (nothing is checkpointed); of up to 12 tries, the one whose
#            log holds the most of the intent types (EFI, RUI, CUI, BUI:
#            which survive in the log is a matter of timing)
#   wrapped  the smallest log mkfs allows, run nearly to its end, the
#            tail pulled up by a freeze, then logwork.sh's light workload
#            and a shutdown without a log force (what the fsyncs forced
#            is there): the records from tail to head cross the end
# For each profile the tarball holds:
#   PROFILE/sb.bin          sector 0
#   PROFILE/info.txt        "logblocks N", "tail T", "head H" (basic blocks)
#   PROFILE/active.bin      the log's blocks from the tail to the head, in
#                           log order (across its end)
#   PROFILE/logprint-t.txt  xfs_logprint -t
#   PROFILE/logprint.txt    xfs_logprint's plain output, the records
#                           between the tail and the head
# Needs root, loop devices and xfsprogs.
set -euo pipefail
export TZ=UTC

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mklog.XXXXXX")
mnt=$tmp/mnt
mkdir -p "$mnt"
trap 'mountpoint -q "$mnt" && umount "$mnt"; rm -rf -- "$tmp"' EXIT
[ $# -gt 0 ] || set -- dirty wrapped

# mkfs.xfs 6.1 refuses logs under 64 MiB unless it believes it runs under
# fstests.
mkfs() { TEST_DIR=/tmp TEST_DEV=/dev/null QA_CHECK_FS=xfs mkfs.xfs -q -f "$@"; }
# state IMG: "TAIL HEAD" from xfs_logprint -t.
state() { xfs_logprint -t "$1" 2>/dev/null | sed -n 's/.*log tail: \([0-9]*\) head: \([0-9]*\).*/\1 \2/p'; }
# logdaddr IMG: "DADDR LENGTH" of the internal log.
logdaddr() { xfs_logprint -t "$1" 2>/dev/null | sed -n 's/.*log device: .* daddr: \([0-9]*\) length: \([0-9]*\).*/\1 \2/p'; }

dirty() {
	local img=$1 try n best=-1 out t
	for try in $(seq 1 12); do
		truncate -s 0 "$img"
		truncate -s 256m "$img"
		mkfs -m rmapbt=1,reflink=1 -l size=3328b "$img"
		# 64 KiB iclogs: records with an extended header, and checkpoints
		# that span records.
		mount -o loop,logbsize=64k "$img" "$mnt"
		"$here/logwork.sh" "$mnt" intents
		xfs_io -x -c "shutdown -f" "$mnt"
		umount "$mnt"
		out=$(xfs_logprint -t "$img" 2>/dev/null)
		n=0
		for t in EFI RUI CUI BUI; do grep -q "^$t:" <<<"$out" && n=$((n + 1)); done
		echo "mklog: dirty: try $try: $n of the 4 intent types" >&2
		if [ "$n" -gt "$best" ]; then
			best=$n
			cp --sparse=always "$img" "$img.best"
		fi
		[ "$n" -lt 4 ] || break
	done
	[ "$best" -gt 0 ] || { echo "mklog: dirty: no intent in 12 tries" >&2; exit 1; }
	mv -f "$img.best" "$img"
}

wrapped() {
	local img=$1 try tail head
	for try in 1 2 3 4 5; do
		truncate -s 0 "$img"
		truncate -s 256m "$img"
		mkfs -l size=1368b "$img"
		mount -o loop "$img" "$mnt"
		"$here/logwork.sh" "$mnt" nearend "$img"
		"$here/logwork.sh" "$mnt" light
		xfs_io -x -c shutdown "$mnt"
		umount "$mnt"
		read -r tail head < <(state "$img")
		[ "$tail" -gt "$head" ] && return
		echo "mklog: wrapped: tail $tail head $head did not cross the end, again" >&2
	done
	echo "mklog: wrapped: no wrapped log after 5 tries" >&2
	exit 1
}

for profile; do
	img=$tmp/$profile.img
	"$profile" "$img"
	out=$tmp/out/$profile
	mkdir -p "$out"
	read -r tail head < <(state "$img")
	read -r daddr size < <(logdaddr "$img")
	dd if="$img" of="$out/sb.bin" bs=512 count=1 status=none
	printf 'logblocks %d\ntail %d\nhead %d\n' "$size" "$tail" "$head" >"$out/info.txt"
	if [ "$tail" -le "$head" ]; then
		dd if="$img" of="$out/active.bin" bs=512 skip=$((daddr + tail)) count=$((head - tail)) status=none
	else
		dd if="$img" of="$out/active.bin" bs=512 skip=$((daddr + tail)) count=$((size - tail)) status=none
		dd if="$img" bs=512 skip="$daddr" count="$head" status=none >>"$out/active.bin"
	fi
	xfs_logprint -t "$img" >"$out/logprint-t.txt" 2>/dev/null
	# The plain output prints the whole physical log: keep the records
	# whose block lies between the tail and the head.
	xfs_logprint "$img" 2>/dev/null | awk -v t="$tail" -v h="$head" '
		function keep(b) { return t <= h ? (b >= t && b < h) : (b >= t || b < h) }
		/^cycle: [0-9]+\tversion:/ { split($0, a, "lsn: "); split(a[2], c, "[,\t ]"); in_rec = keep(c[2] + 0) }
		in_rec { print }
		/^====/ { in_rec = 0 }' >"$out/logprint.txt"
	echo "mklog: $profile: tail $tail head $head of $size, $(grep -c '^cycle:' "$out/logprint.txt") records, $(grep -c '^TRANS:' "$out/logprint-t.txt") transactions" >&2
	rm -f -- "$img"
done
printf 'xfsbox log fixtures: profiles %s\nmade by testdata/mklog.sh (workload testdata/logwork.sh)\nxfsprogs: %s\nkernel: %s\n' \
	"$*" "$(xfs_logprint -V)" "$(uname -r)" >"$tmp/out/README.txt"
tar -C "$tmp/out" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . |
	gzip -n -9 >"$here/fixtures/log.tar.gz.tmp"
mv -f -- "$here/fixtures/log.tar.gz.tmp" "$here/fixtures/log.tar.gz"
echo "mklog: $(du -k "$here/fixtures/log.tar.gz" | cut -f1) KiB" >&2
