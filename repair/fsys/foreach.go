package fsys

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"sync"
)

// ForEach runs fn for every item (AGs, btree types), at most GOMAXPROCS
// at a time; the first error cancels the rest and is returned, and so is
// ctx's error when it is done first. It is how the checks and the
// rebuilds work on AGs in parallel.
func ForEach[T any](ctx context.Context, items []T, fn func(ctx context.Context, item T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	var wg sync.WaitGroup
	var once sync.Once
	var first error
	for _, item := range items {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := callRecovering(ctx, item, fn); err != nil {
				once.Do(func() { first = err; cancel(err) })
			}
		}()
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// PanicError is a panic in one of ForEach's workers, turned into the
// error ForEach returns: a bug, which the program reports as an internal
// error (a panic in a goroutine would otherwise end the process past
// any recover of the caller's).
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string {
	return fmt.Sprintf("internal error: panic: %v\n%s", e.Value, e.Stack)
}

func callRecovering[T any](ctx context.Context, item T, fn func(ctx context.Context, item T) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &PanicError{Value: r, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, item)
}
