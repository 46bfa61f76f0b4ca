package campaign

import (
	"context"
	"sync"
	"testing"

	"github.com/xfsbox/xfsbox/internal/testimg"
)

var plans sync.Map // image path -> *Plan

// PlanFor enumerates AG 0 of profile's cached image (once per test
// binary), failing the test if it cannot.
func PlanFor(t testing.TB, profile string) *Plan {
	t.Helper()
	img := testimg.Image(t, profile)
	if p, ok := plans.Load(img); ok {
		return p.(*Plan)
	}
	p, err := Enumerate(context.Background(), img, profile, 0)
	if err != nil {
		t.Fatalf("campaign: enumerating %s: %v", profile, err)
	}
	plans.Store(img, p)
	return p
}

// Cases lists every case of AG 0 of profile's image: each object, each
// field xfs_db accepts, each verb.
func Cases(t testing.TB, profile string) []Case {
	t.Helper()
	return PlanFor(t, profile).Cases
}
