package fusefs

import "github.com/hanwen/go-fuse/v2/fs"

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

	// files.go: the files/ tree
	_ fs.NodeLookuper       = (*fileNode)(nil)
	_ fs.NodeGetattrer      = (*fileNode)(nil)
	_ fs.NodeStatxer        = (*fileNode)(nil)
	_ fs.NodeOpendirHandler = (*fileNode)(nil)
	_ fs.NodeOpener         = (*fileNode)(nil)
	_ fs.NodeReader         = (*fileNode)(nil)
	_ fs.NodeReadlinker     = (*fileNode)(nil)
	_ fs.NodeSetattrer      = (*fileNode)(nil)
	_ fs.NodeCreater        = (*fileNode)(nil)
	_ fs.NodeMkdirer        = (*fileNode)(nil)
	_ fs.NodeMknoder        = (*fileNode)(nil)
	_ fs.NodeUnlinker       = (*fileNode)(nil)
	_ fs.NodeRmdirer        = (*fileNode)(nil)
	_ fs.NodeRenamer        = (*fileNode)(nil)
	_ fs.NodeLinker         = (*fileNode)(nil)
	_ fs.NodeSymlinker      = (*fileNode)(nil)
	_ fs.NodeSetxattrer     = (*fileNode)(nil)
	_ fs.NodeRemovexattrer  = (*fileNode)(nil)
	_ fs.FileReaddirenter   = (*fileDir)(nil)
	_ fs.FileSeekdirer      = (*fileDir)(nil)
	_ fs.FileReleasedirer   = (*fileDir)(nil)
	_ fs.NodeGetxattrer     = (*fileNode)(nil)
	_ fs.NodeListxattrer    = (*fileNode)(nil)

	// inodes.go: the inodes/ listing
	_ fs.DirStream = (*inodeStream)(nil)
)
