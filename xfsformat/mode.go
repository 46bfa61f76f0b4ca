package xfsformat

// LsMode is a file mode as ls -l's first column shows it: the type
// character ('-', 'd', 'l', 'c', 'b', 'p', 's'; '?' for an unknown
// type), then the nine permission characters with setuid, setgid and
// sticky bits as s/S and t/T.
func LsMode(mode uint16) string {
	t := byte('?')
	switch uint32(mode) & ModeTypeMask {
	case ModeRegular:
		t = '-'
	case ModeDir:
		t = 'd'
	case ModeSymlink:
		t = 'l'
	case ModeChar:
		t = 'c'
	case ModeBlock:
		t = 'b'
	case ModeFIFO:
		t = 'p'
	case ModeSocket:
		t = 's'
	}
	b := []byte{t}
	const rwx = "rwxrwxrwx"
	for i := range 9 {
		if mode&(1<<(8-i)) != 0 {
			b = append(b, rwx[i])
		} else {
			b = append(b, '-')
		}
	}
	special := func(bit uint16, at int, set, unset byte) {
		if mode&bit != 0 {
			if b[at] == '-' {
				b[at] = unset
			} else {
				b[at] = set
			}
		}
	}
	special(0o4000, 3, 's', 'S')
	special(0o2000, 6, 's', 'S')
	special(0o1000, 9, 't', 'T')
	return string(b)
}
