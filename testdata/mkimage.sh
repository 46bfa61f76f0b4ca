#!/usr/bin/env bash
# mkimage.sh PROFILE OUTFILE
#
# Builds one XFS image of the test matrix (see /work/shared/design/testing.md,
# "Images") with mkfs.xfs on a sparse file, loop-mounts it, populates it so
# that every AG btree of AG 0 is more than one level high (the fstests
# recipe), leaves some data in the other AGs, gives ag0/fmt one file of
# every format above the AG (populate_formats: directories, attribute
# forks, bmbts, symlinks, device nodes, ACLs, timestamps), unmounts
# cleanly and writes OUTFILE.sha256: `sha256sum` lines of every regular
# file, relative paths, sorted, computed while mounted.
#
# Needs root, xfsprogs (mkfs.xfs, xfs_io, xfs_db) and loop devices.
#
# Profiles:
#   allfeatures  crc, rmapbt, reflink, finobt, sparse inodes, inobtcount, bigtime
#   defaults     mkfs.xfs defaults with rmapbt=0
#   1k           1 KiB blocks, allfeatures' -m options
#   4ksector     4096-byte sectors, allfeatures' options
#   oneag        agcount=1, allfeatures' options
#   manyag       agcount=16, allfeatures' options
#   bench        64 GiB sparse, 2 AGs, AG 0's free space fragmented into about
#                2 million one-block extents (only for benchmarks; takes minutes)
#   benchinodes  16 GiB sparse, 4 AGs, about a million inodes in 100
#                directories: a tenth with a data block, one in a hundred
#                with eight extents, one in seven removed (free inodes)
#                (only for benchmarks; takes a few minutes)
#   aged         1 GiB, 4 AGs, allfeatures' options, aged by a fixed random
#                workload (writes, preallocation, punches, reflinks,
#                truncates, removals): free space, refcounts and rmaps as
#                years of use leave them, not as a recipe does
#   parent       allfeatures' options with parent pointers (the parent
#                feature, which mkfs.xfs 6.1 cannot set: the superblocks'
#                incompat bit is set with xfs_db before the first mount, when
#                only the root directory exists, so the kernel writes a
#                parent pointer for every name it makes); the full recipe,
#                its xattrs set through the kernel (xfs_db 6.1 would file
#                parent pointers under the wrong hash), plus renames and
#                hard links (ag0/pptr). xfs_repair 6.1 refuses it (unknown
#                feature): the kernel is its judge
#   files        4 GiB, allfeatures' options, the full recipe plus a
#                directory of a million entries and a 1 GiB file of about
#                ten thousand extents (written, unwritten, holes) under a
#                three-level bmbt (for benchmarks and the campaign of
#                files/; takes minutes)
#
# Filesystems as they exist in the wild (the "wild" matrix: the options
# users' filesystems were made with, each populated by the same recipe,
# scaled down where the geometry would make it huge):
#   rhel7        the v5 defaults of xfsprogs 3.2-4.5 (RHEL 7): no finobt,
#                no sparse inodes, no reflink, rmapbt, bigtime, inobtcount
#   rhel8        the v5 defaults of xfsprogs 5.0 (RHEL 8): finobt, sparse
#                inodes, reflink; no rmapbt, bigtime, inobtcount
#   nosparse     allfeatures without sparse inodes (chunks on cluster
#                boundaries: 32 inodes apart with 512-byte inodes)
#   4knosparse   4096-byte sectors without sparse inodes
#   isize1k      1024-byte inodes
#   isize2k      2048-byte inodes, no sparse inodes (2 a block; a chunk
#                is 32 blocks, on 8-block cluster boundaries)
#   2k           2 KiB blocks, no sparse inodes
#   64k          64 KiB blocks (128 inodes a block: two chunks share one)
#   64kisize2k   64 KiB blocks with 2048-byte inodes (32 inodes a block)
#   dir64k       64 KiB directory blocks
#   stripe       stripe alignment (su=64k, sw=4)
#   nrext64      large extent counters
#   logsmall     the smallest internal log mkfs allows
#   loglarge     a 1000 MiB internal log (2 AGs of 1 GiB)
#
# The structure is deterministic: fixed UUID per profile, file contents are
# fixed byte patterns (xfs_io pwrite -S) or text, every step is sequential.
# Inode numbers and block placement depend on the kernel's allocator, so they
# are stable for a given kernel but not promised across kernels.
set -euo pipefail

