package xfsformat

import "strconv"

// The Verify functions check a structure on its own (no cross-reference):
// magic, CRC, identity and that every field is inside the bounds the
// geometry allows. They return every problem found, not only the first.

func u(v uint64) string { return strconv.FormatUint(v, 10) }

// VerifySuperblockCopy checks a secondary (or primary) superblock sector
// against the geometry derived from the primary.
func VerifySuperblockCopy(s *Superblock, sector []byte, g *Geometry, agno uint32) []error {
	var errs []error
	add := func(kind error, field, value, msg string) {
		errs = append(errs, ferr(kind, "sb", int64(agno), 0, field, value, "%s", msg))
	}
	if s.MagicNum != SBMagic {
		add(ErrMagic, "magicnum", hexText(uint64(s.MagicNum)), "bad magic number")
	}
	if s.VersionNum&0xf == 5 && !CRCOK(sector, sbCRCOff) {
		add(ErrCRC, "crc", hexText(uint64(s.CRC)), "CRC does not match contents")
	}
	if s.UUID != (UUID{}) && g != nil && s.FeaturesIncompat&IncompatMetaUUID == 0 && s.UUID != g.MetaUUID {
		add(ErrIdentity, "uuid", s.UUID.String(), "uuid differs from the primary superblock")
	}
	if g != nil {
		if s.BlockSize != g.BlockSize || s.AGBlocks != g.AGBlocks || s.AGCount != g.AGCount || uint32(s.SectSize) != g.SectSize {
			add(ErrRange, "agblocks", u(uint64(s.AGBlocks)), "geometry differs from the primary superblock")
		}
	}
	return errs
}

// VerifyAGF checks an AGF sector on its own.
func VerifyAGF(a *AGF, sector []byte, g *Geometry, agno uint32) []error {
	length := g.AGLength(agno)
	p := verifyAGHeader(agHeader{"agf", 1, a.MagicNum, AGFMagic, a.VersionNum, a.SeqNo, a.Length, a.CRC, a.UUID}, sector, agfCRCOff, g, agno, length)
	slots := uint32(g.AGFLSlots())
	if a.FLFirst >= slots {
		p.add(ErrRange, "flfirst", uint64(a.FLFirst), "beyond the AGFL's "+u(uint64(slots))+" slots")
	}
	if a.FLLast >= slots {
		p.add(ErrRange, "fllast", uint64(a.FLLast), "beyond the AGFL's "+u(uint64(slots))+" slots")
	}
	if a.FLCount > slots {
		p.add(ErrRange, "flcount", uint64(a.FLCount), "more than the AGFL's "+u(uint64(slots))+" slots")
	}
	if a.FreeBlks > length {
		p.add(ErrRange, "freeblks", uint64(a.FreeBlks), "more free blocks than the AG has")
	}
	if a.Longest > a.FreeBlks {
		p.add(ErrRange, "longest", uint64(a.Longest), "longest free extent exceeds freeblks")
	}
	for _, t := range []BtreeType{Bnobt, Cntbt, Rmapbt, Refcountbt} {
		verifyRoot(t, g, a, nil, length, p.add)
	}
	return p.errs
}

// VerifyAGI checks an AGI sector on its own.
func VerifyAGI(a *AGI, sector []byte, g *Geometry, agno uint32) []error {
	length := g.AGLength(agno)
	p := verifyAGHeader(agHeader{"agi", 2, a.MagicNum, AGIMagic, a.VersionNum, a.SeqNo, a.Length, a.CRC, a.UUID}, sector, agiCRCOff, g, agno, length)
	maxIno := uint64(length) << g.InoPBLog
	if uint64(a.Count) > maxIno {
		p.add(ErrRange, "count", uint64(a.Count), "more inodes than the AG can hold")
	}
	if a.FreeCount > a.Count {
		p.add(ErrRange, "freecount", uint64(a.FreeCount), "more free inodes than inodes")
	}
	for _, t := range []BtreeType{Inobt, Finobt} {
		verifyRoot(t, g, nil, a, length, p.add)
	}
	for _, ino := range []struct {
		name string
		v    uint32
	}{{"newino", a.NewIno}, {"dirino", a.DirIno}} {
		if ino.v != NullAGIno && !g.ValidAGIno(agno, ino.v) {
			p.add(ErrRange, ino.name, uint64(ino.v), "not a valid inode number of this AG")
		}
	}
	for i, v := range a.Unlinked {
		if v != NullAGIno && (!g.ValidAGIno(agno, v) || v%AGIUnlinkedBuckets != uint32(i)) {
			p.add(ErrRange, "unlinked["+strconv.Itoa(i)+"]", uint64(v), "unlinked bucket holds an invalid inode number or one of another bucket")
		}
	}
	return p.errs
}

