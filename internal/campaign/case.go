package campaign

import (
	"fmt"
	"strings"
)

// Verbs are the fuzz verbs of xfs_db, in fstests' order.
var Verbs = []string{"zeroes", "ones", "firstbit", "middlebit", "lastbit", "add", "sub", "random"}

// Object is one block (or sector) of metadata the campaign corrupts.
type Object struct {
	// Name is "agf", "agfl", "agi", or "<btree>-root" / "<btree>-leaf"
	// with the xfs_db type name of the btree ("bnobt-root").
	Name string
	// Nav are the xfs_db commands that make the object current
	// ("agf 0", "addr bnoroot", "addr ptrs[1]").
	Nav []string
	// Offset and Length are the byte range of the object on the image,
	// from xfs_db's stack command: what Apply saves and restores.
	Offset, Length int64
	// Note says something worth knowing about the object, such as "root
	// is a leaf: no separate leaf object".
	Note string
}

// Case is one corruption: fuzz Field of the object at Nav with Verb.
type Case struct {
	Profile string
	// AG is the AG the object belongs to (its header sectors are saved
	// and restored with the object).
	AG     int
	Object string
	Field  string
	Verb   string
	Nav    []string
	// Offset and Length locate the object's bytes (see Object). When
	// Length is 0, Apply asks xfs_db.
	Offset, Length int64
}

// String names the case the way a log line or a table wants it:
// "allfeatures bnobt-leaf recs[1].startblock add".
func (c Case) String() string {
	return fmt.Sprintf("%s %s %s %s", c.Profile, c.Object, c.Field, c.Verb)
}

// Command is the xfs_db command line that applies the case, for
// reproducing it by hand.
func (c Case) Command(image string) string {
	var b strings.Builder
	b.WriteString("xfs_db -x")
	for _, n := range c.Nav {
		fmt.Fprintf(&b, " -c '%s'", n)
	}
	fmt.Fprintf(&b, " -c '%s' %s", c.edit(), image)
	return b.String()
}

// edit is the xfs_db command that corrupts the field: `fuzz -d` with
// the verb, or, for a verb "=VALUE" (a value chosen rather than drawn),
// `write -d` of that value.
func (c Case) edit() string {
	if v, ok := strings.CutPrefix(c.Verb, "="); ok {
		return fmt.Sprintf("write -d %s %s", c.Field, v)
	}
	return fmt.Sprintf("fuzz -d %s %s", c.Field, c.Verb)
}

// Key identifies a case across runs (the profile, object, field, verb).
func (c Case) Key() string {
	return c.Profile + "/" + c.Object + "/" + c.Field + "/" + c.Verb
}
