#!/usr/bin/env bash
# logwork.sh MNT [full|light|intents|settled] [STOP]
# logwork.sh MNT nearend IMG
# logwork.sh MNT unlinked STOP PIDFILE
#
# A metadata workload for dirty-log tests, run on a mounted XFS: file
# creation and writes, a punched hole, a reflinked copy (where the
# filesystem has reflink), truncation, renames, unlinks, extended
# attributes (local and remote values), symlinks, hard links and a
# directory grown past its short form. fsyncs between the steps force the
# log, so the log holds several checkpoints. The caller shuts the
# filesystem down afterwards (xfs_io -x -c shutdown) to leave them for
# recovery (the -f of shutdown forces the log first; without it what
# was not forced is lost). "light" does a few of the steps (a log that must wrap has
# little room). "intents" does all of "full" and adds deferred work under a loop of log forces:
# an intent (EFI, RUI, CUI, BUI) and its done item in one checkpoint
# cancel out, so only a force between them leaves the intent in the log;
# which intents do is a matter of timing. "nearend" churns the log of
# IMG (mounted on MNT) until its head is a few blocks from the log's end,
# so that what comes next wraps. STOP, when given, ends the workload
# after that many of its steps (a step ends with a log force or a
# metadata change): the shutdown points of the replay oracle.
# "settled" does the steps of "full", then waits for the metadata to be
# written back, so that a replay meets blocks newer than the log.
# "unlinked" does the steps of "light", then removes a file that a
# process it leaves running (its pid in PIDFILE) holds open: after a
# shutdown, and that process killed, the inode stays on its AGI's
# unlinked list for the next mount to free.
set -euo pipefail
mnt=$1
mode=${2:-full}
stop=${3:-0}
d=$mnt/logwork
mkdir -p "$d"
fsync() { xfs_io -c fsync "$@"; }
steps=0
step() {
	steps=$((steps + 1))
	if [ "$stop" -gt 0 ] && [ "$steps" -ge "$stop" ]; then exit 0; fi
}

if [ "$mode" = nearend ]; then
	# Synchronous writes force the log a record or two each; a freeze
	# writes everything back, so the tail follows the head, and the log
	# can be read from the image while frozen. Halve the distance to the
	# log's end until it is under 24 blocks.
	img=$3
	while :; do
		xfs_io -x -c freeze "$mnt"
		out=$(xfs_logprint -t "$img" 2>/dev/null) || true
		xfs_io -x -c thaw "$mnt"
		head=$(sed -n 's/.*log tail: [0-9]* head: \([0-9]*\).*/\1/p' <<<"$out")
		size=$(sed -n 's/.*log device: .* length: \([0-9]*\).*/\1/p' <<<"$out")
		[ -n "$head" ] && [ -n "$size" ] || { echo "logwork: no head in xfs_logprint -t $img" >&2; exit 1; }
		[ $((size - head)) -gt 24 ] || exit 0
		dd if=/dev/zero of="$d/churn" bs=512 count=$(((size - head) / 4 + 1)) oflag=dsync status=none
	done
fi

for i in $(seq 0 9); do
	echo "file $i" >"$d/f$i"
	fsync "$d/f$i"
	[ $((i % 3)) -eq 2 ] && step
done
xfs_io -f -c "pwrite -S 0x61 0 256k" -c fsync "$d/big" >/dev/null
step
mv "$d/f1" "$d/renamed"
step
rm "$d/f2"
step
setfattr -n user.small -v hello "$d/f3"
fsync "$d/f3"
step
[ "$mode" = light ] && exit 0
if [ "$mode" = unlinked ]; then
	xfs_io -f -c "pwrite -S 0x68 0 64k" -c fsync "$d/held" >/dev/null
	sleep 600 <"$d/held" >/dev/null 2>&1 &
	echo $! >"$4"
	rm "$d/held"
	fsync "$d"
	exit 0
fi

xfs_io -c "pwrite -S 0x62 256k 768k" -c "fpunch 64k 128k" -c fsync "$d/big" >/dev/null
step
# reflink fails where the filesystem has none: that is fine.
xfs_io -f -c "reflink $d/big 0 0 512k" -c fsync "$d/shared" >/dev/null 2>&1 || true
step
xfs_io -c "truncate 300k" -c fsync "$d/big"
step
setfattr -n user.big -v "$(head -c 3000 /dev/zero | tr '\0' x)" "$d/f4"
step
ln -s target "$d/link"
ln "$d/f5" "$d/hard"
step
mkdir "$d/sub"
for i in $(seq 0 399); do
	: >"$d/sub/entry-with-a-longer-name-$i"
	[ $((i % 100)) -eq 99 ] && step
done
rm "$d/sub/entry-with-a-longer-name-7"
fsync "$d/sub"
step
# Not forced: in the log after a shutdown -f, lost after a plain one.
: >"$d/unforced"
step
if [ "$mode" = settled ]; then
	# The log worker pushes the AIL every 30 s (xfs_syncd_centisecs):
	# metadata reaches its blocks, stamped with the LSN of its last
	# change, while the log's tail still covers older changes to it.
	sleep 40
	exit 0
fi
[ "$mode" = intents ] || exit 0

# frag FILE: 4 MiB with every other 4 KiB block punched out.
frag() {
	xfs_io -f -c "pwrite -b 4m 0 4m" -c fsync "$1" >/dev/null
	local args=() o
	for o in $(seq 0 8192 $((4 * 1024 * 1024 - 1))); do args+=(-c "fpunch $o 4096"); done
	xfs_io "${args[@]}" "$1"
}
frag "$d/fraga"
frag "$d/fragb"
(while :; do sync; done) &
forcer=$!
trap 'kill $forcer 2>/dev/null || true' EXIT
xfs_io -f -c "reflink $d/fragb 0 0 4m" "$d/fragc" >/dev/null 2>&1 || true
xfs_io -c "pwrite -S 0x63 0 1m" "$d/fragc" >/dev/null
# Copy-on-write remaps at each write's completion (BUI, CUI, RUI).
args=()
for o in $(seq $((1024 * 1024)) 16384 $((3 * 1024 * 1024 - 1))); do args+=(-c "pwrite -S 0x64 $o 4096" -c fdatasync); done
xfs_io "${args[@]}" "$d/fragc" >/dev/null
rm "$d/fraga"
xfs_io -c "truncate 1m" "$d/fragb"
sleep 1
