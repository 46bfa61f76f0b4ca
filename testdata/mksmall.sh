#!/usr/bin/env bash
# mksmall.sh [OUT]
#
# Makes testdata/fixtures/small.img.gz (or OUT): a whole 32 MiB v5 XFS
# image, every metadata feature on, two AGs of 16 MiB (the smallest
# mkfs.xfs allows) and a small log (allowed because mkfs.xfs is told it
# runs under fstests), populated from a protofile (no mount needed): a few
# files, directories and a symlink. Gzipped it is about 45 KiB, small
# enough to commit: tests read it into memory (repair.TestOpenInMemory)
# and FuzzCheck mutates its metadata.
set -euo pipefail

here=$(cd "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
out=${1:-$here/fixtures/small.img.gz}
work=$(mktemp -d "${TMPDIR:-/tmp}/mksmall.XXXXXX")
trap 'rm -rf -- "$work"' EXIT

seq 1 4000 >"$work/numbers"
printf 'hello\n' >"$work/hello"
cat >"$work/proto" <<PROTO
/dev/null
0 0
d--755 0 0
hello ---644 0 0 $work/hello
numbers ---644 0 0 $work/numbers
sub d--755 0 0
link l--777 0 0 ../hello
deep d--700 0 0
a ---600 0 0 $work/hello
\$
\$
\$
PROTO

truncate -s 32m "$work/small.img"
TEST_DIR=/tmp TEST_DEV=/dev/null QA_CHECK_FS=xfs mkfs.xfs -f -q -K -d agcount=2 \
	-m crc=1,rmapbt=1,reflink=1,finobt=1,inobtcount=1,bigtime=1,uuid=6b1c8a3e-0030-4d2e-9a51-7f0e3c2b1a30 \
	-i sparse=1 -p "$work/proto" "$work/small.img"
if ! check=$(xfs_repair -n "$work/small.img" 2>&1); then
	echo "$check" >&2
	exit 1
fi
gzip -9 -n <"$work/small.img" >"$out"
echo "$out: $(wc -c <"$out") bytes"
