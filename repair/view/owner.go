package view

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/xfsbox/xfsbox/repair/check"
	"github.com/xfsbox/xfsbox/repair/forensics"
	"github.com/xfsbox/xfsbox/repair/workspace"
	"github.com/xfsbox/xfsbox/xfsformat"
)

// owner/: who owns a block, by filesystem block number. The directory
// lists nothing (there is a name for every block); owner/N reads as
// xfsbox owner prints block N, owner/N.json as its JSON.

// OwnerDir is the name of the owner view's directory.
const OwnerDir = "owner"

// parseOwner parses owner/'s file names: a filesystem block number of
// the filesystem, with or without ".json".
func (t *Tree) parseOwner(name string) (fsb uint64, asJSON, ok bool) {
	num, asJSON := strings.CutSuffix(name, ".json")
	n, err := strconv.ParseUint(num, 10, 64)
	if err != nil || strconv.FormatUint(n, 10) != num {
		return 0, false, false
	}
	if _, _, ok := xfsformat.CheckFSBExtent(t.FS.Geo, n, 1); !ok {
		return 0, false, false
	}
	return n, asJSON, true
}

// openOwner resolves owner/N; parts follow "owner".
func (t *Tree) openOwner(parts []string) (*File, error) {
	if len(parts) == 0 {
		return nil, ErrIsDir
	}
	fsb, asJSON, ok := t.parseOwner(parts[0])
	if len(parts) != 1 || !ok {
		return nil, notFound(OwnerDir + "/" + strings.Join(parts, "/"))
	}
	return &File{Path: OwnerDir + "/" + parts[0], Render: func(ctx context.Context, w io.Writer) error {
		ws, err := workspace.New(ctx, check.WorkspaceOptions(t.Workspace, t.FS, nil))
		if err != nil {
			return err
		}
		defer ws.Close()
		res, err := forensics.Owners(ctx, t.FS, ws, []uint64{fsb})
		if err != nil {
			return err
		}
		if !asJSON {
			return forensics.WriteOwnership(w, res[0])
		}
		b, err := json.Marshal(Envelope{Kind: "owner", Body: struct {
			Blocks []forensics.Ownership `json:"blocks"`
		}{res}})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}}, nil
}
