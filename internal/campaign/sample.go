package campaign

import (
	"hash/fnv"
	"math/rand/v2"
	"sort"
)

// Sample picks a deterministic slice of cases: for every (profile,
// object, verb), perPair cases drawn by a PRNG seeded with seed and the
// group's name, so every object and every verb is covered and the same
// seed picks the same cases from the same images. Fields whose fuzz
// cannot change anything with -d (crc: recomputed) are not drawn. The
// result keeps the order of cases.
func Sample(cases []Case, perPair int, seed uint64) []Case {
	type key struct{ profile, object, verb string }
	groups := map[key][]int{}
	var order []key
	for i, c := range cases {
		if c.Field == "crc" {
			continue
		}
		k := key{c.Profile, c.Object, c.Verb}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	var pick []int
	for _, k := range order {
		idx := groups[k]
		h := fnv.New64a()
		h.Write([]byte(k.profile + "\x00" + k.object + "\x00" + k.verb))
		rng := rand.New(rand.NewPCG(seed, h.Sum64()))
		perm := rng.Perm(len(idx))
		for j := 0; j < perPair && j < len(idx); j++ {
			pick = append(pick, idx[perm[j]])
		}
	}
	sort.Ints(pick)
	out := make([]Case, len(pick))
	for i, p := range pick {
		out[i] = cases[p]
	}
	return out
}
