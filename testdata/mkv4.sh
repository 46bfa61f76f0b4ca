#!/usr/bin/env bash
# mkv4.sh PROFILE OUTFILE
#
# Builds one v4 (crc=0) image of the test matrix WITHOUT mounting it:
# kernels built without CONFIG_XFS_SUPPORT_V4 (this machine's, and more
# every year) cannot mount v4, so the filesystem is populated by mkfs.xfs
# itself from a prototype file (mkfs.xfs -p, see mkfs.xfs(8)), and xfs_db
# -x adds the attributes. No root, loop device or kernel XFS is needed:
# xfsprogs only. Writes OUTFILE.sha256 as testdata/mkimage.sh does
# (`sha256sum` lines of every regular file, relative paths from the
# filesystem's root, sorted), computed from the source tree the prototype
# file copies the files from: the judge of contents is that every file
# read through xfsbox hashes as its source did.
#
# testimg builds the v4 profiles with this script (their cache key covers
# it, not mkimage.sh, so that changing either leaves the other's images
# cached). mkimage.sh's own "v4" case (mkfs only) is no longer used.
#
# Profiles (512 MiB, 4 AGs, 256-byte v2 inodes, attr2, no sparse inodes;
# the v5-only features mkfs 6.1 turns on by default turned off):
#   v4     4 KiB blocks, ftype=1 (file types in directory entries)
#   v4-1k  1 KiB blocks, ftype=0 (no file types: the older entry layout);
#          directory blocks of 4 KiB (mkfs's default: four filesystem
#          blocks each)
#
# Layout (sizes follow the directory block and block sizes, as in
# mkimage.sh's populate_formats, so both profiles reach the same formats):
#   ag1/hello.txt            a directory and a file in AG 1
#   ag0/hello.txt
#   ag0/fmt/dirs/empty       shortform, no entries
#   ag0/fmt/dirs/short       shortform, an entry of every file type (reg,
#                            dir, symlink, chr, blk, chrbig, fifo)
#   ag0/fmt/dirs/block       one directory block (XD2B): 30 entries at 4 KiB
#                            directory blocks, and one of every file type
#   ag0/fmt/dirs/leaf        data blocks (XD2D) and one leaf1 block (0xd2f1)
#   ag0/fmt/dirs/node        a da-btree node (0xfebe) above leafn blocks
#                            (0xd2ff), a free index block (XD2F); its empty
#                            files also fill AG 0's inobt past one level
#                            (64 inodes more than one inobt block's
#                            records can map: 16576 entries at 4 KiB
#                            blocks, 4288 at 1 KiB)
#   ag0/fmt/files/size-N     regular files of N bytes (0, 1, 511, 512, 4095,
#                            4096, 4097, 100k, 1m, 3m, 8m): each block a
#                            different byte pattern; one extent each (mkfs
#                            writes a file as one extent)
#   ag0/fmt/files/sparse-source  copied from a sparse 1 MiB source: written
#                            in full, the holes as zeros
#   ag0/fmt/files/prealloc   size 0, 1 MiB preallocated (unwritten) past EOF
#   ag0/fmt/links/short      inline symlink
#   ag0/fmt/links/at-limit   inline symlink as long as the inode holds (156)
#   ag0/fmt/links/over-limit remote symlink one byte longer
#   ag0/fmt/links/long       remote symlink of 1023 bytes (v4 symlink blocks
#                            have no header)
#   ag0/fmt/modes/*          setuid, setgid, both, 0000, uids/gids 1234:5678,
#                            65534:65534, 3000000000:3000000001, a setgid
#                            directory. No sticky bit: a prototype file
#                            cannot set one. No socket: nor make one.
#   ag0/fmt/xattr/sf, leaf, node, remote  attribute forks in shortform, one
#                            leaf (0xfbee), a da-btree of leaves, a remote
#                            value (v4 remote values have no header), set by
#                            xfs_db attr_set after mkfs
#   rotor-pad.N/...          empty directories. mkfs hands directories to
#                            the AGs in turn (the root to AG 0, the next to
#                            AG 1, ...: the allocator's rotor), so pads go
#                            before each directory of ag0/ that must be in
#                            AG 0. They live in the container directories
#                            (/, ag0, ag0/fmt, ...) and in other AGs.
#   Not in AG 0: dirs/short/dir and dirs/block/subdir (empty directories:
#   padding them would add entries to the directories being tested).
#
# Not covered, because mkfs -p cannot make it: hard links, files of more
# than one extent (so no bmbt), sticky bits, sockets, chosen timestamps
# (every inode has the time of the build).
#
# The script checks with xfs_db that every directory reached its format,
# every symlink and attribute fork its format, every directory of ag0/ is
# in AG 0 and AG 0's inobt is two levels high, and fails if not.
# Deterministic: fixed UUID, fixed contents and names; with the same
# xfsprogs, the same inode numbers and block placement.
set -euo pipefail

