package responses

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"
	"strings"

	"github.com/semcache/semcache/cache"
	"github.com/semcache/semcache/wire"
	"github.com/semcache/semcache/wire/canon"
	"github.com/semcache/semcache/wire/sse"
)

// echoed are the request fields a response object repeats that are not in
// the key: a replay repeats the new request's values, not the stored ones
// (with the API's value for an absent field).
var echoed = []struct{ name, absent string }{
	{"metadata", "{}"}, {"prompt_cache_key", "null"}, {"safety_identifier", "null"}, {"user", "null"},
}

// dynamic are the response object's fields a replay sets itself.
var dynamic = []string{"id", "created_at", "completed_at", "output", "previous_response_id", "background", "store",
	"metadata", "prompt_cache_key", "safety_identifier", "user"}

// template is a stored response object cut for replays: everything that
// does not change between replays is marshalled once (and kept with the
// cache entry, see cache.Answer.Decoded); a replay appends its ids, times
// and echoed fields around it.
type template struct {
	stored         bool
	id             string
	hasCompletedAt bool
	rest           []byte          // the object without the dynamic fields: `"k":v,…` (no braces), maybe empty
	zeroRest       []byte          // the same with every usage count 0
	pendingRest    []byte          // the same, status in_progress and usage null, for response.created
	usage          json.RawMessage // the stored usage (nil when absent or null)
	items          []itemTemplate
}

type itemTemplate struct {
	id    string
	rest  []byte // the item without its id
	added []byte // the item without its id, status in_progress, content []
	parts []partTemplate
}

type partTemplate struct {
	empty, whole []byte // the part with text "", and as stored
	text         []byte // the text as a JSON string
	deltas       [][]byte
}

// inner marshals m without its braces.
func inner(m map[string]json.RawMessage) []byte {
	b, _ := json.Marshal(m) // raw values from a decoded object: cannot fail
	if len(b) <= 2 {
		return nil
	}
	return b[1 : len(b)-1]
}

// newTemplate cuts a stored answer's response object.
func newTemplate(a *cache.Answer) (*template, error) {
	obj, err := FromCache(a)
	if err != nil {
		return nil, err
	}
	t := &template{}
	_ = json.Unmarshal(obj["store"], &t.stored)
	_ = json.Unmarshal(obj["id"], &t.id)
	_, t.hasCompletedAt = obj["completed_at"]
	var output []map[string]json.RawMessage
	if err := json.Unmarshal(obj["output"], &output); err != nil || len(output) == 0 {
		return nil, fmt.Errorf("responses: stored answer without output")
	}
	for _, k := range dynamic {
		delete(obj, k)
	}
	t.rest = inner(obj)
	t.zeroRest = t.rest
	if u := obj["usage"]; canon.Present(u) {
		t.usage = u
		obj["usage"] = wire.ZeroNumbers(u)
		t.zeroRest = inner(obj)
	}
	obj["status"] = json.RawMessage(`"in_progress"`)
	obj["usage"] = json.RawMessage(`null`)
	t.pendingRest = inner(obj)
	var texts []string // of every part, in order
	for _, item := range output {
		it := itemTemplate{}
		_ = json.Unmarshal(item["id"], &it.id)
		var parts []map[string]json.RawMessage
		_ = json.Unmarshal(item["content"], &parts)
		delete(item, "id")
		it.rest = inner(item)
		added := maps.Clone(item)
		added["status"] = json.RawMessage(`"in_progress"`)
		added["content"] = json.RawMessage(`[]`)
		it.added = inner(added)
		for _, part := range parts {
			var text string
			_ = json.Unmarshal(part["text"], &text)
			texts = append(texts, text)
			p := partTemplate{text: canon.AppendString(nil, text)}
			p.whole, _ = json.Marshal(part)
			part["text"] = json.RawMessage(`""`)
			p.empty, _ = json.Marshal(part)
			it.parts = append(it.parts, p)
		}
		t.items = append(t.items, it)
	}
	// The deltas: the stored stream's pieces (or word-sized ones) of all
	// the text, cut again where one part ends and the next begins.
	pieces := wire.Pieces(strings.Join(texts, ""), a.Chunks)
	n := 0
	for i := range t.items {
		for j := range t.items[i].parts {
			p := &t.items[i].parts[j]
			for left := len(texts[n]); left > 0 && len(pieces) > 0; {
				piece := pieces[0]
				if len(piece) > left {
					piece, pieces[0] = piece[:left], piece[left:]
				} else {
					pieces = pieces[1:]
				}
				p.deltas = append(p.deltas, canon.AppendString(nil, piece))
				left -= len(piece)
			}
			n++
		}
	}
	return t, nil
}

// replay is one rendering of a template for one request.
type replay struct {
	t       *template
	r       *Request
	id      string
	itemIDs []string
	now     []byte
	zero    bool
	marker  []byte // the "semcache" member's value (nil: none)
}

func (r *Request) replay(t *template, o *wire.RenderOptions) *replay {
	rp := &replay{t: t, r: r, id: mint(t.id, t.stored), now: strconv.AppendInt(nil, o.Now.Unix(), 10), zero: !o.Counted(0)}
	var saved json.RawMessage
	if rp.zero {
		saved = t.usage
	}
	rp.marker = o.MarkerJSON(saved)
	for _, it := range t.items {
		rp.itemIDs = append(rp.itemIDs, mint(it.id, t.stored))
	}
	return rp
}

