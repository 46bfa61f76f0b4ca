#!/usr/bin/env bash
# mkdinode.sh [PROFILE...]
#
# Cuts inode fixtures out of images made by mkimage.sh and writes
# testdata/fixtures/dinode.tar.gz (default profiles: allfeatures 1k
# nrext64), for xfsformat/dinode's tests and fuzz seeds, which then need
# no root and no xfsprogs. For each profile the tarball holds:
#   PROFILE/sb.bin            sector 0
#   PROFILE/index.txt         "INO LABEL" for every inode kept
#   PROFILE/inode/INO.bin     the inode (sb inodesize bytes)
#   PROFILE/inode/INO.txt     xfs_db -c 'inode INO' -c print (TZ=UTC)
#   PROFILE/inode/INO.bmap    xfs_db -c 'inode INO' -c bmap -c 'bmap -a',
#                             its first 64 lines
#   PROFILE/block/FSB.bin     every bmbt block of the btree forks kept,
#                             and the remote symlink's block
#   PROFILE/block/FSB.txt     xfs_db print of a remote symlink block
# The inodes: the files of every fork shape mkimage.sh makes (local,
# extents and btree data forks; local, extents and btree attr forks;
# unwritten extents; inline and remote symlinks; directories of every
# size) and a free inode.
#
# Images: $FIXTURE_IMAGES/PROFILE.img if that exists, else built with
# mkimage.sh into a temporary directory (root, loop devices).
set -euo pipefail
export TZ=UTC

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mkdinode.XXXXXX")
trap 'rm -rf -- "$tmp"' EXIT
[ $# -gt 0 ] || set -- allfeatures 1k nrext64

paths=(/ /ag0 /ag0/hello.txt /ag0/big.bin /ag0/prealloc.bin /ag0/sparse.bin
	/ag0/tree/hello.link /ag0/tree/long.link /ag0/bigdir /ag0/inodes
	/ag0/xattr/few /ag0/xattr/many /ag0/xattr/bigval /ag0/punched
	/ag0/shared.reflink /ag0/inodes/f000018)

# value ADDR FIELD: FIELD of the object xfs_db's command ADDR selects.
value() { xfs_db -r -c "$1" -c "print $2" "$img" | sed -n "s/^$2 = //p"; }
# block FSB OUT: copy filesystem block FSB (agno << agblklog | agbno).
block() {
	local agno=$(($1 >> sb[agblklog])) agbno=$(($1 & ((1 << sb[agblklog]) - 1)))
	dd if="$img" of="$2" bs="${sb[blocksize]}" skip=$((agno * sb[agblocks] + agbno)) count=1 status=none
}
# children TEXT PREFIX: the pointers of a bmbt node in an xfs_db print.
children() {
	sed -n "s/^${2}ptrs\[[0-9-]*\] = //p" <<<"$1" | tr ' ' '\n' | sed -e '/^$/d' -e 's/^[0-9]*://'
}

# bmbt LEVEL FSB...: the blocks under a node of LEVEL, and theirs.
bmbt() {
	local level=$1 b
	shift
	for b; do
		block "$b" "$out/block/$b.bin"
		[ "$level" -le 1 ] || bmbt $((level - 1)) $(children "$(xfs_db -r -c "fsblock $b" -c 'type bmapbtd' -c print "$img")" '')
	done
}

# inode INO LABEL: the inode, what xfs_db says of it, its blocks.
inode() {
	local ino=$1 text fork
	local agno=$((ino >> (sb[agblklog] + sb[inopblog]))) agino=$((ino & ((1 << (sb[agblklog] + sb[inopblog])) - 1)))
	echo "$ino $2" >>"$out/index.txt"
	dd if="$img" of="$out/inode/$ino.bin" bs="${sb[inodesize]}" count=1 status=none \
		skip=$((agno * sb[agblocks] * sb[blocksize] / sb[inodesize] + agino))
	text=$(xfs_db -r -c "inode $ino" -c print "$img")
	echo "$text" >"$out/inode/$ino.txt"
	xfs_db -r -c "inode $ino" -c bmap -c 'bmap -a' "$img" >"$tmp/bmap"
	head -64 "$tmp/bmap" >"$out/inode/$ino.bmap"
	for fork in u3 a; do
		if grep -q "^$fork.bmbt.level" <<<"$text"; then
			bmbt "$(sed -n "s/^$fork.bmbt.level = //p" <<<"$text")" $(children "$text" "$fork.bmbt.")
		fi
	done
	if grep -q '^core.mode = 0120' <<<"$text" && grep -q '^u3.bmx' <<<"$text"; then
		local b
		b=$(sed -n 's/^0:\[[0-9]*,\([0-9]*\),.*/\1/p' <<<"$text")
		block "$b" "$out/block/$b.bin"
		xfs_db -r -c "inode $ino" -c 'dblock 0' -c print "$img" >"$out/block/$b.txt"
	fi
}

for profile; do
	img=${FIXTURE_IMAGES:+$FIXTURE_IMAGES/$profile.img}
	if [ -z "$img" ] || [ ! -f "$img" ]; then
		img=$tmp/$profile.img
		"$here/mkimage.sh" "$profile" "$img"
	fi
	declare -A sb=()
	while read -r k _ v; do sb[$k]=$v; done < <(xfs_db -r -c 'sb 0' -c print "$img")
	out=$tmp/out/$profile
	mkdir -p "$out/inode" "$out/block"
	dd if="$img" of="$out/sb.bin" bs="${sb[sectsize]}" count=1 status=none
	for p in "${paths[@]}"; do
		label=${p#/ag0/}
		[ "$p" != / ] || label=root
		inode "$(value "path $p" v3.inumber)" "${label//\//_}"
	done
	# f000019 was removed: the inode after f000018 is free.
	free=$(($(value "path /ag0/inodes/f000018" v3.inumber) + 1))
	[ "$(value "inode $free" core.mode)" = 0 ] || { echo "mkdinode: inode $free is not free" >&2; exit 1; }
	inode "$free" free
	echo "mkdinode: $profile: $(wc -l <"$out/index.txt") inodes, $(find "$out/block" -name '*.bin' | wc -l) blocks" >&2
	rm -f -- "$tmp/$profile.img" "$tmp/$profile.img.sha256"
done
printf 'xfsbox inode fixtures: profiles %s\nmade by testdata/mkdinode.sh from testdata/mkimage.sh\nxfsprogs: %s\n' \
	"$*" "$(xfs_db -V)" >"$tmp/out/README.txt"
tar -C "$tmp/out" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . |
	gzip -n -9 >"$here/fixtures/dinode.tar.gz.tmp"
mv -f -- "$here/fixtures/dinode.tar.gz.tmp" "$here/fixtures/dinode.tar.gz"
echo "mkdinode: $(du -k "$here/fixtures/dinode.tar.gz" | cut -f1) KiB" >&2