usage() {
	echo "usage: $0 PROFILE OUTFILE" >&2
	echo "profiles: allfeatures defaults 1k 4ksector oneag manyag bench benchinodes aged files parent" >&2
	echo "  wild: rhel7 rhel8 nosparse 4knosparse isize1k isize2k 2k 64k 64kisize2k dir64k stripe nrext64 logsmall loglarge" >&2
	exit 2
}
[ $# -eq 2 ] || usage
profile=$1
out=$2

log() { echo "mkimage[$profile]: $*" >&2; }
die() { log "error: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (loop mount)"
for tool in mkfs.xfs xfs_io xfs_db sha256sum losetup mount umount; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

allmeta="crc=1,rmapbt=1,reflink=1,finobt=1,inobtcount=1,bigtime=1"
size=1g
populate=full
pptr=0
mkfsenv=()
case $profile in
allfeatures) mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-0001-4d2e-9a51-7f0e3c2b1a01" -i sparse=1) ;;
defaults) mkfsopts=(-m "rmapbt=0,uuid=6b1c8a3e-0002-4d2e-9a51-7f0e3c2b1a02") ;;
1k) mkfsopts=(-b size=1024 -m "$allmeta,uuid=6b1c8a3e-0003-4d2e-9a51-7f0e3c2b1a03" -i sparse=1) ;;
4ksector) mkfsopts=(-s size=4096 -m "$allmeta,uuid=6b1c8a3e-0004-4d2e-9a51-7f0e3c2b1a04" -i sparse=1) ;;
oneag)
	# mkfs.xfs refuses a single AG ("at least 2 superblocks for redundancy")
	# unless it believes it runs under fstests, which these variables tell it.
	mkfsenv=(TEST_DIR=/tmp TEST_DEV=/dev/null QA_CHECK_FS=xfs)
	mkfsopts=(-d agcount=1 -m "$allmeta,uuid=6b1c8a3e-0005-4d2e-9a51-7f0e3c2b1a05" -i sparse=1)
	;;
manyag)
	# 16 AGs of 128 MiB: AG 0 must hold the inode chunks and the punched files.
	size=2g
	mkfsopts=(-d agcount=16 -m "$allmeta,uuid=6b1c8a3e-0006-4d2e-9a51-7f0e3c2b1a06" -i sparse=1)
	;;
bench)
	size=64g
	populate=bench
	mkfsopts=(-d agcount=2 -m "$allmeta,uuid=6b1c8a3e-0007-4d2e-9a51-7f0e3c2b1a07" -i sparse=1)
	;;
aged)
	populate=aged
	mkfsopts=(-d agcount=4 -m "$allmeta,uuid=6b1c8a3e-000a-4d2e-9a51-7f0e3c2b1a0a" -i sparse=1)
	;;
benchinodes)
	size=16g
	populate=benchinodes
	mkfsopts=(-d agcount=4 -m "$allmeta,uuid=6b1c8a3e-0009-4d2e-9a51-7f0e3c2b1a09" -i sparse=1)
	;;
files)
	size=4g
	populate=files
	mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-001e-4d2e-9a51-7f0e3c2b1a1e" -i sparse=1)
	;;
parent)
	pptr=1
	mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-001f-4d2e-9a51-7f0e3c2b1a1f" -i sparse=1)
	;;
rhel7) mkfsopts=(-m "crc=1,finobt=0,reflink=0,rmapbt=0,bigtime=0,inobtcount=0,uuid=6b1c8a3e-0010-4d2e-9a51-7f0e3c2b1a10" -i sparse=0) ;;
rhel8) mkfsopts=(-m "crc=1,finobt=1,reflink=1,rmapbt=0,bigtime=0,inobtcount=0,uuid=6b1c8a3e-0011-4d2e-9a51-7f0e3c2b1a11" -i sparse=1) ;;
nosparse) mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-0012-4d2e-9a51-7f0e3c2b1a12" -i sparse=0) ;;
4knosparse) mkfsopts=(-s size=4096 -m "$allmeta,uuid=6b1c8a3e-0013-4d2e-9a51-7f0e3c2b1a13" -i sparse=0) ;;
isize1k) mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-0014-4d2e-9a51-7f0e3c2b1a14" -i size=1024,sparse=1) ;;
isize2k) mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-0015-4d2e-9a51-7f0e3c2b1a15" -i size=2048,sparse=0) ;;
2k) mkfsopts=(-b size=2048 -m "$allmeta,uuid=6b1c8a3e-0016-4d2e-9a51-7f0e3c2b1a16" -i sparse=0) ;;
64k)
	size=2g
	mkfsopts=(-b size=65536 -m "$allmeta,uuid=6b1c8a3e-0017-4d2e-9a51-7f0e3c2b1a17")
	;;
64kisize2k)
	size=2g
	mkfsopts=(-b size=65536 -m "$allmeta,uuid=6b1c8a3e-0018-4d2e-9a51-7f0e3c2b1a18" -i size=2048)
	;;
