package replay

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/xfsbox/xfsbox/repair/fsys"
	"github.com/xfsbox/xfsbox/repair/store"
	"github.com/xfsbox/xfsbox/xfsformat"
	xlog "github.com/xfsbox/xfsbox/xfsformat/log"
)

// Options tune Replay.
type Options struct {
	// Partial replays what the log holds even when what the kernel does
	// after replaying (finish unfinished intents, free the inodes left
	// on the unlinked lists, free leftover copy-on-write staging
	// extents) is left undone, instead of refusing: for views of the
	// replayed state, never for a commit. Result.Incomplete says what
	// is left.
	Partial bool
	// LeaveLogDirty replays without marking the log clean, so that the
	// log reads as it was (a read-only view's forensics).
	LeaveLogDirty bool
	// Finish does the after-work that needs no rebuild (the inodes on
	// the unlinked lists freed: cores cleared, buckets emptied; see
	// finish.go) and leaves the rest to the caller, who must rebuild
	// the space structures of the AGs in Result.Rebuild from an inode
	// scan (repair.ReplayLog does): the space the freed inodes held
	// and their inode btrees' free bits, the extents of unfinished
	// EFIs, RUIs and CUIs, the copy-on-write staging extents. What
	// neither can finish (BUI, ATTRI, XMI and realtime intents) is
	// refused by name. Without the rebuild the result is inconsistent:
	// only for repair.ReplayLog.
	Finish bool
}

// Result is what a replay did.
type Result struct {
	// AlreadyClean: the log was clean; nothing was done.
	AlreadyClean bool `json:"already_clean"`
	// Reason is why the log was clean or dirty (fsys.LogState.Reason).
	Reason    string `json:"reason"`
	TailBlock uint32 `json:"tail_block"`
	HeadBlock uint32 `json:"head_block"`
	Counts    Counts `json:"counts"`
	// Unfinished are the intents left without their done items.
	Unfinished []Intent `json:"unfinished_intents,omitempty"`
	// Unlinked are the inodes left on the AGIs' unlinked lists.
	Unlinked []uint64 `json:"unlinked_inodes,omitempty"`
	// CowStaging is how many copy-on-write staging extents the
	// refcount btrees hold (the kernel frees them at mount).
	CowStaging int `json:"cow_staging_extents,omitempty"`
	// Incomplete says, in words, what the kernel would do after the
	// replay that xfsbox did not (only with Options.Partial).
	Incomplete []string `json:"incomplete,omitempty"`
	// Freed are the unlinked inodes freed after the replay (Finish).
	Freed []uint64 `json:"freed_inodes,omitempty"`
	// Rebuild are the AGs whose space structures the after-work leaves
	// to the caller's rebuild (Finish), in AG order, with why.
	Rebuild []RebuildAG `json:"rebuild_ags,omitempty"`
	// Rebuilt says which structures the caller rebuilt, by AG.
	Rebuilt []Rebuilt `json:"rebuilt,omitempty"`
	// AfterWork says, in words, what was done after the replay as the
	// kernel's mount does it.
	AfterWork []string `json:"after_work,omitempty"`
	// MarkedClean: an unmount record was written at the head.
	MarkedClean bool `json:"marked_clean"`
	// Counters are the superblock's summary counters before and after
	// (recounted from the AG headers, as a mount after a dirty log does).
	Counters [3][2]uint64 `json:"sb_counters"`
	// BytesWritten is what the replay wrote (into the overlay).
	BytesWritten int64 `json:"bytes_written"`
}

