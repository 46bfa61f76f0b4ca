package main

import (
	"github.com/sirupsen/logrus"

	"github.com/xfsbox/xfsbox/repair/fsys"
)

// onePassCache is the block cache of the commands that read the image
// through once (check, repair): their walks read past the cache into
// buffers of their own, and a cache buffer for a block read once is
// fresh memory, so a larger cache only holds more of them (the
// inode-heavy bench image's check: peak RSS 94 -> 72 MB, time
// unchanged). Mounts and the forensic commands, which come back to
// blocks, keep store.DefaultCacheBytes.
const onePassCache = 4 << 20

// openFS opens an image (or a metadump) for a command, saying once what
// a metadump cannot give: file contents, and real names when xfs_metadump
// obfuscated them.
func openFS(path string, opts fsys.OpenOptions) (*fsys.FS, error) {
	fs, err := fsys.Open(path, opts)
	if err != nil {
		return nil, err
	}
	if md := fs.Img.Metadump(); md != nil {
		logrus.Infof("%s: %s; %d sectors of metadata held, file contents absent", md.Source, md.Info, md.Sectors)
		if md.Info.Obfuscated {
			logrus.Warnf("%s: names are obfuscated by xfs_metadump: they are not the filesystem's own", path)
		}
	}
	return fs, nil
}