dir64k) mkfsopts=(-n size=65536 -m "$allmeta,uuid=6b1c8a3e-0019-4d2e-9a51-7f0e3c2b1a19" -i sparse=1) ;;
stripe) mkfsopts=(-d su=64k,sw=4 -m "$allmeta,uuid=6b1c8a3e-001a-4d2e-9a51-7f0e3c2b1a1a" -i sparse=1) ;;
nrext64) mkfsopts=(-m "$allmeta,uuid=6b1c8a3e-001b-4d2e-9a51-7f0e3c2b1a1b" -i sparse=1,nrext64=1) ;;
logsmall)
	# mkfs.xfs 6.1 wants a 64 MiB log at least, unless it believes it runs
	# under fstests (as for oneag); older mkfs made logs this small.
	mkfsenv=(TEST_DIR=/tmp TEST_DEV=/dev/null QA_CHECK_FS=xfs)
	mkfsopts=(-l size=3328b -m "$allmeta,uuid=6b1c8a3e-001c-4d2e-9a51-7f0e3c2b1a1c" -i sparse=1)
	;;
loglarge)
	size=2g
	mkfsopts=(-d agcount=2 -l size=1000m -m "$allmeta,uuid=6b1c8a3e-001d-4d2e-9a51-7f0e3c2b1a1d" -i sparse=1)
	;;
*) usage ;;
esac

outdir=$(dirname -- "$out")
mkdir -p -- "$outdir"
tmp=$(mktemp -- "$out.tmp.XXXXXX")
mnt=$(mktemp -d "${TMPDIR:-/tmp}/mkimage-mnt.XXXXXX")
mounted=0

cleanup() {
	local rc=$?
	set +e
	if [ "$mounted" = 1 ] || mountpoint -q "$mnt"; then
		umount "$mnt" 2>/dev/null || umount -l "$mnt" 2>/dev/null
	fi
	# mount -o loop sets autoclear, but a failed mount can leave a device.
	local dev
	for dev in $(losetup -j "$tmp" -O NAME -n 2>/dev/null); do
		losetup -d "$dev" 2>/dev/null
	done
	rmdir "$mnt" 2>/dev/null
	rm -f -- "$tmp" "$tmp.sha256"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

truncate -s "$size" "$tmp"
chmod 0644 -- "$tmp" # mktemp makes it 0600
log "mkfs.xfs ${mkfsopts[*]} ($size)"
# -K: no discard, pointless on a fresh sparse file and slow on large ones.
if ! mkfsout=$(env "${mkfsenv[@]}" mkfs.xfs -q -f -K "${mkfsopts[@]}" "$tmp" 2>&1); then
	echo "$mkfsout" >&2
	die "mkfs.xfs failed"
fi

if [ "$pptr" = 1 ]; then
	# The parent feature bit on every superblock. xfs_db 6.1 does not know
	# the bit, so its verifier refuses the write unless told not to run
	# (-d: the CRC is still computed).
	agcount=$(xfs_db -r -c 'sb 0' -c 'print agcount' "$tmp" | sed 's/.* = //')
	incompat=$(xfs_db -r -c 'sb 0' -c 'print features_incompat' "$tmp" | sed 's/.* = //')
	incompat=$(printf '%#x' $((incompat | 0x80)))
	for ((i = 0; i < agcount; i++)); do
		xfs_db -x -c "sb $i" -c "write -d features_incompat $incompat" "$tmp" >/dev/null 2>&1
	done
	[ "$(xfs_db -r -c 'sb 0' -c 'print features_incompat' "$tmp" 2>/dev/null | sed 's/.* = //')" = "$incompat" ] ||
		die "could not set the parent feature bit"
fi

# noatime: reading every file for the hashes below must not replace the
# access times set by the recipe.
mount -o loop,noatime "$tmp" "$mnt"
mounted=1

blksz=$(stat -f -c %S "$mnt")
# Geometry for telling which AG an inode lives in.
agblklog=$(xfs_db -r -c 'sb 0' -c 'print agblklog' "$tmp" | sed 's/.* = //')
inopblog=$(xfs_db -r -c 'sb 0' -c 'print inopblog' "$tmp" | sed 's/.* = //')
ino_agno() { echo $(($(stat -c %i "$1") >> (agblklog + inopblog))); }

# mkdir_in_ag0 DIR: the kernel hands new directories out round-robin over
# the AGs, starting at the AG after the last one used. Keep creating until
# one lands in AG 0, removing the misses.
mkdir_in_ag0() {
	local i
	for ((i = 0; i < 64; i++)); do
		mkdir "$1"
		if [ "$(ino_agno "$1")" = 0 ]; then return 0; fi
		rmdir "$1"
	done
	die "could not get directory $1 into AG 0"
}

# punch_every_other FILE FIRST COUNT: punch blocks FIRST, FIRST+2, ... (COUNT
# holes), with one xfs_io process reading its commands from stdin.
punch_every_other() {
	local f=$1 first=$2 count=$3
	awk -v b="$blksz" -v first="$first" -v n="$count" \
		'BEGIN { for (i = 0; i < n; i++) printf "fpunch %.0f %d\n", (first + 2*i) * b, b }' |
		xfs_io "$f" >/dev/null
}

# sb_field NAME: a field of the superblock of the image being built.
sb_field() { xfs_db -r -c 'sb 0' -c "print $1" "$tmp" | sed 's/.* = //'; }

# xattr_lines NAMEPREFIX COUNT VALUELEN: COUNT attributes NAMEPREFIX<i>
# with VALUELEN-byte text values, as lines of getfattr's dump format
# (what setfattr --restore reads).
xattr_lines() {
	awk -v p="$1" -v n="$2" -v l="$3" 'BEGIN {
		for (i = 0; i < n; i++) {
			v = sprintf("%s%d=", p, i)
			while (length(v) < l) v = v v
			printf "%s%d=\"%s\"\n", p, i, substr(v, 1, l)
		}
	}'
}

