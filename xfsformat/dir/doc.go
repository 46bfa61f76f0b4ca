// Package dir decodes XFS directories in every format, v5 (dir3) and
// v4 (dir2):
//
//   - shortform: entries in the inode's data fork (Shortform), with "."
//     and ".." implied (the inode and the header's parent);
//   - block: one directory block (XDB3/XD2B) holding data entries, unused
//     regions, the leaf entries and a tail (DataBlock);
//   - leaf: data blocks (XDD3/XD2D) and one LEAF1 block at LeafDA (32 GiB
//     into the directory) whose entries map name hashes to entries and
//     whose bests list each data block's longest free region (Leaf);
//   - node: data blocks, a da-btree of nodes (xfsformat/da) over LEAFN
//     leaves at LeafDA, and free-index blocks at FreeDA, 64 GiB (Free).
//
// A directory block is 1 << (blocklog + dirblklog) bytes (Geometry), up
// to 64 KiB, and may span several filesystem blocks; "dablk" numbers
// count filesystem blocks into the fork, "db" numbers directory blocks.
// Leaf entries address data entries by dataptr, the entry's byte offset
// in the directory in 8-byte units (Geometry.Dataptr, SplitDataptr).
//
// Like xfsformat it does no I/O and keeps no state: bytes in, structs
// out. Decoding is lenient, because damaged directories must still be
// shown: counts and lengths read from disk are clamped to the block
// before they size or index anything, and walks over entries stop at the
// first one that does not fit. Verify methods make the checks of the
// kernel's verifiers and report what is wrong as xfsformat.FormatErrors
// naming xfs_db's field; Fields list a block as xfs_db prints it.
// DataBlock.Entries streams one block's names, so a directory of any
// size can be listed a block at a time; Lookup finds one name through
// the leaf or the da-btree with a caller's read function.
package dir
