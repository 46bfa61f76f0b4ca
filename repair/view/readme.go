package view

import (
	"context"
	"fmt"
	"io"
)

const readmeText = `xfsbox view of %s

This tree shows the metadata of an XFS image. Files are rendered when
opened; text uses xfs_db's field names ("name = value"), .json files are
machine-readable, .raw files are the bytes. Every JSON output (the .json
views, ctl, xfsbox check --json and repair --json) starts with the same
envelope: "schema": "xfsbox.<kind>", then "schema_version": %d (one
version for every kind), then the kind's keys.

  geometry, geometry.json     xfs_info-style summary
  sb, sb.json, sb.raw         primary superblock
  health, health.json         findings of a full check (run when first read)
  image                       the image's bytes as they read now (in sandbox
                              mode with the staged changes): xfs_repair -n image
  ctl, status, log            control files: write "check", "repair ag=N STRUCT",
                              "plan ...", "commit", "discard" (sandbox), "cancel"
  ag/N/                       allocation group N (0..%d)
    sb agf agi agfl           AG headers (+ .json, .raw); the crc line says
                              (correct) or (bad), the identity line checks
                              uuid, seqno, blkno and owner
    freesp                    free-extent size histogram (xfs_db freesp)
    health, health.json       this AG's findings
    bnobt cntbt inobt finobt rmapbt refcountbt/   (those this filesystem has)
      records                 every record in key order: "# columns" then one per line
      records.json            one JSON object per line (first: the header, with
                              the envelope; then one per record, without)
      shape                   height, blocks and fill per level, record count
      blocks/AGBNO            one block as xfs_db prints it; AGBNO.raw its bytes
  files/                      the filesystem's own tree, read by xfsbox's decoders
                              (not the kernel's XFS): st_ino is the XFS inode,
                              xattrs via getfattr, birth time via statx; read-only
  owner/N, owner/N.json       who owns filesystem block N now, or held it last
                              if free (xfsbox owner); looked up, not listed
  deleted/                    deleted files found by forensics (xfsbox deleted):
    files/PATH, by-inode/INO  each recoverable one's recovered bytes
    manifest.json             names, sizes, extents with verdicts, sha256s;
                              cp -r of deleted/ is a recovery; read-only
  inodes/N/                   inode N (listing inodes/ streams the allocated ones;
                              any slot, free ones too, opens by number)
    inode, .json, .raw        as xfs_db -c 'inode N' -c print
    bmap                      as xfs_db -c 'inode N' -c bmap
    paths                     every path that names it
    data                      a file's content, a symlink's target
    entries                   a directory's names: cookie inode type hash name
    attrs/NAME                each extended attribute's value (/ as %%2F, %% as %%25)
    health, health.json       what xfsbox check finds in it: its verifiers, its
                              blocks, its link count against the names it has
  journal/                    the filesystem's log (the "log" file is xfsbox's own);
                              a --read-only or --sandbox mount of a dirty image
                              replays it first: the other views show the replayed
                              state (read-only: journal/ the log as on disk)
    summary                   head, tail, clean or dirty and why, size, counts
    transactions              every transaction committed between tail and head,
                              its items decoded (as xfs_logprint -t); .json too
    records/BLOCK             each record from tail to head: header and ops

Examples:
  cat ag/1/agf
  awk '!/^#/ {s += $2} END {print s}' ag/0/bnobt/records    # = agf freeblks
  grep -c -v '^#' ag/0/rmapbt/records                       # rmap record count
  xfs_db -r -c 'agf 1' -c print IMAGE                       # the same fields
`

func (t *Tree) renderREADME(_ context.Context, w io.Writer) error {
	_, err := fmt.Fprintf(w, readmeText, t.FS.Img.Path(), SchemaVersion, t.FS.Geo.AGCount-1)
	return err
}