# populate_formats: one instance of every on-disk format above the AG
# that a reader of files has to decode, under ag0/fmt (sizes follow the
# block, directory block and inode sizes, so every profile reaches the
# same formats where its geometry allows):
#   dirs/empty, dirs/short   shortform (short: an entry of every file type)
#   dirs/block               one directory block (and every file type, as
#                            hard links, and an attribute on the directory)
#   dirs/leaf                several data blocks and one leaf block
#   dirs/node                a da-btree node above leaf blocks, and a free
#                            index block; every 7th entry removed
#   files/alternating        written and unwritten blocks alternating:
#                            thousands of extents, a bmbt whose root in the
#                            inode is at level 2 (an on-disk node level)
#   files/*                  preallocation past EOF, a file that is one
#                            hole, a hole at the tail, an empty file, a
#                            file with three hard links
#   links/short, links/long  inline and remote (XSLM, 1023 bytes) symlinks
#   xattr/sf, leaf, node     attribute forks in shortform, one attr3 leaf,
#                            a da-btree of leaves; names in user, trusted
#                            and security
#   xattr/remote             values of more than a block (remote blocks)
#   xattr/acl, xattr/acldir  POSIX ACLs (access; access and default)
#   times/*                  nanosecond timestamps, before 1970, after 2038
#   modes/*                  setuid, setgid, sticky, odd modes, uids, gids
# Nothing in it is larger than a few MiB at 4 KiB blocks.
populate_formats() {
	local fmt=$mnt/ag0/fmt i n
	local isize dirblk
	isize=$(sb_field inodesize)
	dirblk=$((blksz << $(sb_field dirblklog)))
	mkdir -p "$fmt"/{dirs,files,links,xattr,times,modes}

	# Directories. Shortform entries of every type.
	mkdir "$fmt/dirs/empty" "$fmt/dirs/short"
	local short=$fmt/dirs/short
	printf 'regular\n' >"$short/reg"
	mkdir "$short/dir"
	ln -s reg "$short/symlink"
	mknod "$short/chr" c 1 3
	mknod "$short/blk" b 7 200
	mknod "$short/chrbig" c 300 70000
	mkfifo "$short/fifo"
	# The system's python3 first: a version manager's shim takes seconds.
	local py
	py=$(command -v /usr/bin/python3 python3 | head -n 1 || true)
	if [ -n "$py" ]; then
		"$py" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$short/sock"
	else
		log "python3 not found: no socket in the image"
	fi
	# Block: more entries than the inode holds, fewer than a block: 30-byte
	# names (about 40 bytes in the inode, 56 in a block with the leaf entry).
	local block=$fmt/dirs/block
	n=$(((isize - 176) / 36 + 2))
	[ $((n * 56 + 200)) -le "$dirblk" ] || n=$(((dirblk - 200) / 56))
	mkdir "$block"
	(cd "$block" && seq -f 'block-entry-%018g' 1 "$n" | xargs touch)
	local special=()
	for i in chr blk fifo symlink sock; do
		[ ! -e "$short/$i" ] && [ ! -L "$short/$i" ] || special+=("$short/$i")
	done
	ln -P -t "$block" "${special[@]}"
	mkdir "$block/subdir"
	# Leaf: 40-byte names (56-byte data entries, 8-byte leaf entries), a
	# sixteenth of a block's bytes in entries: 3.5 data blocks, half a leaf.
	mkdir "$fmt/dirs/leaf"
	(cd "$fmt/dirs/leaf" && seq -f 'leaf-entry-with-a-forty-byte-name-%06g' 1 $((dirblk / 16)) | xargs touch)
	# Node: leaf entries for 2.5 blocks.
	mkdir "$fmt/dirs/node"
	n=$((dirblk * 5 / 16))
	(cd "$fmt/dirs/node" && seq -f 'node-entry-with-a-forty-byte-name-%06g' 1 "$n" | xargs touch)
	(cd "$fmt/dirs/node" && seq -f 'node-entry-with-a-forty-byte-name-%06g' 7 7 "$n" | xargs rm -f)

	# Files. Alternating written and unwritten blocks: two extents per two
	# blocks, 6144 of them (fewer past 4 KiB blocks: at most 24 MiB).
	n=6144
	[ $((n * blksz)) -le $((24 << 20)) ] || n=$(((24 << 20) / blksz))
	awk -v b="$blksz" -v n="$n" 'BEGIN {
		printf "falloc 0 %d\n", n * b
		for (i = 0; i < n; i += 2) printf "pwrite -q -S %d %d %d\n", i % 251 + 1, i * b, b
	}' | xfs_io -f "$fmt/files/alternating" >/dev/null
	# Preallocated past EOF (falloc -k): unwritten extents beyond the size.
	xfs_io -f -c "pwrite -q -S 0x61 0 10" -c "falloc -k 0 1m" "$fmt/files/prealloc-past-eof"
	# A file that is one hole, and one whose tail is a hole.
	xfs_io -f -c "truncate 16m" "$fmt/files/hole-only"
	xfs_io -f -c "pwrite -q -S 0x62 0 8k" -c "truncate 1m" "$fmt/files/tail-hole"
	: >"$fmt/files/empty"
	printf 'three names\n' >"$fmt/files/linked"
	ln "$fmt/files/linked" "$fmt/links/linked.2"
	ln "$fmt/files/linked" "$fmt/dirs/short/linked.3"

	# Symlinks: inline, and remote (1023 bytes, the longest: two blocks at
	# 1 KiB blocks).
	ln -s ../files/linked "$fmt/links/short"
	ln -s "$(printf 'x%.0s' $(seq 1 1015))/a/b/c/d" "$fmt/links/long"

	# Extended attributes, set through the kernel by one setfattr (-h: on
	# the symlink, not its target).
	local remote=$((blksz * 3 / 2 < 60000 ? blksz * 3 / 2 : 60000)) nleaf=$((blksz / 80))
	[ $((nleaf * 45)) -gt $((isize - 176)) ] || nleaf=$(((isize - 176) / 45 + 2))
	# POSIX ACLs in the kernel's xattr form (little-endian: version 2, then
	# tag, perm, id): user::rw- user:1000:r-- group::r-- group:100:r-x
	# mask::r-x other::r--.
	local acl=0x02000000
	acl+=01000600ffffffff
	acl+=02000400e8030000
	acl+=04000400ffffffff
	acl+=0800050064000000
	acl+=10000500ffffffff
	acl+=20000400ffffffff
	local x
	for x in sf leaf node remote acl; do printf '%s\n' "$x" >"$fmt/xattr/$x"; done
	mkdir "$fmt/xattr/acldir"
	{
		# Shortform, one name in each namespace.
		printf '# file: xattr/sf\nuser.a="1"\ntrusted.b="two"\nsecurity.c=0x0003ff\n\n'
		# One leaf: more than the inode holds, less than a block (about 52
		# bytes an attribute: 32-byte value, 8-byte entry, header, name).
		echo '# file: xattr/leaf'
		xattr_lines user.leaf "$nleaf" 32
		printf 'trusted.leaf="t"\nsecurity.leaf="s"\n\n'
		# A da-btree above leaves: about seven blocks of attributes, and a
		# remote value.
		echo '# file: xattr/node'
		xattr_lines user.node $((blksz / 8)) 32
		xattr_lines trusted.node 20 16
		xattr_lines security.node 20 16
		xattr_lines user.noderemote 1 "$remote"
		# One leaf with a remote value of 1.5 blocks (at most 60000 bytes: a
		# 64 KiB block holds values up to 3/4 of a block inline) beside
		# local ones.
		printf '\n# file: xattr/remote\n'
		xattr_lines user.remote 1 "$remote"
		xattr_lines trusted.local 2 $((remote / 8))
		printf 'user.small="small"\n\n'
		printf '# file: xattr/acl\nsystem.posix_acl_access=%s\n\n' "$acl"
		printf '# file: xattr/acldir\nsystem.posix_acl_access=%s\nsystem.posix_acl_default=%s\n\n' "$acl" "$acl"
		# On a directory and on a symlink (no user.* on symlinks).
		printf '# file: dirs/block\nuser.dir="block"\n\n'
		printf '# file: links/short\ntrusted.link="short"\n\n'
	} | (cd "$fmt" && setfattr -h --restore=-)

	# Modes, owners.
	local m=$fmt/modes
	for i in 0000 0640 4755 2710 6711 0777; do
		printf 'mode %s\n' "$i" >"$m/m$i"
		chmod "$i" "$m/m$i"
	done
	mkdir "$m/sticky"
	chmod 1777 "$m/sticky"
	chown 1234:5678 "$m/m0640"
	chown 65534:65534 "$m/m4755"
	chown 3000000000:3000000001 "$m/m0777"
	chown -h 42:43 "$fmt/links/long"
	chmod 4755 "$m/m4755" # chown clears the setuid bit

	# Timestamps last (creating entries changes a directory's): every one
	# of atime and mtime different, to the nanosecond; before 1970 and
	# after 2038 (clamped where bigtime is off).
	local t=$fmt/times
	printf 'times\n' >"$t/ns"
	touch -m -d '2021-03-04 05:06:07.123456789 UTC' "$t/ns"
	touch -a -d '2019-08-09 10:11:12.987654321 UTC' "$t/ns"
	printf 'old\n' >"$t/pre1970"
	touch -m -d '@-2000000000.000000001' "$t/pre1970"
	touch -a -d '@-1.5' "$t/pre1970"
	printf 'future\n' >"$t/post2038"
	touch -m -d '2100-01-02 03:04:05.000000006 UTC' "$t/post2038"
	touch -a -d '2038-01-19 03:14:08.5 UTC' "$t/post2038"
	touch -h -m -d '2001-02-03 04:05:06.7 UTC' "$fmt/links/short"
	touch -m -d '2011-12-13 14:15:16.171819202 UTC' "$t" "$fmt/dirs/short"
}

