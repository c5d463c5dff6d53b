package budget

import (
	"encoding/binary"
	"errors"
	"math"
)

// EntryObservations bounds the labelled observations kept per entry: the
// most recent ones.
const EntryObservations = 8

// obs is one labelled observation of an entry: a candidate of that entry
// scored Score and its answer was right or wrong.
type obs struct {
	score float32
	wrong bool
}

// entryState is an entry's evidence, oldest first.
type entryState struct {
	obs []obs
}

// add appends an observation, forgetting the oldest beyond the bound.
func (e *entryState) add(score float32, wrong bool) {
	if len(e.obs) == EntryObservations {
		copy(e.obs, e.obs[1:])
		e.obs = e.obs[:EntryObservations-1]
	}
	e.obs = append(e.obs, obs{score, wrong})
}

// Evidence is what an entry has shown about a candidate at score s.
type Evidence uint8

const (
	// Fresh: nothing relevant yet.
	Fresh Evidence = iota
	// Vouched: a candidate of the entry scoring at most s was right
	// (a paraphrase less alike was served right), and none near was wrong.
	Vouched
	// Flagged: a candidate of the entry was wrong at a score at least
	// flagDecades decades of 1-score below s, or above (its look-alikes
	// come close).
	Flagged
	numEvidence
)

var evidenceNames = [numEvidence]string{"fresh", "vouched", "flagged"}

func (e Evidence) String() string {
	if int(e) < len(evidenceNames) {
		return evidenceNames[e]
	}
	return "?"
}

// flagDecades is how far below a candidate's score (in decades of
// 1-score) a wrong observation of its entry flags it.
const flagDecades = 1

// evidence classifies the entry's state for a candidate scoring s.
func (e *entryState) evidence(s float32) Evidence {
	lim := 1 - math.Min(1, (1-float64(s))*math.Pow(10, flagDecades))
	ev := Fresh
	for _, o := range e.obs {
		switch {
		case o.wrong && float64(o.score) >= lim:
			return Flagged
		case !o.wrong && o.score <= s:
			ev = Vouched
		}
	}
	return ev
}

const entryVersion = 1

// MarshalBinary encodes the state: a version, a count, then 5 bytes per
// observation.
func (e *entryState) MarshalBinary() ([]byte, error) {
	out := make([]byte, 2, 2+5*len(e.obs))
	out[0], out[1] = entryVersion, byte(len(e.obs))
	for _, o := range e.obs {
		out = binary.LittleEndian.AppendUint32(out, math.Float32bits(o.score))
		var w byte
		if o.wrong {
			w = 1
		}
		out = append(out, w)
	}
	return out, nil
}

// UnmarshalBinary decodes a state.
func (e *entryState) UnmarshalBinary(b []byte) error {
	if len(b) < 2 || b[0] != entryVersion || int(b[1]) > EntryObservations || len(b) != 2+5*int(b[1]) {
		return errors.New("budget: malformed entry state")
	}
	n := int(b[1])
	out := make([]obs, 0, n)
	for i := range n {
		p := b[2+5*i:]
		s := math.Float32frombits(binary.LittleEndian.Uint32(p))
		if math.IsNaN(float64(s)) || s < 0 || s > 1 || p[4] > 1 {
			return errors.New("budget: malformed entry state")
		}
		out = append(out, obs{score: s, wrong: p[4] == 1})
	}
	e.obs = out
	return nil
}
