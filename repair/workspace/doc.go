//go:build linux

// Package workspace provides unnamed, size-accounted scratch storage for
// staging the records that an offline repair collects while it rebuilds
// btrees. It is the user-space counterpart of the Linux kernel's online
// repair helpers: a Workspace plays the role of xfile, an Array that of
// xfarray (fixed-size records that can be appended, loaded, stored,
// iterated and externally sorted) and Blobs that of xfblob (variable-length
// byte strings addressed by a Cookie).
//
// A Workspace is one backing file: an anonymous memfd by default, or an
// O_TMPFILE file in Options.ScratchDir. Neither has a name, so a crash
// leaves nothing behind. Space is handed out to arrays and blob stores in
// fixed-size segments of that file, so a single reservation (fallocated up
// front from Options.Estimate) serves every structure of one repair
// operation and usage is reported as one figure by [Workspace.Usage].
// Create one Workspace per operation and Close it when done.
//
// What the package must not do:
//
//   - It keeps no global state: everything lives in a Workspace, and
//     independent workspaces never interact.
//   - It does not panic on bad input, I/O failure or misuse (nil receivers,
//     closed workspaces, wrong record sizes, forged cookies); every such case
//     is reported as an error. I/O errors and short reads or writes end the
//     operation with an *OpError naming the operation and file offset.
//   - Its Go heap use is bounded and independent of the amount of staged
//     data: Array.Sort uses at most Options.SortMemory bytes of buffer, and
//     each Array or Blobs keeps only small fixed-size I/O buffers.
//   - It does not create named files, and it does not grow past
//     Options.MaxBytes when that is set (ErrOverLimit).
//
// Long-running calls (Array.Iterate, Array.Sort) take a context and poll it
// every few thousand records, so cancellation is observed promptly; the
// returned error then wraps the context's error.
package workspace
