package repair

import (
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// Structures is a set of the AG structures a repair rebuilds. The names
// are those of the control files and the CLI (ParseStructures).
type Structures uint16

// The structures, one bit each. All asks for everything this version
// rebuilds on the filesystem at hand: the free-space trees with the
// rmapbt, the inode btrees with the AGI, the refcountbt (with reflink)
// and, in AGs other than 0, the secondary superblock.
const (
	BnoBT Structures = 1 << iota
	CntBT
	AGF
	AGFL
	FreeSp // bnobt, cntbt, agf and agfl together
	RmapBT
	RefcountBT
	InoBT
	FinoBT
	AGI
	SB
	All
	numStructures = iota
)

var structureNames = [numStructures]string{
	"bnobt", "cntbt", "agf", "agfl", "freesp", "rmapbt", "refcountbt",
	"inobt", "finobt", "agi", "sb", "all",
}

// startsFreeSpace and startsInodes are the structures each of the two
// tree rebuilds starts from: any of them runs the free-space rebuild
// (which rewrites the rmapbt too: its OWN_AG records change with the
// free-space trees); the inode btrees run it with the inode rebuild.
const (
	startsFreeSpace = BnoBT | CntBT | AGF | AGFL | FreeSp | RmapBT | RefcountBT | InoBT | FinoBT
	startsInodes    = InoBT | FinoBT
)

// ParseStructures reads structure names (bnobt, cntbt, agf, agfl,
// freesp, rmapbt, refcountbt, inobt, finobt, agi, sb, all). An unknown
// name, or none, is an error wrapping ErrUnknownStruct.
func ParseStructures(names []string) (Structures, error) {
	if len(names) == 0 {
		return 0, fmt.Errorf("%w: name what to repair (%s)", ErrUnknownStruct, strings.Join(StructureNames(), ", "))
	}
	var s Structures
	for _, n := range names {
		i := slices.Index(structureNames[:], n)
		if i < 0 {
			return 0, fmt.Errorf("%w %q (this version rebuilds: %s)", ErrUnknownStruct, n, strings.Join(StructureNames(), ", "))
		}
		s |= 1 << i
	}
	return s, nil
}

// StructureNames are the names repair offers, for help texts, the man
// page and completion: every name ParseStructures takes but freesp, the
// free-space rebuild's own name (bnobt does the same), kept as an alias.
func StructureNames() []string {
	return slices.DeleteFunc(slices.Clone(structureNames[:]), func(n string) bool { return n == "freesp" })
}

// Names are the set's names, in a fixed order.
func (s Structures) Names() []string {
	var out []string
	for x := s; x != 0; x &= x - 1 {
		out = append(out, structureNames[bits.TrailingZeros16(uint16(x))])
	}
	return out
}

// String is the names joined by spaces, as a control file takes them.
func (s Structures) String() string { return strings.Join(s.Names(), " ") }

// Has reports whether s holds any of x.
func (s Structures) Has(x Structures) bool { return s&x != 0 }

// resolve expands All for AG agno of fs and refuses, by name, what the
// filesystem does not have.
func (s Structures) resolve(fs *fsys.FS, agno uint32) (Structures, error) {
	if s == 0 {
		return 0, fmt.Errorf("%w: name what to repair (%s)", ErrUnknownStruct, strings.Join(StructureNames(), ", "))
	}
	if s.Has(All) {
		s = s&^All | BnoBT | InoBT
		if agno > 0 {
			s |= SB
		}
		if fs.Geo.Reflink {
			s |= RefcountBT
		}
	}
	for _, f := range []struct {
		s    Structures
		have bool
		what string
	}{{RmapBT, fs.Geo.Rmapbt, "rmapbt"}, {RefcountBT, fs.Geo.Reflink, "reflink"}, {FinoBT, fs.Geo.Finobt, "finobt"}} {
		if s.Has(f.s) && !f.have {
			return 0, fmt.Errorf("%w %q: this filesystem has no %s", ErrUnknownStruct, f.s, f.what)
		}
	}
	return s, nil
}
