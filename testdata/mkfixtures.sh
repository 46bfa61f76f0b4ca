#!/usr/bin/env bash
# mkfixtures.sh [PROFILE...]
#
# Cuts small decoding fixtures out of images made by mkimage.sh and writes
# testdata/fixtures/PROFILE.tar.gz (default profiles: allfeatures defaults
# 1k 4ksector). Each tarball holds:
#   geometry.txt                xfs_db -c 'sb 0' -c print
#   agN/{sb,agf,agi,agfl}.bin   one sector each, AG 0 and AG 1
#   agN/{sb,agf,agi,agfl}.txt   xfs_db print of the same
#   ag0/TYPE/AGBNO.bin          one filesystem block of AG 0's btree TYPE
#                               (bnobt cntbt inobt finobt rmapbt refcntbt)
#   ag0/TYPE/AGBNO.txt          xfs_db -c 'fsblock N' -c 'type TYPE' -c print
#   ag0/TYPE/tree.txt           every block of the tree: "agbno level kept"
#                               (kept 1 if its .bin is in the tarball)
#   README.txt                  what made it
# Trees larger than MAX_BLOCKS (default 40) blocks keep every node block,
# the first and the last leaf and evenly spread leaves up to the cap.
#
# Images: $FIXTURE_IMAGES/PROFILE.img if that exists, else built with
# mkimage.sh into a temporary directory (root, loop devices).
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
max_blocks=${MAX_BLOCKS:-40}
profiles=("$@")
[ ${#profiles[@]} -gt 0 ] || profiles=(allfeatures defaults 1k 4ksector)

work=$(mktemp -d "${TMPDIR:-/tmp}/mkfixtures.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

db() { xfs_db -r "$@"; }
# field IMAGE NAME CMD...: the value of one scalar field.
field() {
	local img=$1 name=$2
	shift 2
	local c=()
	for x in "$@"; do c+=(-c "$x"); done
	db "${c[@]}" -c "print $name" "$img" | sed -n "s/^$name = //p"
}

# ptrs OBJTEXTFILE: child pointers of a node block, one per line.
ptrs() {
	sed -n 's/^ptrs\[[0-9-]*\] = //p' "$1" | tr ' ' '\n' | sed -e '/^$/d' -e 's/^[0-9]*://'
}

cut_profile() {
	local profile=$1 img=$2 out=$3
	local blksz sectsz agblocks agcount
	blksz=$(field "$img" blocksize 'sb 0')
	sectsz=$(field "$img" sectsize 'sb 0')
	agblocks=$(field "$img" agblocks 'sb 0')
	agcount=$(field "$img" agcount 'sb 0')
	mkdir -p "$out"
	db -c 'sb 0' -c print "$img" >"$out/geometry.txt"

	local ag hdr i
	for ((ag = 0; ag < 2 && ag < agcount; ag++)); do
		mkdir -p "$out/ag$ag"
		i=0
		for hdr in sb agf agi agfl; do
			dd if="$img" of="$out/ag$ag/$hdr.bin" bs="$sectsz" count=1 status=none \
				skip=$(((ag * agblocks * blksz) / sectsz + i))
			db -c "$hdr $ag" -c print "$img" >"$out/ag$ag/$hdr.txt"
			i=$((i + 1))
		done
	done

	local spec typ hdrobj rootf levelf root level
	for spec in bnobt:agf:bnoroot:bnolevel cntbt:agf:cntroot:cntlevel \
		rmapbt:agf:rmaproot:rmaplevel refcntbt:agf:refcntroot:refcntlevel \
		inobt:agi:root:level finobt:agi:free_root:free_level; do
		IFS=: read -r typ hdrobj rootf levelf <<<"$spec"
		root=$(field "$img" "$rootf" "$hdrobj 0")
		level=$(field "$img" "$levelf" "$hdrobj 0")
		if [ -z "$level" ] || [ "$level" = 0 ] || [ -z "$root" ] || [ "$root" = 0 ]; then
			continue # feature off
		fi
		cut_tree "$img" "$out/ag0/$typ" "$typ" "$root" "$level" "$blksz"
	done

	{
		echo "xfsbox decoding fixture: profile $profile"
		echo "made by testdata/mkfixtures.sh from testdata/mkimage.sh $profile"
		echo "xfsprogs: $(xfs_db -V)"
		echo "blocksize $blksz sectsize $sectsz agblocks $agblocks agcount $agcount"
		for d in "$out"/ag0/*/; do
			[ -f "$d/tree.txt" ] || continue
			printf '%s: %d blocks, %d kept, height %s\n' "$(basename "$d")" \
				"$(wc -l <"$d/tree.txt")" "$(awk '$3 == 1' "$d/tree.txt" | wc -l)" \
				"$(head -1 "$d/tree.txt" | awk '{print $2 + 1}')"
		done
	} >"$out/README.txt"
}

# cut_tree IMAGE DIR TYPE ROOT HEIGHT BLKSZ: walk the tree level by level.
cut_tree() {
	local img=$1 dir=$2 typ=$3 root=$4 height=$5 blksz=$6
	mkdir -p "$dir"
	local level=$((height - 1))
	local cur=("$root") next b
	: >"$dir/tree.txt"
	while [ "$level" -gt 0 ]; do
		next=()
		for b in "${cur[@]}"; do
			keep_block "$img" "$dir" "$typ" "$b" "$blksz"
			echo "$b $level 1" >>"$dir/tree.txt"
			mapfile -t -O "${#next[@]}" next < <(ptrs "$dir/$b.txt")
		done
		cur=("${next[@]}")
		level=$((level - 1))
	done
	# Leaves: all of them, or first, last and evenly spread ones.
	local nodes n room
	nodes=$(wc -l <"$dir/tree.txt")
	n=${#cur[@]}
	room=$((max_blocks - nodes))
	[ "$room" -ge 2 ] || room=2
	local i keep
	for ((i = 0; i < n; i++)); do
		keep=0
		if [ "$n" -le "$room" ] || [ "$i" -eq 0 ] || [ "$i" -eq $((n - 1)) ]; then
			keep=1
		elif [ $(((i * (room - 1)) / (n - 1))) -ne $((((i - 1) * (room - 1)) / (n - 1))) ]; then
			keep=1
		fi
		if [ "$keep" = 1 ]; then keep_block "$img" "$dir" "$typ" "${cur[$i]}" "$blksz"; fi
		echo "${cur[$i]} 0 $keep" >>"$dir/tree.txt"
	done
}

keep_block() {
	local img=$1 dir=$2 typ=$3 agbno=$4 blksz=$5
	# AG 0: the filesystem block number is the AG block number.
	dd if="$img" of="$dir/$agbno.bin" bs="$blksz" skip="$agbno" count=1 status=none
	db -c "fsblock $agbno" -c "type $typ" -c print "$img" >"$dir/$agbno.txt"
}

mkdir -p "$here/fixtures"
for profile in "${profiles[@]}"; do
	img=${FIXTURE_IMAGES:+$FIXTURE_IMAGES/$profile.img}
	if [ -z "$img" ] || [ ! -f "$img" ]; then
		img=$work/$profile.img
		"$here/mkimage.sh" "$profile" "$img"
	fi
	out=$work/$profile
	rm -rf -- "$out"
	cut_profile "$profile" "$img" "$out"
	tar -C "$out" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 -cf - . |
		gzip -n -9 >"$here/fixtures/$profile.tar.gz.tmp"
	mv -f -- "$here/fixtures/$profile.tar.gz.tmp" "$here/fixtures/$profile.tar.gz"
	echo "mkfixtures: $profile: $(du -k "$here/fixtures/$profile.tar.gz" | cut -f1) KiB" >&2
	sed -n '5,$p' "$out/README.txt" | sed 's/^/  /' >&2
	rm -f -- "$work/$profile.img" "$work/$profile.img.sha256"
done
