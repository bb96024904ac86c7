//go:build race

package policy

// raceEnabled scales the randomized tests down under the race detector,
// where the Casbin reference runs several times slower.
const raceEnabled = true