// Counts are the log's items by what the replay did with them.
type Counts struct {
	Transactions      int `json:"transactions"`
	Buffers           int `json:"buffers"`
	BuffersSkipped    int `json:"buffers_newer_on_disk"`
	BuffersCancelled  int `json:"buffers_cancelled"`
	InodeBuffers      int `json:"inode_buffers"`
	Inodes            int `json:"inodes"`
	InodesSkipped     int `json:"inodes_newer_on_disk"`
	InodesCancelled   int `json:"inodes_cancelled"`
	ICreates          int `json:"icreates"`
	ICreatesCancelled int `json:"icreates_cancelled"`
	Dquots            int `json:"dquots"`
	DquotsSkipped     int `json:"dquots_skipped"`
	Intents           int `json:"intents"`
	IntentsDone       int `json:"intents_done"`
}

// Intent is an intent item left without its done item.
type Intent struct {
	Type    string `json:"type"` // "EFI", "RUI", ...
	ID      uint64 `json:"id"`
	Extents int    `json:"extents,omitempty"`
	LSN     string `json:"lsn"` // of the transaction that logged it
	ags     []uint32
	exts    []xlog.IntentExtent
}

// RebuildAG is an AG the after-work leaves to the caller's rebuild.
type RebuildAG struct {
	AG  uint32   `json:"ag"`
	Why []string `json:"why"`
}

// Rebuilt is what a rebuild after the replay rewrote in one AG.
type Rebuilt struct {
	AG         uint32   `json:"ag"`
	Structures []string `json:"structures"`
	Why        string   `json:"why"`
}

// ErrRefused is wrapped by every refusal: a log xfsbox will not replay
// (damaged, of an unknown kind, or leaving work it cannot do). Nothing
// is written then.
var ErrRefused = fsys.ErrRefused