// VerifyAGFL checks an AGFL sector on its own (entries against the AGF
// are the checker's business).
func VerifyAGFL(a *AGFL, sector []byte, g *Geometry, agno uint32) []error {
	var errs []error
	add := func(kind error, field string, value uint64, msg string) {
		errs = append(errs, ferr(kind, "agfl", int64(agno), 3, field, u(value), "%s", msg))
	}
	if g.CRC { // a v4 AGFL is slots alone
		if a.MagicNum != AGFLMagic {
			add(ErrMagic, "magicnum", uint64(a.MagicNum), "bad magic number")
		}
		if !CRCOK(sector, agflCRCOff) {
			add(ErrCRC, "crc", uint64(a.CRC), "CRC does not match contents")
		}
		if a.SeqNo != agno {
			add(ErrIdentity, "seqno", uint64(a.SeqNo), "seqno is not this AG's number")
		}
		if a.UUID != g.MetaUUID {
			errs = append(errs, ferr(ErrIdentity, "agfl", int64(agno), 3, "uuid", a.UUID.String(), "uuid is not the filesystem's"))
		}
	}
	// The kernel's verifier: every slot, in the list or not, is null or a
	// block of an AG. A v4 AGFL has no verifier: its slots outside the
	// list may hold anything.
	for i, b := range a.Bno {
		if !g.CRC {
			break
		}
		if b != NullAGBlock && b >= g.AGBlocks {
			add(ErrRange, "bno["+strconv.Itoa(i)+"]", uint64(b), "slot holds a block number beyond any AG")
			break
		}
	}
	return errs
}

// VerifyBlock checks a btree block's own header: magic, CRC, identity
// (uuid, blkno, owner) and numrecs within the block's capacity. It does
// not look at the records (the checker does).
func VerifyBlock(b *Block, g *Geometry, agno, agbno uint32) []error {
	var errs []error
	name := b.Ops.Name
	add := func(kind error, field, value, msg string) {
		errs = append(errs, ferr(kind, name, int64(agno), int64(agbno), field, value, "%s", msg))
	}
	if b.Hdr.Magic != b.Ops.Magic {
		add(ErrMagic, "magic", hexText(uint64(b.Hdr.Magic)), "bad magic number (want "+hexText(uint64(b.Ops.Magic))+")")
	}
	if !b.Hdr.V4 { // v4 blocks carry no CRC and no identity
		if !b.CRCOK() {
			add(ErrCRC, "crc", hexText(uint64(b.Hdr.CRC)), "CRC does not match contents")
		}
		if want := g.Daddr(agno, agbno); b.Hdr.Blkno != want {
			add(ErrIdentity, "bno", u(b.Hdr.Blkno), "block number stamp is not this block's daddr "+u(want))
		}
		if b.Hdr.UUID != g.MetaUUID {
			add(ErrIdentity, "uuid", b.Hdr.UUID.String(), "uuid is not the filesystem's")
		}
		if b.Hdr.Owner != agno {
			add(ErrIdentity, "owner", u(uint64(b.Hdr.Owner)), "owner is not this AG")
		}
	}
	if int(b.Hdr.NumRecs) > b.MaxRecs() {
		add(ErrRange, "numrecs", u(uint64(b.Hdr.NumRecs)), "more records than the block holds ("+strconv.Itoa(b.MaxRecs())+")")
	}
	return errs
}

// verifyRoot checks one tree's root and level as its AG header holds
// them (if the filesystem has the tree).
func verifyRoot(t BtreeType, g *Geometry, agf *AGF, agi *AGI, length uint32, add func(kind error, field string, v uint64, msg string)) {
	o := t.OpsFor(g)
	if !o.Present(g) {
		return
	}
	root, level := o.Root(agf, agi)
	rname, lname := o.RootFields()
	if root < g.HeaderBlocks() || root >= length {
		add(ErrRange, rname, uint64(root), "root outside the AG")
	}
	if level < 1 || int(level) > o.MaxLevels(g) {
		add(ErrRange, lname, uint64(level), "level outside [1, "+strconv.Itoa(o.MaxLevels(g))+"]")
	}
}

// agHeader is what the AGF and the AGI share: where they are, and the
// fields that stamp their identity.
type agHeader struct {
	name                             string
	sector                           int64
	magic, wantMagic, version, seqno uint32
	length                           uint32
	crc                              uint32
	uuid                             UUID
}

// agProblems collects the problems of one AG header sector.
type agProblems struct {
	name   string
	sector int64
	agno   uint32
	errs   []error
}

func (p *agProblems) add(kind error, field string, value uint64, msg string) {
	p.errs = append(p.errs, ferr(kind, p.name, int64(p.agno), p.sector, field, u(value), "%s", msg))
}

// verifyAGHeader checks the fields the AGF and the AGI share: magic,
// CRC, version, seqno, uuid and length. The caller adds its own
// problems to those it returns.
func verifyAGHeader(h agHeader, sector []byte, crcOff int, g *Geometry, agno, length uint32) *agProblems {
	p := &agProblems{name: h.name, sector: h.sector, agno: agno}
	if h.magic != h.wantMagic {
		p.add(ErrMagic, "magicnum", uint64(h.magic), "bad magic number")
	}
	if g.CRC && !CRCOK(sector, crcOff) {
		p.add(ErrCRC, "crc", uint64(h.crc), "CRC does not match contents")
	}
	if h.version != 1 {
		p.add(ErrRange, "versionnum", uint64(h.version), "version must be 1")
	}
	if h.seqno != agno {
		p.add(ErrIdentity, "seqno", uint64(h.seqno), "seqno is not this AG's number")
	}
	if g.CRC && h.uuid != g.MetaUUID {
		p.errs = append(p.errs, ferr(ErrIdentity, h.name, int64(agno), h.sector, "uuid", h.uuid.String(), "uuid is not the filesystem's"))
	}
	if h.length != length {
		p.add(ErrRange, "length", uint64(h.length), "length is not "+u(uint64(length)))
	}
	return p
}