populate_full() {
	# Records needed: about 2 x records-per-leaf of each tree. holes = blksz/2
	# one-block holes gives 2048 records at 4 KiB blocks (bnobt/cntbt leaf
	# 505, rmapbt 168, refcountbt 336) and 512 at 1 KiB (121, 40, 80).
	# Capped at the 4 KiB figures: at 64 KiB blocks the recipe would want
	# a 4 GiB file and half a million inodes (those trees stay one level).
	local holes=$((blksz / 2 > 2048 ? 2048 : blksz / 2))
	# Inodes: 2 x inobt-records-per-leaf x 64 (inobt leaf about blksz/16):
	# 32768 at 4 KiB (512 chunks, leaf 252), 8192 at 1 KiB (128, leaf 60).
	local ninodes=$((2 * (blksz / 16) * 64))
	[ "$ninodes" -le 32768 ] || ninodes=32768
	local d

	# The order matters. Single-block allocations (directory blocks, attr
	# blocks) would fill the one-block holes, and new inodes would take the
	# freed ones, so: create everything, then punch, then free inodes.
	mkdir_in_ag0 "$mnt/ag0"

	# inobt/finobt: thousands of inodes in one directory in AG 0 (every 19th
	# is removed at the end, so that every chunk has a free inode).
	mkdir_in_ag0 "$mnt/ag0/inodes"
	(cd "$mnt/ag0/inodes" && seq -f 'f%06g' 1 "$ninodes" | xargs touch)

	# Ordinary files in AG 0.
	printf 'hello, xfsbox\n' >"$mnt/ag0/hello.txt"
	xfs_io -f -c "pwrite -q -S 0x5a 0 100000" "$mnt/ag0/small.bin"
	xfs_io -f -c "pwrite -q -S 0xa5 -b 1m 0 8m" "$mnt/ag0/big.bin"
	# An unwritten (preallocated, never written) extent and a written tail.
	xfs_io -f -c "falloc 0 1m" -c "pwrite -q -S 0x11 1m 64k" "$mnt/ag0/prealloc.bin"
	# A sparse file.
	xfs_io -f -c "pwrite -q -S 0x22 0 4k" -c "pwrite -q -S 0x33 10m 4k" "$mnt/ag0/sparse.bin"

	# A directory tree (mkdir -p spreads it over the AGs), symlinks (inline
	# and remote), a hard link.
	mkdir -p "$mnt/ag0/tree/a/b/c" "$mnt/ag0/tree/x/y"
	for d in a a/b a/b/c x x/y; do
		printf 'file in %s\n' "$d" >"$mnt/ag0/tree/$d/file"
	done
	ln -s ../hello.txt "$mnt/ag0/tree/hello.link"
	ln -s "$(printf 'long/%.0s' $(seq 1 150))target" "$mnt/ag0/tree/long.link"
	ln "$mnt/ag0/hello.txt" "$mnt/ag0/tree/hello.hardlink"
	# A large directory (leaf/node form).
	mkdir "$mnt/ag0/bigdir"
	(cd "$mnt/ag0/bigdir" && seq -f 'a-rather-long-directory-entry-name-%05g' 1 2000 | xargs touch)

	# Files for extended attributes (set after unmount with xfs_db, so no
	# attr tools are needed): short form, bmbt form, remote value.
	mkdir "$mnt/ag0/xattr"
	printf 'few attrs\n' >"$mnt/ag0/xattr/few"
	printf 'many attrs\n' >"$mnt/ag0/xattr/many"
	printf 'big attr\n' >"$mnt/ag0/xattr/bigval"

	# Some data in the other AGs: new directories rotate over the AGs and
	# files go near their directory.
	local agcount
	agcount=$(xfs_db -r -c 'sb 0' -c 'print agcount' "$tmp" | sed 's/.* = //')
	local n=$((agcount < 8 ? agcount * 2 : agcount + 4))
	for ((d = 0; d < n; d++)); do
		mkdir "$mnt/spread$d"
		printf 'spread %d\n' "$d" >"$mnt/spread$d/note"
		xfs_io -f -c "pwrite -q -S $((d + 1)) -b 256k 0 $(((d % 4 + 1) * 256))k" "$mnt/spread$d/data"
		mkdir "$mnt/spread$d/sub"
		seq -f "spread$d-%g" 1 100 | (cd "$mnt/spread$d/sub" && xargs touch)
	done

	populate_formats

	# bnobt/cntbt and rmapbt: a file whose every other block is punched leaves
	# one-block free extents (free space) and one-block data extents (rmaps,
	# and a bmbt for the file).
	xfs_io -f -c "pwrite -q -S 0x42 -b 1m 0 $((2 * holes * blksz))" "$mnt/ag0/punched"
	punch_every_other "$mnt/ag0/punched" 1 "$holes"

	# refcountbt: a reflinked copy of a file, punched every other block, so
	# every other block of the original is shared.
	xfs_io -f -c "pwrite -q -S 0x43 -b 1m 0 $((2 * holes * blksz))" "$mnt/ag0/shared"
	if cp --reflink=always "$mnt/ag0/shared" "$mnt/ag0/shared.reflink" 2>/dev/null; then
		punch_every_other "$mnt/ag0/shared.reflink" 1 "$holes"
		cp --reflink=always "$mnt/ag0/hello.txt" "$mnt/ag0/hello.reflink"
	else
		log "reflink not supported, no refcountbt population"
		rm -f "$mnt/ag0/shared.reflink"
	fi

	(cd "$mnt/ag0/inodes" && seq -f 'f%06g' 19 19 "$ninodes" | xargs rm -f)
}

