package fusefs

import (
	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// The go-fuse interfaces each node and handle type implements, checked at
// compile time and kept in one list (as gocryptfs's node_api_check.go):
// a method with a wrong signature would otherwise be silently ignored.
var (
	// nodes.go: directories and views
	_ fs.NodeLookuper  = (*dirNode)(nil)
	_ fs.NodeReaddirer = (*dirNode)(nil)
	_ fs.NodeGetattrer = (*dirNode)(nil)
	_ fs.NodeOpener    = (*viewNode)(nil)
	_ fs.NodeGetattrer = (*viewNode)(nil)
	_ fs.FileReader    = (*viewHandle)(nil)
	_ fs.FileReleaser  = (*viewHandle)(nil)

	// imagenode.go: the image file
	_ fs.NodeOpener    = (*imageNode)(nil)
	_ fs.NodeGetattrer = (*imageNode)(nil)
	_ fs.NodeReader    = (*imageNode)(nil)

	// ctlnodes.go: the control files
	_ fs.NodeOpener    = (*controlNode)(nil)
	_ fs.NodeGetattrer = (*controlNode)(nil)
	_ fs.NodeSetattrer = (*controlNode)(nil)
	_ fs.FileReader    = (*controlHandle)(nil)
	_ fs.FileWriter    = (*controlHandle)(nil)
	_ fs.FileFlusher   = (*controlHandle)(nil)

	// files.go, files_rest.go: the files/ tree, served below go-fuse's
	// node tree (every method written out, none promoted)
	_ fuse.RawFileSystem = (*filesFS)(nil)

	// inodes.go: the inodes/ listing
	_ fs.DirStream = (*inodeStream)(nil)
)
