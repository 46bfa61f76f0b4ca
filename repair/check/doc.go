// Package check judges an XFS filesystem's AG metadata: it checks every
// AG header and btree against itself (as the kernel's scrub does:
// headers, sibling links, key order, records inside the AG) and against
// everything else (free space against used space, bnobt against cntbt,
// rmapbt against every owner seen, refcountbt against the shared file
// mappings, finobt against inobt, the counters), reads every inode in a
// full scan (ScanInodes) to learn which blocks they use, and reports
// what is wrong as Findings with stable codes ("bnobt.order",
// "agf.freeblks"). Check is the entry point.
//
// The rebuilds start from a check: Collect leaves per-AG states (AG)
// whose used space and trees' records package repair reads through a
// few methods (rebuilds.go), with the record sweeps they share
// (CmpRmapRecs, UsedUnion, ComputeRefcounts, NormalizeRmaps); Rebuilt
// and VerifyChunkRecords check what a rebuild made before or after it
// is written.
//
// It never writes to the image, and does not decide what to rewrite:
// problems in the image are findings, not errors (errors are for what
// stops the check itself: the workspace's I/O, cancellation), and
// whether a finding calls for a rebuild, or refuses one, is package
// repair's business.
//
// Import order, one way: it stands on repair/fsys (the filesystem as
// read), repair/workspace (the records it stages) and xfsformat; package
// repair (the rebuilds) is above it, then fusefs and cmd. It never
// imports repair, nor logrus or go-fuse.
package check