populate_files() {
	populate_full
	# A directory of a million entries (FILES_ENTRIES), empty files.
	mkdir "$mnt/million"
	(cd "$mnt/million" && seq -f 'entry-%07g' 1 "${FILES_ENTRIES:-1000000}" | xargs touch)
	# A 1 GiB file: preallocated, 64 KiB written every 256 KiB, a 4 KiB
	# hole punched in the middle of every fourth unwritten run.
	mkdir "$mnt/big"
	awk 'BEGIN {
		print "falloc 0 1g"
		for (i = 0; i < 4096; i++) {
			printf "pwrite -q -S %d %d 65536\n", i % 255 + 1, i * 262144
			if (i % 4 == 0) printf "fpunch %d 4096\n", i * 262144 + 163840
		}
	}' | xfs_io -f "$mnt/big/gib" >/dev/null
}

populate_bench() {
	# Fragment AG 0's free space into one-block extents: preallocate a large
	# file (unwritten, so nothing is written) and punch every other block.
	local holes=${BENCH_HOLES:-2050000}
	mkdir_in_ag0 "$mnt/ag0"
	printf 'bench\n' >"$mnt/ag0/hello.txt"
	xfs_io -f -c "falloc 0 $((2 * holes * blksz))" "$mnt/ag0/frag"
	punch_every_other "$mnt/ag0/frag" 1 "$holes"
	# Keep one small file elsewhere too.
	mkdir "$mnt/other"
	xfs_io -f -c "pwrite -q -S 0x77 0 64k" "$mnt/other/data"
}

