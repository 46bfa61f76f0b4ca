// Package repair is xfsbox's engine: it opens an image, caches its
// blocks, walks its btrees through one generic walker, and (in later
// layers) checks and rebuilds AG metadata.
//
// It knows nothing of FUSE: everything here is reachable from the
// command line too. Errors carry where they happened as typed values;
// they become errnos or exit codes only at the edges.
package repair
