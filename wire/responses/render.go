package responses

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/semcache/semcache/wire/sse"
)

// DeltaBytes is how many bytes of text one replayed delta event carries.
const DeltaBytes = 64

// echoed are the request fields a response object repeats that are not in
// the key: a replay repeats the new request's values, not the stored ones.
var echoed = map[string]string{"user": "null", "metadata": "{}", "safety_identifier": "null", "prompt_cache_key": "null"}

// replay is a stored response object made fresh for one request.
type replay struct {
	obj    map[string]json.RawMessage
	output []map[string]json.RawMessage
}

// freshen gives a stored response object fresh ids and times and the
// current request's echoed fields.
func (r *Request) freshen(obj map[string]json.RawMessage, now time.Time) (*replay, error) {
	var stored bool
	_ = json.Unmarshal(obj["store"], &stored)
	var id string
	_ = json.Unmarshal(obj["id"], &id)
	var output []map[string]json.RawMessage
	if err := json.Unmarshal(obj["output"], &output); err != nil || len(output) == 0 {
		return nil, fmt.Errorf("responses: stored answer without output")
	}
	for _, item := range output {
		var itemID string
		_ = json.Unmarshal(item["id"], &itemID)
		item["id"] = jsonString(mint(itemID, stored))
	}
	out := make(map[string]json.RawMessage, len(obj)+4)
	for k, v := range obj {
		out[k] = v
	}
	ts := json.RawMessage(strconv.FormatInt(now.Unix(), 10))
	out["id"] = jsonString(mint(id, stored))
	out["created_at"] = ts
	if _, ok := out["completed_at"]; ok {
		out["completed_at"] = ts
	}
	out["output"], _ = json.Marshal(output)
	out["previous_response_id"] = json.RawMessage("null")
	out["background"] = json.RawMessage("false")
	out["store"] = json.RawMessage(strconv.FormatBool(r.Store))
	for k, def := range echoed {
		if v, ok := r.fields[k]; ok && v != nil {
			out[k], _ = json.Marshal(v)
		} else {
			out[k] = json.RawMessage(def)
		}
	}
	return &replay{obj: out, output: output}, nil
}

func jsonString(s string) json.RawMessage {
	b, _ := json.Marshal(s)
	return b
}

// RenderJSON renders the response object of a replay.
func (rp *replay) RenderJSON() []byte {
	b, _ := json.Marshal(rp.obj) // cannot fail: raw messages from a decoded object
	return b
}

// event is one named stream event; fields are set per type.
type event struct {
	Type           string          `json:"type"`
	SequenceNumber int             `json:"sequence_number"`
	Response       json.RawMessage `json:"response,omitempty"`
	OutputIndex    *int            `json:"output_index,omitempty"`
	ItemID         string          `json:"item_id,omitempty"`
	ContentIndex   *int            `json:"content_index,omitempty"`
	Item           json.RawMessage `json:"item,omitempty"`
	Part           json.RawMessage `json:"part,omitempty"`
	Delta          *string         `json:"delta,omitempty"`
	Text           *string         `json:"text,omitempty"`
	Logprobs       *[]struct{}     `json:"logprobs,omitempty"`
}

// RenderSSE renders a replay as the event stream the API sends:
// response.created and response.in_progress (status in_progress, no
// output), then for the message response.output_item.added, per text part
// response.content_part.added, response.output_text.delta × N,
// response.output_text.done and response.content_part.done, then
// response.output_item.done and response.completed with the whole
// response and its usage. sequence_number counts from 0; there is no
// [DONE].
func (rp *replay) RenderSSE() []byte {
	out := make([]byte, 0, 4096)
	seq := 0
	emit := func(ev event) {
		ev.SequenceNumber = seq
		seq++
		b, _ := json.Marshal(ev)
		out = sse.AppendEvent(out, ev.Type, b)
	}
	pending := make(map[string]json.RawMessage, len(rp.obj))
	for k, v := range rp.obj {
		pending[k] = v
	}
	pending["status"] = json.RawMessage(`"in_progress"`)
	pending["output"] = json.RawMessage(`[]`)
	pending["usage"] = json.RawMessage(`null`)
	if _, ok := pending["completed_at"]; ok {
		pending["completed_at"] = json.RawMessage(`null`)
	}
	inProgress, _ := json.Marshal(pending)
	emit(event{Type: "response.created", Response: inProgress})
	emit(event{Type: "response.in_progress", Response: inProgress})
	noLogprobs := []struct{}{}
	for oi, item := range rp.output {
		oi := oi
		var itemID string
		_ = json.Unmarshal(item["id"], &itemID)
		var parts []map[string]json.RawMessage
		_ = json.Unmarshal(item["content"], &parts)
		added := make(map[string]json.RawMessage, len(item))
		for k, v := range item {
			added[k] = v
		}
		added["status"] = json.RawMessage(`"in_progress"`)
		added["content"] = json.RawMessage(`[]`)
		b, _ := json.Marshal(added)
		emit(event{Type: "response.output_item.added", OutputIndex: &oi, Item: b})
		for ci, part := range parts {
			ci := ci
			var text string
			_ = json.Unmarshal(part["text"], &text)
			empty := make(map[string]json.RawMessage, len(part))
			for k, v := range part {
				empty[k] = v
			}
			empty["text"] = json.RawMessage(`""`)
			b, _ := json.Marshal(empty)
			emit(event{Type: "response.content_part.added", ItemID: itemID, OutputIndex: &oi, ContentIndex: &ci, Part: b})
			for _, piece := range splitUTF8(text, DeltaBytes) {
				emit(event{Type: "response.output_text.delta", ItemID: itemID, OutputIndex: &oi, ContentIndex: &ci,
					Delta: &piece, Logprobs: &noLogprobs})
			}
			emit(event{Type: "response.output_text.done", ItemID: itemID, OutputIndex: &oi, ContentIndex: &ci,
				Text: &text, Logprobs: &noLogprobs})
			whole, _ := json.Marshal(part)
			emit(event{Type: "response.content_part.done", ItemID: itemID, OutputIndex: &oi, ContentIndex: &ci, Part: whole})
		}
		done, _ := json.Marshal(item)
		emit(event{Type: "response.output_item.done", OutputIndex: &oi, Item: done})
	}
	emit(event{Type: "response.completed", Response: rp.RenderJSON()})
	return out
}

// splitUTF8 cuts s into pieces of at most n bytes without splitting a rune.
func splitUTF8(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		if cut == 0 {
			cut = n
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
