package responses

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
)

// Ids of replayed answers. Every hit gets fresh response and message ids.
// When the answer was stored upstream (store true or absent), the fresh id
// carries the original's: resp_sc<16 hex>_<rest of the original id>. A
// client that later refers to a hit's response or message (by
// previous_response_id, an item_reference, or an input message's id, as
// the Vercel AI SDK does with its default store: true) is then pointed at
// the response the upstream really stored, whose output is the same. An
// answer fetched with store: false was never stored upstream; its fresh
// ids carry nothing (resp_sc<16 hex>) and references to them are sent on
// as they are (the upstream answers them as unknown, as it would have).

const mintedMark = "sc"

// mint returns a fresh id with the prefix of orig ("resp", "msg", …),
// carrying orig when stored.
func mint(orig string, stored bool) string {
	prefix, rest, ok := strings.Cut(orig, "_")
	if !ok || prefix == "" {
		prefix, rest = "resp", orig
	}
	if o, ok := original(orig); ok { // an id minted earlier: carry its original
		if o == "" {
			stored = false
		} else {
			_, rest, _ = strings.Cut(o, "_")
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	id := prefix + "_" + mintedMark + hex.EncodeToString(b[:])
	if stored && rest != "" {
		id += "_" + rest
	}
	return id
}

// original reports whether id was minted here, and the original id it
// carries ("" when it carries none).
func original(id string) (orig string, minted bool) {
	prefix, rest, ok := strings.Cut(id, "_")
	if !ok || !strings.HasPrefix(rest, mintedMark) {
		return "", false
	}
	rest = rest[len(mintedMark):]
	if len(rest) < 16 {
		return "", false
	}
	if _, err := hex.DecodeString(rest[:16]); err != nil {
		return "", false
	}
	switch {
	case len(rest) == 16:
		return "", true
	case rest[16] == '_' && len(rest) > 17:
		return prefix + "_" + rest[17:], true
	}
	return "", false
}

// mintedIDs reports whether the request names an id minted here:
// previous_response_id, an item_reference, or an input item's id.
func (r *Request) mintedIDs() bool {
	if s, ok := r.fields["previous_response_id"].(string); ok {
		if _, m := original(s); m {
			return true
		}
	}
	items, _ := r.fields["input"].([]any)
	for _, it := range items {
		obj, _ := it.(map[string]any)
		if s, ok := obj["id"].(string); ok {
			if _, m := original(s); m {
				return true
			}
		}
	}
	return false
}

// translatedBody returns the body with every minted id replaced by the
// original it carries; an input item's minted id without one is dropped
// (the item carries its content anyway), a previous_response_id or
// item_reference without one is left for the upstream to refuse.
func (r *Request) translatedBody() ([]byte, error) {
	fields := make(map[string]any, len(r.fields))
	for k, v := range r.fields {
		fields[k] = v
	}
	if s, ok := fields["previous_response_id"].(string); ok {
		if o, _ := original(s); o != "" {
			fields["previous_response_id"] = o
		}
	}
	if items, ok := fields["input"].([]any); ok {
		out := make([]any, len(items))
		for i, it := range items {
			obj, isObj := it.(map[string]any)
			s, hasID := obj["id"].(string)
			o, minted := original(s)
			if !isObj || !hasID || !minted {
				out[i] = it
				continue
			}
			c := make(map[string]any, len(obj))
			for k, v := range obj {
				c[k] = v
			}
			switch {
			case o != "":
				c["id"] = o
			case c["type"] != "item_reference":
				delete(c, "id")
			}
			out[i] = c
		}
		fields["input"] = out
	}
	return json.Marshal(fields)
}

// UpstreamPath translates the id in a path about one response
// (/v1/responses/{id}, …/input_items, …/cancel: requests semcache passes
// through) back to the original a replayed id carries, so that a client
// retrieving a hit's response gets the one the upstream stored. Other
// paths, and ids that carry no original, come back unchanged with false.
func UpstreamPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, Path+"/")
	if !ok {
		return path, false
	}
	id, tail, _ := strings.Cut(rest, "/")
	orig, minted := original(id)
	if !minted || orig == "" {
		return path, false
	}
	if tail != "" {
		tail = "/" + tail
	}
	return Path + "/" + orig + tail, true
}