// object appends the response object; pending renders it as
// response.created shows it (no output, no usage, not completed).
func (rp *replay) object(dst []byte, pending bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = canon.AppendString(dst, rp.id)
	dst = append(dst, `,"created_at":`...)
	dst = append(dst, rp.now...)
	if rp.t.hasCompletedAt {
		dst = append(dst, `,"completed_at":`...)
		if pending {
			dst = append(dst, "null"...)
		} else {
			dst = append(dst, rp.now...)
		}
	}
	dst = append(dst, `,"output":[`...)
	if !pending {
		for i := range rp.t.items {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = rp.item(dst, i, false)
		}
	}
	dst = append(dst, `],"previous_response_id":null,"background":false,"store":`...)
	dst = strconv.AppendBool(dst, rp.r.Store)
	for _, e := range echoed {
		dst = append(dst, ',')
		dst = canon.AppendString(dst, e.name)
		dst = append(dst, ':')
		if v, ok := rp.r.fields[e.name]; ok && v != nil {
			b, _ := json.Marshal(v)
			dst = append(dst, b...)
		} else {
			dst = append(dst, e.absent...)
		}
	}
	rest := rp.t.rest
	switch {
	case pending:
		rest = rp.t.pendingRest
	case rp.zero:
		rest = rp.t.zeroRest
	}
	if len(rest) > 0 {
		dst = append(dst, ',')
		dst = append(dst, rest...)
	}
	if !pending && rp.marker != nil {
		dst = append(dst, `,"semcache":`...)
		dst = append(dst, rp.marker...)
	}
	return append(dst, '}')
}

// item appends output item i, as stored or as response.output_item.added
// shows it.
func (rp *replay) item(dst []byte, i int, added bool) []byte {
	dst = append(dst, `{"id":`...)
	dst = canon.AppendString(dst, rp.itemIDs[i])
	rest := rp.t.items[i].rest
	if added {
		rest = rp.t.items[i].added
	}
	if len(rest) > 0 {
		dst = append(dst, ',')
		dst = append(dst, rest...)
	}
	return append(dst, '}')
}

// RenderJSON renders the response object of a replay.
func (rp *replay) RenderJSON() []byte { return rp.object(make([]byte, 0, 2048), false) }

// stream writes the numbered events of a replay.
type stream struct {
	out []byte
	seq int
	buf []byte
}

// event writes one event: its type, sequence number and the fields that
// fields appends (each starting with a comma).
func (s *stream) event(typ string, fields func(dst []byte) []byte) {
	b := s.buf[:0]
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = strconv.AppendInt(b, int64(s.seq), 10)
	b = fields(b)
	b = append(b, '}')
	s.seq++
	s.out = sse.AppendEvent(s.out, typ, b)
	s.buf = b
}

// RenderSSE renders a replay as the event stream the API sends:
// response.created and response.in_progress (status in_progress, no
// output), then for each output item response.output_item.added, per
// text part response.content_part.added, response.output_text.delta × N,
// response.output_text.done and response.content_part.done, then
// response.output_item.done, and response.completed with the whole
// response and its usage. sequence_number counts from 0; there is no
// [DONE].
func (rp *replay) RenderSSE() []byte {
	s := &stream{out: make([]byte, 0, 8192), buf: make([]byte, 0, 2048)}
	pending := rp.object(nil, true)
	withResponse := func(obj []byte) func([]byte) []byte {
		return func(b []byte) []byte { return append(append(b, `,"response":`...), obj...) }
	}
	s.event("response.created", withResponse(pending))
	s.event("response.in_progress", withResponse(pending))
	for oi, it := range rp.t.items {
		at := func(b []byte, withContent bool, ci int) []byte {
			b = append(b, `,"item_id":`...)
			b = canon.AppendString(b, rp.itemIDs[oi])
			b = append(b, `,"output_index":`...)
			b = strconv.AppendInt(b, int64(oi), 10)
			if withContent {
				b = append(b, `,"content_index":`...)
				b = strconv.AppendInt(b, int64(ci), 10)
			}
			return b
		}
		s.event("response.output_item.added", func(b []byte) []byte {
			b = append(b, `,"output_index":`...)
			b = strconv.AppendInt(b, int64(oi), 10)
			b = append(b, `,"item":`...)
			return rp.item(b, oi, true)
		})
		for ci, p := range it.parts {
			s.event("response.content_part.added", func(b []byte) []byte {
				return append(append(at(b, true, ci), `,"part":`...), p.empty...)
			})
			for _, d := range p.deltas {
				s.event("response.output_text.delta", func(b []byte) []byte {
					return append(append(append(at(b, true, ci), `,"delta":`...), d...), `,"logprobs":[]`...)
				})
			}
			s.event("response.output_text.done", func(b []byte) []byte {
				return append(append(append(at(b, true, ci), `,"text":`...), p.text...), `,"logprobs":[]`...)
			})
			s.event("response.content_part.done", func(b []byte) []byte {
				return append(append(at(b, true, ci), `,"part":`...), p.whole...)
			})
		}
		s.event("response.output_item.done", func(b []byte) []byte {
			b = append(b, `,"output_index":`...)
			b = strconv.AppendInt(b, int64(oi), 10)
			b = append(b, `,"item":`...)
			return rp.item(b, oi, false)
		})
	}
	s.event("response.completed", withResponse(rp.object(nil, false)))
	return s.out
}