func refusef(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

// Replay replays the internal log of fs into its overlay as the kernel's
// mount does (xlog_recover): every transaction committed between the
// tail and the head, in log order, then the superblock's summary
// counters recounted from the AG headers and the log marked clean with
// an unmount record at its head (unless opts.LeaveLogDirty). fs must
// write into an overlay (sandbox mode, or a Throwaway): a replay never
// writes the image itself, and its writes are one batch of the overlay,
// so that a commit applies all of it or none. On a clean log it does
// nothing. A log it cannot replay exactly as the kernel would is
// refused by name (wrapping ErrRefused) and nothing is written.
func Replay(ctx context.Context, fs *fsys.FS, opts Options) (*Result, error) {
	if fs.Overlay() == nil {
		return nil, refusef("a log replay writes only into an overlay (sandbox mode), never straight into the image")
	}
	ls, err := fsys.ReadLogState(fs)
	if err != nil {
		return nil, err
	}
	res := &Result{Reason: ls.Reason, TailBlock: ls.TailBlock, HeadBlock: ls.HeadBlock}
	if ls.Clean {
		res.AlreadyClean = true
		return res, nil
	}
	if ls.Cycle == 0 {
		return res, refusef("the log cannot be replayed: %s", ls.Reason)
	}
	if !fs.Geo.CRC {
		// Its items log v2 inode cores and buffers without CRCs; no
		// kernel here mounts v4 to judge a replay of them.
		return res, refusef("the log of a v4 filesystem is dirty: xfsbox does not replay v4 logs (xfs_repair -L zeroes it, losing the last changes; a kernel with v4 support replays it)")
	}
	// XFS_SB_FEAT_INCOMPAT_LOG_XATTRS and _LOG_EXCHRANGE: any other
	// bit is a log format newer than this replay.
	const knownLogIncompat = 0x1 | 0x2
	if bad := fs.SB.FeaturesLogIncompat &^ knownLogIncompat; bad != 0 {
		return res, refusef("the superblock has log-incompatible features xfsbox does not know (%#x): the log may hold items of a newer format", bad)
	}
	tfs, release, err := fs.Throwaway()
	if err != nil {
		return nil, err
	}
	defer release()
	e := newEngine(tfs, res)
	// Pass 1 finds the cancelled buffers and the quota types turned
	// off; pass 2 replays (xlog_do_log_recovery).
	for pass := 1; pass <= 2; pass++ {
		if err := e.pass(ctx, ls, pass); err != nil {
			return res, err
		}
	}
	if err := e.c.flush(); err != nil {
		return res, err
	}
	for _, k := range e.intentOrder {
		if it, ok := e.intents[k]; ok {
			res.Unfinished = append(res.Unfinished, *it)
		}
	}
	// What the kernel does after replaying is judged on the replayed
	// state, which the throwaway shows.
	replayed := e.c.writes()
	if err := tfs.Commit(tfs.Img.JournalWriter(), replayed, nil); err != nil {
		return res, err
	}
	if err := e.afterwork(ctx, opts.Finish); err != nil {
		return res, err
	}
	if len(res.Incomplete) > 0 && !opts.Partial {
		return res, refusef("%s", strings.Join(res.Incomplete, "; "))
	}
	if err := e.recount(!opts.LeaveLogDirty); err != nil {
		return res, err
	}
	if !opts.LeaveLogDirty {
		if err := e.markClean(ls); err != nil {
			return res, err
		}
		res.MarkedClean = true
	}
	writes := e.c.writes()
	for _, w := range writes {
		res.BytesWritten += int64(len(w.Data))
	}
	return res, fs.Commit(fs.Img.JournalWriter(), writes, nil)
}

// engine is one replay.
type engine struct {
	fs  *fsys.FS // the throwaway the replay reads through
	geo *xfsformat.Geometry
	sb  *xfsformat.Superblock
	c   *cache
	res *Result
	// cancels counts the cancel items of each buffer still to come in
	// pass 2 (xlog_add_buffer_cancelled).
	cancels map[bufKey]int
	// quotaOn: the superblock says quotas were accounted (the kernel
	// replays dquots only when mounted with quotas); quotaOff are the
	// dquot types (XFS_DQTYPE_*) a quotaoff item turned off.
	quotaOn  bool
	quotaOff uint32
	// intents are the intents logged and not yet done, by type and id.
	intents     map[intentKey]*Intent
	intentOrder []intentKey
	// cur is the LSN of the transaction being replayed; flushed the
	// one the buffers were last written for.
	cur, flushed uint64
}

type intentKey struct {
	t  xlog.ItemType
	id uint64
}

func newEngine(fs *fsys.FS, res *Result) *engine {
	const quotaAcct = 0x0001 | 0x0008 | 0x0040 // XFS_UQUOTA_ACCT, XFS_PQUOTA_ACCT, XFS_GQUOTA_ACCT
	return &engine{fs: fs, geo: fs.Geo, sb: fs.SB, c: newCache(fs.Img), res: res, cancels: map[bufKey]int{},
		quotaOn: fs.SB.QFlags&quotaAcct != 0, intents: map[intentKey]*Intent{}}
}

// pass walks the records from the tail to the head and hands each
// committed transaction to the pass.
func (e *engine) pass(ctx context.Context, ls *fsys.LogState, pass int) error {
	asm := &xlog.Assembler{}
	err := fsys.LogRecords(ctx, e.fs, ls, ls.TailBlock, func(rec *xlog.Record) error {
		h := rec.Header
		if len(rec.Problems) > 0 {
			return refusef("log record at block %d: %s: the kernel stops recovery there", rec.Block, rec.Problems[0])
		}
		if !h.FSUUID.IsZero() && h.FSUUID != e.sb.UUID {
			return refusef("log record at block %d is for filesystem %s, not this one (%s)", rec.Block, h.FSUUID, e.sb.UUID)
		}
		return asm.Add(rec, func(t *xlog.Transaction) error {
			if len(t.Problems) > 0 {
				return refusef("transaction %#x (LSN %s): %s", t.TID, xlog.LSNText(t.StartLSN), t.Problems[0])
			}
			items, err := reorder(t)
			if err != nil {
				return err
			}
			if pass == 1 {
				e.res.Counts.Transactions++
				e.pass1(items)
				return nil
			}
			return e.pass2(t, items)
		})
	})
	if err == nil && len(asm.Problems) > 0 {
		err = refusef("the log: %s", asm.Problems[0])
	}
	var ioe *store.IOError
	if err != nil && !errors.Is(err, ErrRefused) && !errors.As(err, &ioe) && ctx.Err() == nil {
		// A record header that does not verify, or a record that runs
		// past the head, between the tail and the head.
		err = refusef("the log cannot be replayed: %v", err)
	}
	return err
}

// reorder decodes a transaction's items and puts them in the order the
// kernel replays them (xlog_recover_reorder_trans): buffers and inode
// creations first, then the other items, then inode buffers (their
// unlinked pointers go after the inodes), then cancelled buffers; the
// last two lists in reverse, as the kernel adds to their heads. An item
// the kernel would not recognise, or one that does not decode, refuses
// the replay.
func reorder(t *xlog.Transaction) ([]xlog.Item, error) {
	var bufs, items, inodeBufs, cancels []xlog.Item
	for i, raw := range t.Items {
		it := xlog.DecodeItem(raw, t.Order)
		if u, ok := it.(*xlog.Unknown); ok {
			return nil, refusef("transaction %#x (LSN %s), item %d: %s: the kernel's recovery would stop there", t.TID, xlog.LSNText(t.StartLSN), i, strings.Join(u.Problems(), "; "))
		}
		if p := it.Problems(); len(p) > 0 {
			return nil, refusef("transaction %#x (LSN %s), %s item %d: %s", t.TID, xlog.LSNText(t.StartLSN), it.Type(), i, strings.Join(p, "; "))
		}
		switch it := it.(type) {
		case *xlog.BufItem:
			switch {
			case it.Cancelled():
				cancels = append([]xlog.Item{it}, cancels...)
			case it.Format.Flags&xlog.BufInodeBuf != 0:
				inodeBufs = append([]xlog.Item{it}, inodeBufs...)
			default:
				bufs = append(bufs, it)
			}
		case *xlog.ICreateItem:
			bufs = append(bufs, it)
		default:
			items = append(items, it)
		}
	}
	return slices.Concat(bufs, items, inodeBufs, cancels), nil
}

// pass1 records the cancelled buffers and the quota types turned off.
func (e *engine) pass1(items []xlog.Item) {
	for _, it := range items {
		switch it := it.(type) {
		case *xlog.BufItem:
			if it.Cancelled() {
				e.cancels[bufKey{it.Format.Blkno, int(it.Format.Len)}]++
			}
		case *xlog.QuotaOffItem:
			const user, proj, group = 1, 2, 4 // XFS_DQTYPE_*
			if it.Flags&0x0001 != 0 {
				e.quotaOff |= user
			}
			if it.Flags&0x0008 != 0 {
				e.quotaOff |= proj
			}
			if it.Flags&0x0040 != 0 {
				e.quotaOff |= group
			}
		}
	}
}

// pass2 replays one transaction. The buffers replayed so far are
// written (and get their LSN stamps) when a transaction that started at
// another LSN commits, as the kernel drains its queue once per LSN.
func (e *engine) pass2(t *xlog.Transaction, items []xlog.Item) error {
	if t.StartLSN != e.flushed {
		if err := e.c.flush(); err != nil {
			return err
		}
		e.flushed = t.StartLSN
	}
	e.cur = t.StartLSN
	for _, it := range items {
		var err error
		switch it := it.(type) {
		case *xlog.BufItem:
			err = e.buffer(it)
		case *xlog.InodeItem:
			err = e.inode(it)
		case *xlog.ICreateItem:
			err = e.icreate(it)
		case *xlog.DquotItem:
			err = e.dquot(it)
		case *xlog.IntentItem:
			err = e.intent(it)
		case *xlog.AttrItem:
			e.addIntent(xlog.ItemATTRI, it.ID, 0, nil)
		case *xlog.ExchangeItem:
			e.addIntent(xlog.ItemXMI, it.ID, 0, nil)
		case *xlog.DoneItem:
			e.done(it.Type(), it.IntentID)
		case *xlog.QuotaOffItem:
		default:
			err = refusef("a %s item: xfsbox does not replay it", it.Type())
		}
		if err != nil {
			return fmt.Errorf("transaction %#x (LSN %s), %s item: %w", t.TID, xlog.LSNText(t.StartLSN), it.Type(), err)
		}
	}
	return nil
}

// Intents and their done items: an intent is pending until its done
// item (xlog_recover_release_intent); the kernel finishes what is left
// after replaying.

// doneOf maps done item types to their intents'.
var doneOf = map[xlog.ItemType]xlog.ItemType{
	xlog.ItemEFD: xlog.ItemEFI, xlog.ItemRUD: xlog.ItemRUI, xlog.ItemCUD: xlog.ItemCUI, xlog.ItemBUD: xlog.ItemBUI,
	xlog.ItemATTRD: xlog.ItemATTRI, xlog.ItemXMD: xlog.ItemXMI, xlog.ItemEFDRT: xlog.ItemEFIRT,
	xlog.ItemRUDRT: xlog.ItemRUIRT, xlog.ItemCUDRT: xlog.ItemCUIRT,
}

func (e *engine) intent(it *xlog.IntentItem) error {
	if _, ok := doneOf[it.Type()]; ok { // EFD and EFD_RT decode as intents
		e.done(it.Type(), it.ID)
		return nil
	}
	var ags []uint32
	if finishable(it.Type().String()) {
		var err error
		if ags, err = e.intentAGs(it); err != nil {
			return err
		}
	}
	e.addIntent(it.Type(), it.ID, len(it.Extents), ags)
	e.intents[intentKey{it.Type(), it.ID}].exts = it.Extents
	return nil
}

func (e *engine) addIntent(t xlog.ItemType, id uint64, extents int, ags []uint32) {
	k := intentKey{t, id}
	if _, ok := e.intents[k]; !ok {
		e.intentOrder = append(e.intentOrder, k)
	}
	e.intents[k] = &Intent{Type: t.String(), ID: id, Extents: extents, LSN: xlog.LSNText(e.cur), ags: ags}
	e.res.Counts.Intents++
}

func (e *engine) done(t xlog.ItemType, id uint64) {
	k := intentKey{doneOf[t], id}
	if _, ok := e.intents[k]; ok {
		delete(e.intents, k)
		e.res.Counts.IntentsDone++
	}
}

// intentNames say what each intent type would have the kernel finish.
var intentNames = map[string]string{
	"EFI": "free-extent", "RUI": "reverse-mapping", "CUI": "reference-count", "BUI": "block-mapping",
	"ATTRI": "extended-attribute", "XMI": "file-mapping exchange", "EFI_RT": "realtime free-extent",
	"RUI_RT": "realtime reverse-mapping", "CUI_RT": "realtime reference-count",
}

// unfinishedText names the unfinished intents by kind: "the log holds
// unfinished free-extent intents (2 EFI): ...", then why they stay so.
func unfinishedText(in []Intent, why string) string {
	kinds, counts := intentKinds(in)
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = intentNames[k]
	}
	list := strings.Join(names, ", ")
	if n := len(names); n > 1 {
		list = strings.Join(names[:n-1], ", ") + " and " + names[n-1]
	}
	return fmt.Sprintf("the log holds unfinished %s intents (%s): %s", list, strings.Join(counts, ", "), why)
}

// intentKinds are the intent types of in, in order of appearance, and
// their counts in words ("2 EFI").
func intentKinds(in []Intent) (kinds, counts []string) {
	count := map[string]int{}
	for _, it := range in {
		if count[it.Type]++; count[it.Type] == 1 {
			kinds = append(kinds, it.Type)
		}
	}
	for _, k := range kinds {
		counts = append(counts, fmt.Sprintf("%d %s", count[k], k))
	}
	return kinds, counts
}