populate_benchinodes() {
	# Inodes in numbers: the inode scan, the inode btrees and the file
	# mappings of the rmapbt and the refcountbt at the scale of a real
	# filesystem. New directories rotate over the AGs; files go near them.
	local dirs=100 per=$((${BENCH_INODES:-1000000} / 100)) d
	for ((d = 0; d < dirs; d++)); do
		mkdir "$mnt/d$d"
		(cd "$mnt/d$d" && seq -f 'f%06g' 1 "$per" | xargs touch)
		# One xfs_io reads the commands for every file it writes: a block
		# for every tenth file, eight one-block extents for every hundredth.
		awk -v dir="$mnt/d$d" -v n="$per" -v d="$d" 'BEGIN {
			for (i = 10; i <= n; i += 10) {
				printf "open %s/f%06d\npwrite -q -S %d 0 4096\n", dir, i, (i + d) % 250 + 1
				if (i % 100 == 0)
					for (e = 1; e < 8; e++) printf "pwrite -q -S %d %d 4096\n", e, e * 8192
				print "close"
			}
		}' | xfs_io >/dev/null
		(cd "$mnt/d$d" && seq -f 'f%06g' 7 7 "$per" | xargs rm -f)
	done
	# Shared extents: reflinked copies of one directory's multi-extent files.
	mkdir "$mnt/shared"
	for f in "$mnt"/d0/f*00; do
		[ -s "$f" ] && cp --reflink=always "$f" "$mnt/shared/${f##*/}" 2>/dev/null || true
	done
}

