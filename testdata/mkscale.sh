#!/usr/bin/env bash
# mkscale.sh PROFILE OUTFILE: the images of make bench's scale rows
# (issue #18), kept apart from mkimage.sh so that editing one does not
# rebuild the other's images (the cache key covers this script, and
# mkimage.sh for the profiles it delegates to).
#
#   bench1m    the bench profile with about 1 million one-block free
#              extents in AG 0 (mkimage.sh bench, BENCH_HOLES)
#   bench4m    the same with about 4 million (AG 0 is 32 GiB: 8.2 million
#              of its 8.4 million blocks preallocated, every other punched)
#   scale16ag  16 GiB, 16 AGs, about 600,000 files in 100 directories
#              spread over the AGs (a block written for every tenth file)
#   sparse4t   4 TiB sparse, 8 AGs of 512 GiB, each AG holding a file of
#              300,000 one-block extents with a hole after each (about 2.4
#              million extents and as many free extents over the AGs)
#
# The bench profile's 2 million is mkimage.sh bench. All take minutes.
set -euo pipefail
[ $# -eq 2 ] || { sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }
profile=$1 out=$2
here=$(cd "$(dirname "$0")" && pwd)
log() { echo "mkscale[$profile]: $*" >&2; }

case $profile in
bench1m) BENCH_HOLES=1025000 exec "$here/mkimage.sh" bench "$out" ;;
bench4m) BENCH_HOLES=4100000 exec "$here/mkimage.sh" bench "$out" ;;
scale16ag) size=16g mkfsopts=(-d agcount=16 -m "crc=1,rmapbt=1,reflink=1,finobt=1,inobtcount=1,bigtime=1,uuid=6b1c8a3e-0101-4d2e-9a51-7f0e3c2b1a01" -i sparse=1) ;;
sparse4t) size=4t mkfsopts=(-d agcount=8 -m "crc=1,rmapbt=1,reflink=1,finobt=1,inobtcount=1,bigtime=1,uuid=6b1c8a3e-0102-4d2e-9a51-7f0e3c2b1a02" -i sparse=1) ;;
*) echo "mkscale: unknown profile $profile (bench1m bench4m scale16ag sparse4t)" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { log "must run as root (loop mount)"; exit 1; }

mkdir -p -- "$(dirname -- "$out")"
tmp=$(mktemp -- "$out.tmp.XXXXXX")
mnt=$(mktemp -d "${TMPDIR:-/tmp}/mkscale-mnt.XXXXXX")
cleanup() {
	local rc=$?
	set +e
	mountpoint -q "$mnt" && { umount "$mnt" 2>/dev/null || umount -l "$mnt"; }
	rmdir "$mnt" 2>/dev/null
	rm -f -- "$tmp" "$tmp.sha256"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

truncate -s "$size" "$tmp"
chmod 0644 -- "$tmp"
log "mkfs.xfs ${mkfsopts[*]} ($size)"
mkfs.xfs -q -f -K "${mkfsopts[@]}" "$tmp"
mount -o loop,noatime "$tmp" "$mnt"
blksz=$(stat -f -c %S "$mnt")
agblklog=$(xfs_db -r -c 'sb 0' -c 'print agblklog' "$tmp" | sed 's/.* = //')
inopblog=$(xfs_db -r -c 'sb 0' -c 'print inopblog' "$tmp" | sed 's/.* = //')
agcount=$(xfs_db -r -c 'sb 0' -c 'print agcount' "$tmp" | sed 's/.* = //')
ino_agno() { echo $(($(stat -c %i "$1") >> (agblklog + inopblog))); }

case $profile in
scale16ag)
	# Directories rotate over the AGs; their files go near them.
	per=6000
	for ((d = 0; d < 100; d++)); do
		mkdir "$mnt/d$d"
		(cd "$mnt/d$d" && seq -f 'f%05g' 1 "$per" | xargs touch)
		awk -v dir="$mnt/d$d" -v n="$per" -v d="$d" 'BEGIN {
			for (i = 10; i <= n; i += 10)
				printf "open %s/f%05d\npwrite -q -S %d 0 4096\nclose\n", dir, i, (i + d) % 250 + 1
		}' | xfs_io >/dev/null
	done
	;;
sparse4t)
	# A directory in every AG (the kernel hands new directories out
	# round-robin; keep the first that lands in each), a file in it
	# preallocated and every other block punched.
	holes=300000
	for ((a = 0; a < agcount; a++)); do
		for ((try = 0; ; try++)); do
			[ "$try" -lt 64 ] || { log "no directory landed in AG $a"; exit 1; }
			mkdir "$mnt/ag$a.$try"
			[ "$(ino_agno "$mnt/ag$a.$try")" = "$a" ] && break
			rmdir "$mnt/ag$a.$try"
		done
		d=$mnt/ag$a.$try
		xfs_io -f -c "falloc 0 $((2 * holes * blksz))" "$d/frag"
		awk -v b="$blksz" -v n="$holes" 'BEGIN { for (i = 0; i < n; i++) printf "fpunch %.0f %d\n", (1 + 2*i) * b, b }' |
			xfs_io "$d/frag" >/dev/null
		printf 'ag %d\n' "$a" >"$d/hello"
	done
	;;
esac

sync
(cd "$mnt" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum) >"$tmp.sha256"
umount "$mnt"
mv -f -- "$tmp.sha256" "$out.sha256"
mv -f -- "$tmp" "$out"
log "done"
