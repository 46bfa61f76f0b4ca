// Package campaign is the corruption campaign of docs/testing.md, layer 4,
// done the fstests way: for each object of an AG (agf, agfl, agi, and the
// root and a leaf of every AG btree the filesystem has), each field
// `xfs_db print` shows for it, and each verb of `xfs_db -x -c 'fuzz -d
// FIELD VERB'`, corrupt a private copy of a test image, ask `xfs_repair
// -n` and our own check whether they see a problem, and put the image
// back as it was.
//
// `fuzz -d` recomputes the CRC, so a detection must come from what the
// block says, not from its checksum.
//
// The pieces are usable on their own, for the repair tests to come:
//
//   - Enumerate (or Cases, in a test) lists the cases of an image;
//   - Apply fuzzes one case into an image and returns how to undo it;
//   - XfsRepairN and OurCheck are the two judges;
//   - Run drives many cases on a pool of private image copies, one
//     worker per copy, with a Hook called between detection and restore
//     (where a repair step will go), and returns one Result per case;
//   - WriteTable summarises results per object and verb.
//
// A miss (xfs_repair -n detected a problem, our check did not) is a bug
// in our checker. An extra (we detected, xfs_repair did not) is allowed
// but reported with our finding codes, so the table can say why.
package campaign