usage() {
	echo "usage: $0 v4|v4-1k OUTFILE" >&2
	exit 2
}
[ $# -eq 2 ] || usage
profile=$1
out=$2

log() { echo "mkv4[$profile]: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

for tool in mkfs.xfs xfs_io xfs_db sha256sum; do
	command -v "$tool" >/dev/null || die "$tool not found"
done

v4meta="crc=0,finobt=0,reflink=0,rmapbt=0,inobtcount=0,bigtime=0"
agcount=4
case $profile in
v4)
	blksz=4096 ftype=1
	uuid=6b1c8a3e-0008-4d2e-9a51-7f0e3c2b1a08
	;;
v4-1k)
	blksz=1024 ftype=0
	uuid=6b1c8a3e-001f-4d2e-9a51-7f0e3c2b1a1f
	;;
*) usage ;;
esac
mkfsopts=(-b "size=$blksz" -d "agcount=$agcount" -m "$v4meta,uuid=$uuid" -i sparse=0 -n "ftype=$ftype")
# mkfs.xfs's defaults at these sizes: 256-byte inodes (v4), directory
# blocks of at least 4 KiB.
isize=256
dirblk=$((blksz > 4096 ? blksz : 4096))

outdir=$(dirname -- "$out")
mkdir -p -- "$outdir"
tmp=$(mktemp -- "$out.tmp.XXXXXX")
work=$(mktemp -d "${TMPDIR:-/tmp}/mkv4.XXXXXX")
cleanup() {
	local rc=$?
	set +e
	rm -rf -- "$work"
	rm -f -- "$tmp" "$tmp.sha256"
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# The prototype file names its sources by path: no blanks, no colons (a
# colon starts a comment).
case $work in *[[:space:]:]*) die "temporary directory $work: blanks or colons" ;; esac
src=$work/root # the source tree: every regular file, at its path in the image
proto=$work/proto
mkdir "$src"
exec 3>"$proto"
printf 'xfsbox-v4\n0 0\n' >&3 # a boot image name and "blocks inodes", ignored

cur=""    # the directory being described, relative to the root
ndirs=0   # directories made so far: the next goes to AG ndirs % agcount
npad=0
indirs=() # the directories that must be in AG 0