populate_aged() {
	# A fixed random workload ($RANDOM is seeded): each step picks a file
	# in one of three directories (which the kernel spreads over the AGs)
	# and an operation on it.
	# No $RANDOM in a subshell: bash reseeds it there.
	local i d f b=$blksz ops=${AGED_OPS:-2500} dirs=(a b c)
	RANDOM=4242
	mkdir "$mnt/a" "$mnt/b" "$mnt/c"
	for ((i = 0; i < ops; i++)); do
		d=$mnt/${dirs[RANDOM % 3]}
		f=$d/f$((RANDOM % 300))
		case $((RANDOM % 10)) in
		0 | 1 | 2) xfs_io -f -c "pwrite -q -S $((RANDOM % 255)) $((RANDOM % 512 * b)) $(((RANDOM % 16 + 1) * b))" "$f" ;;
		3) xfs_io -f -c "falloc $((RANDOM % 512 * b)) $(((RANDOM % 64 + 1) * b))" "$f" ;;
		4) [ ! -f "$f" ] || xfs_io -c "fpunch $((RANDOM % 512 * b)) $(((RANDOM % 8 + 1) * b))" "$f" ;;
		5) [ ! -f "$f" ] || cp --reflink=always "$f" "$d/r$((RANDOM % 100))" ;;
		6) rm -f "$f" ;;
		7) [ ! -f "$f" ] || xfs_io -c "truncate $((RANDOM % 256 * b))" "$f" ;;
		8) touch "$d/e$((RANDOM % 2000))" ;;
		9) rm -f "$d/e$((RANDOM % 2000))" ;;
		esac
	done
}

populate_pptr() {
	# What the xfs_db step below gives the other profiles, through the
	# kernel: xfs_db 6.1 would file parent pointers under the wrong hash.
	local i p="$mnt/ag0/pptr"
	{
		echo "# file: xattr/few"
		for i in 1 2 3; do echo "user.few$i=\"$(printf 'v%.0s' $(seq 16))\""; done
		echo "trusted.one=\"vvvvvvvv\""
		echo
		echo "# file: xattr/many"
		for ((i = 0; i < 400; i++)); do echo "user.many$i=\"$(printf 'v%.0s' $(seq 64))\""; done
		echo
	} | (cd "$mnt/ag0" && setfattr --restore=-)
	head -c 20000 /dev/zero | tr '\0' v >"$mnt/ag0/bigval.tmp"
	setfattr -n user.big -v "$(cat "$mnt/ag0/bigval.tmp")" "$mnt/ag0/xattr/bigval"
	rm "$mnt/ag0/bigval.tmp"
	# Names the kernel changes: renames within and across directories, a
	# directory moved, hard links in several directories (one file with
	# enough names that its parent pointers fill a leaf and a node
	# attribute fork), names of every length up to 255.
	mkdir -p "$p/a/b" "$p/c" "$p/links"
	printf 'one\n' >"$p/a/one"
	mv "$p/a/one" "$p/c/uno"
	mv "$p/a/b" "$p/c/b"
	printf 'moved\n' >"$p/c/b/inside"
	printf 'many names\n' >"$p/links/target"
	for ((i = 0; i < 300; i++)); do ln "$p/links/target" "$p/links/name$i"; done
	for ((i = 0; i < 10; i++)); do ln "$p/links/target" "$p/a/alias$i"; done
	for ((i = 0; i < 100; i += 2)); do rm "$p/links/name$i"; done
	mv "$p/links/name1" "$p/c/renamed"
	printf 'few\n' >"$p/a/few"
	ln "$p/a/few" "$p/c/few"
	ln "$p/a/few" "$p/c/b/few"
	for i in 1 100 200 255; do touch "$p/a/$(printf 'x%.0s' $(seq "$i"))"; done
}

log "populating ($blksz-byte blocks)"
case $populate in
full) populate_full ;;
files) populate_files ;;
bench) populate_bench ;;
benchinodes) populate_benchinodes ;;
aged) populate_aged ;;
esac
[ "$pptr" = 0 ] || populate_pptr

sync
(cd "$mnt" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum) >"$tmp.sha256"

umount "$mnt"
mounted=0

if { [ "$populate" = full ] || [ "$populate" = files ]; } && [ "$pptr" = 0 ]; then
	# Extended attributes, offline, through xfs_db (as fstests can).
	cmds=(-c "path /ag0/xattr/few")
	for i in 1 2 3; do cmds+=(-c "attr_set -v 16 user.few$i"); done
	cmds+=(-c "path /ag0/xattr/many")
	for ((i = 0; i < 400; i++)); do cmds+=(-c "attr_set -v 64 user.many$i"); done
	cmds+=(-c "path /ag0/xattr/bigval" -c "attr_set -v 20000 user.big")
	cmds+=(-c "path /ag0/xattr/few" -c "attr_set -r -v 8 trusted.one")
	xfs_db -x "${cmds[@]}" "$tmp" >/dev/null
fi

# Give back the zeroes mkfs wrote (the log, mostly): smaller cache, faster
# copies. Reads only the allocated parts of the file.
if { [ "$populate" = full ] || [ "$populate" = files ] || [ "$populate" = aged ]; } && command -v fallocate >/dev/null; then
	fallocate --dig-holes "$tmp" || true
fi

mv -f -- "$tmp.sha256" "$out.sha256"
mv -f -- "$tmp" "$out"
log "done"