# dir NAME MODE UID GID: opens directory NAME in the current one (NAME ""
# for the root); enddir closes it.
dir() {
	if [ -n "$1" ]; then
		printf '%s ' "$1" >&3
		cur=${cur:+$cur/}$1
	fi
	printf '%s %s %s\n' "$2" "$3" "$4" >&3
	mkdir -p "$src/$cur"
	ndirs=$((ndirs + 1))
}
enddir() {
	echo '$' >&3
	case $cur in */*) cur=${cur%/*} ;; *) cur="" ;; esac
}

# dir0 NAME [MODE UID GID]: dir, in AG 0: pads first (rotor-pad.N in the
# current directory, nested pads in it) until the rotor is back at AG 0.
dir0() {
	local need=$(((agcount - ndirs % agcount) % agcount)) i
	if [ "$need" -gt 0 ]; then
		printf 'rotor-pad.%d d--755 0 0\n' "$npad" >&3
		for ((i = 1; i < need; i++)); do printf 'p d--755 0 0\n' >&3; done
		for ((i = 0; i < need; i++)); do echo '$' >&3; done
		ndirs=$((ndirs + need))
		npad=$((npad + 1))
	fi
	dir "$1" "${2:-d--755}" "${3:-0}" "${4:-0}"
	indirs+=("$cur")
}

# reg NAME MODE UID GID: a regular file whose contents are the source
# $src/$cur/NAME (made by the caller).
reg() {
	[ -f "$src/$cur/$1" ] || die "no source for $cur/$1"
	printf '%s %s %s %s %s\n' "$1" "$2" "$3" "$4" "$src/$cur/$1" >&3
}

# pattern FILE SIZE SEED: FILE of SIZE bytes, each KiB filled with its own
# byte (SEED + 7 per KiB, mod 251, plus one), in one xfs_io.
pattern() {
	: >"$1"
	[ "$2" -gt 0 ] || return 0
	awk -v size="$2" -v seed="$3" 'BEGIN {
		for (off = 0; off < size; off += 1024) {
			len = size - off < 1024 ? size - off : 1024
			printf "pwrite -q -S %d %d %d\n", (seed + 7 * off / 1024) % 251 + 1, off, len
		}
	}' | xfs_io "$1" >/dev/null
}

# text NAME CONTENT MODE UID GID: a regular file holding CONTENT.
text() {
	printf '%b' "$2" >"$src/$cur/$1"
	reg "$1" "$3" "$4" "$5"
}

# entries NAME-FORMAT FIRST LAST: empty regular files named by seq -f.
entries() {
	local d=$src/$cur
	(cd "$d" && seq -f "$1" "$2" "$3" | xargs touch)
	seq -f "$1" "$2" "$3" | awk -v d="$d" '{ printf "%s ---644 0 0 %s/%s\n", $0, d, $0 }' >&3
}

# Symlink targets: inline up to the inode's literal area (isize minus
# the 100-byte v2 core), remote past it; the longest XFS allows.
lit=$((isize - 100))
xs() { printf 'x%.0s' $(seq 1 "$1"); }
at_limit="$(xs $((lit - 8)))/a/b/c/d"
over_limit="$(xs $((lit - 7)))/a/b/c/d"
long="$(xs 1015)/a/b/c/d"

dir "" d--755 0 0 # the root: AG 0
dir ag1 d--755 0 0 # the next directory: AG 1
text hello.txt 'hello, xfsbox (AG 1)\n' ---644 0 0
enddir
dir0 ag0
text hello.txt 'hello, xfsbox\n' ---644 0 0
dir0 fmt
dir0 dirs

dir0 empty
enddir

dir0 short
text reg 'regular\n' ---644 0 0
dir dir d--755 0 0
enddir
printf 'symlink l--777 0 0 reg\n' >&3
printf 'chr c--644 0 0 1 3\n' >&3
printf 'blk b--660 0 6 7 200\n' >&3
printf 'chrbig c--600 0 0 300 70000\n' >&3
printf 'fifo p--644 0 0\n' >&3
enddir

# Block: 30-byte names (48-byte data entries, 8-byte leaf entries), more
# than the inode holds, fewer than a block.
dir0 block
n=$(((dirblk - 200) / 56))
[ "$n" -le 30 ] || n=30
entries 'block-entry-%018g' 1 "$n"
printf 'chr c--644 0 0 1 3\nblk b--644 0 0 7 200\nfifo p--644 0 0\nsymlink l--777 0 0 block-entry-000000000000000001\n' >&3
dir subdir d--755 0 0
enddir
enddir

# Leaf: 40-byte names (56-byte data entries, 8-byte leaf entries), a
# sixteenth of a block's bytes in entries: 3.5 data blocks, half a leaf.
dir0 leaf
entries 'leaf-entry-with-a-forty-byte-name-%06g' 1 $((dirblk / 16))
enddir

# Node: enough entries for AG 0's inobt to need a second level (an inobt
# block of a v4 filesystem holds (blksz - 16) / 16 records of 64 inodes),
# and at least leaf entries for 2.5 directory blocks.
dir0 node
n=$((((blksz - 16) / 16 + 4) * 64))
[ "$n" -ge $((dirblk * 5 / 16)) ] || n=$((dirblk * 5 / 16))
entries 'node-entry-with-a-forty-byte-name-%06g' 1 "$n"
enddir
enddir # dirs

dir0 files
seed=1
for size in 0 1 511 512 4095 4096 4097 $((100 << 10)) $((1 << 20)) $((3 << 20)) $((8 << 20)); do
	case $size in
	$((100 << 10))) name=size-100k ;;
	$((1 << 20))) name=size-1m ;;
	$((3 << 20))) name=size-3m ;;
	$((8 << 20))) name=size-8m ;;
	*) name=size-$size ;;
	esac
	pattern "$src/$cur/$name" "$size" "$seed"
	reg "$name" ---644 0 0
	seed=$((seed + 13))
done
# A sparse source: mkfs reads it, so the holes are written as zeros.
xfs_io -f -c "pwrite -q -S 0x5a 4096 4096" -c "pwrite -q -S 0xa5 $(((1 << 20) - 100)) 100" "$src/$cur/sparse-source" >/dev/null
reg sparse-source ---644 0 0
# Preallocated: 1 MiB of unwritten extent past an EOF of 0 (no source; an
# empty one in the source tree for the hashes).
: >"$src/$cur/prealloc"
printf 'prealloc r--644 0 0 1m\n' >&3
enddir

dir0 links
printf 'short l--777 0 0 ../files/size-1\n' >&3
printf 'at-limit l--777 0 0 %s\n' "$at_limit" >&3
printf 'over-limit l--777 0 0 %s\n' "$over_limit" >&3
printf 'long l--777 42 43 %s\n' "$long" >&3
enddir

dir0 modes
for m in 0000 0640 4755 2710 6711 0777; do
	case $m in
	0000) ms=---000 ids="0 0" ;;
	0640) ms=---640 ids="1234 5678" ;;
	4755) ms=-u-755 ids="65534 65534" ;;
	2710) ms=--g710 ids="0 0" ;;
	6711) ms=-ug711 ids="0 0" ;;
	0777) ms=---777 ids="3000000000 3000000001" ;;
	esac
	text "m$m" "mode $m\n" "$ms" $ids
done
dir0 setgid-dir d-g775 0 100
text inside 'in a setgid directory\n' ---664 0 100
enddir
enddir

dir0 xattr
for x in sf leaf node remote; do text "$x" "$x\n" ---644 0 0; done
enddir

enddir # fmt
enddir # ag0
enddir # root
exec 3>&-

truncate -s 512m "$tmp"
chmod 0644 -- "$tmp" # mktemp makes it 0600
log "mkfs.xfs ${mkfsopts[*]} -p PROTO ($(wc -l <"$proto") lines)"
if ! mkfsout=$(mkfs.xfs -q -f -K "${mkfsopts[@]}" -p "$proto" "$tmp" 2>&1); then
	echo "$mkfsout" >&2
	die "mkfs.xfs failed"
fi

# Attributes, offline (as mkimage.sh sets some): attr_set -v N makes an
# N-byte value. Shortform: three names; leaf: more than the inode holds,
# less than a block; node: about seven blocks of 40-byte values; remote:
# a value of 1.5 blocks beside local ones.
xa=$(awk -v blk="$blksz" 'BEGIN {
	p = "path /ag0/fmt/xattr/"
	printf "%ssf\nattr_set -v 1 user.a\nattr_set -r -v 3 trusted.b\nattr_set -s -v 3 security.c\n", p
	printf "%sleaf\n", p
	for (i = 0; i < blk / 80 + 4; i++) printf "attr_set -v 32 user.leaf%d\n", i
	printf "%snode\n", p
	for (i = 0; i < blk / 8; i++) printf "attr_set -v 40 user.node%d\n", i
	printf "attr_set -v %d user.noderemote\n", blk * 3 / 2
	printf "%sremote\nattr_set -v %d user.remote\nattr_set -v 16 user.small\n", p, blk * 3 / 2
}')
mapfile -t xcmds <<<"$xa"
xacmds=()
for c in "${xcmds[@]}"; do xacmds+=(-c "$c"); done
xfs_db -x "${xacmds[@]}" "$tmp" >/dev/null

# Checks, by xfs_db.
db() { xfs_db -r "$@" "$tmp"; }
field() { sed -n "s/^$1 = //p"; }
agshift=$(($(db -c 'sb 0' -c 'print agblklog' | field agblklog) + $(db -c 'sb 0' -c 'print inopblog' | field inopblog)))
for d in "${indirs[@]}"; do
	ino=$(db -c "path /$d" -c inode | sed -n 's/.*inode number is \([0-9]*\).*/\1/p')
	[ -n "$ino" ] || die "/$d: not found"
	[ $((ino >> agshift)) -eq 0 ] || die "/$d: inode $ino is in AG $((ino >> agshift)), not AG 0"
done
fsbperdir=$((dirblk / blksz))
leafoff=$(((32 << 30) / blksz))
freeoff=$(((64 << 30) / blksz))
# magic PATH BLOCKCMD...: the magic of the directory block reached.
magic() {
	local p=$1
	shift
	local cmds=(-c "path /ag0/fmt/$p") c
	for c in "$@"; do cmds+=(-c "$c"); done
	db "${cmds[@]}" -c print | sed -n 's/^\(bhdr\|dhdr\|fhdr\|lhdr\.info\|nhdr\.info\|hdr\.info\)\.magic = //p' | head -n 1
}
format() { db -c "path /ag0/fmt/$1" -c "print core.format" | sed -n 's/^core.format = [0-9]* (\(.*\))$/\1/p'; }
want() { [ "$2" = "$3" ] || die "$1: $2, want $3"; }
want dirs/empty "$(format dirs/empty)" local
want dirs/short "$(format dirs/short)" local
want dirs/block "$(format dirs/block)" extents
want "dirs/block block 0" "$(magic dirs/block 'dblock 0')" 0x58443242 # XD2B
want "dirs/leaf block 0" "$(magic dirs/leaf 'dblock 0')" 0x58443244   # XD2D
want "dirs/leaf block 1" "$(magic dirs/leaf "dblock $fsbperdir")" 0x58443244
want "dirs/leaf leaf" "$(magic dirs/leaf "dblock $leafoff")" 0xd2f1
# blocks PATH FIRST END: how many blocks of PATH's data fork map offsets
# FIRST to END-1.
blocks() {
	db -c "path /ag0/fmt/$1" -c bmap | awk -v a="$2" -v b="$3" \
		'$1 == "data" && $3 >= a && $3 < b { n += $8 } END { print n + 0 }'
}
want "dirs/leaf data blocks" "$(($(blocks dirs/leaf 0 "$leafoff") >= 2 * fsbperdir))" 1
want "dirs/leaf leaf blocks" "$(blocks dirs/leaf "$leafoff" "$freeoff")" "$fsbperdir"
want "dirs/leaf free blocks" "$(blocks dirs/leaf "$freeoff" $((freeoff * 2)))" 0
want "dirs/node node" "$(magic dirs/node "dblock $leafoff")" 0xfebe
want "dirs/node free" "$(magic dirs/node "dblock $freeoff")" 0x58443246 # XD2F
before=$(db -c "path /ag0/fmt/dirs/node" -c "dblock $leafoff" -c 'print nbtree[0].before' | field 'nbtree\[0\].before')
want "dirs/node leafn" "$(magic dirs/node "dblock $before")" 0xd2ff
want links/short "$(format links/short)" local
want links/at-limit "$(format links/at-limit)" local
want links/over-limit "$(format links/over-limit)" extents
want links/long "$(format links/long)" extents
aformat() { db -c "path /ag0/fmt/xattr/$1" -c "print core.aformat" | sed -n 's/^core.aformat = [0-9]* (\(.*\))$/\1/p'; }
amagic() { db -c "path /ag0/fmt/xattr/$1" -c "ablock 0" -c print | sed -n 's/^\(hdr\.info\|hdr\)\.magic = //p' | head -n 1; }
want xattr/sf "$(aformat sf)" local
want xattr/leaf "$(aformat leaf)" extents
want "xattr/leaf block 0" "$(amagic leaf)" 0xfbee
want "xattr/node block 0" "$(amagic node)" 0xfebe
want "xattr/remote block 0" "$(amagic remote)" 0xfbee
level=$(db -c 'agi 0' -c 'print level' | field level)
[ "$level" -ge 2 ] || die "AG 0's inobt is $level level(s) high, want 2"

(cd "$src" && find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 -r sha256sum) >"$tmp.sha256"
mv -f -- "$tmp.sha256" "$out.sha256"
mv -f -- "$tmp" "$out"
log "done ($(wc -l <"$out.sha256") files, $ndirs directories)"
