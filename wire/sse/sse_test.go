package sse

import (
	"reflect"
	"testing"
)

func collect(t *testing.T, chunks ...string) []Event {
	t.Helper()
	var p Parser
	var out []Event
	for _, c := range chunks {
		if err := p.Feed([]byte(c), func(e Event) error { out = append(out, e); return nil }); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestParser(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []Event
	}{
		{"basic", []string{"data: a\n\ndata: b\n\n"}, []Event{{Data: []byte("a")}, {Data: []byte("b")}}},
		{"no space", []string{"data:a\n\n"}, []Event{{Data: []byte("a")}}},
		{"only one space stripped", []string{"data:  a\n\n"}, []Event{{Data: []byte(" a")}}},
		{"crlf", []string{"data: a\r\n\r\n"}, []Event{{Data: []byte("a")}}},
		{"cr only", []string{"data: a\r\rdata: b\r\r"}, []Event{{Data: []byte("a")}, {Data: []byte("b")}}},
		{"crlf split across chunks", []string{"data: a\r", "\n\r", "\n"}, []Event{{Data: []byte("a")}}},
		{"multi-line data", []string{"data: a\ndata: b\n\n"}, []Event{{Data: []byte("a\nb")}}},
		{"comments ignored", []string{": keep-alive\n\n: x\ndata: a\n\n"}, []Event{{Data: []byte("a")}}},
		{"event and id", []string{"event: error\nid: 7\ndata: {}\n\n"}, []Event{{Event: "error", ID: "7", Data: []byte("{}")}}},
		{"split mid-line", []string{"da", "ta: he", "llo\n", "\n"}, []Event{{Data: []byte("hello")}}},
		{"no data no event", []string{"event: x\n\n"}, nil},
		{"empty data line", []string{"data\n\n"}, []Event{{Data: []byte("")}}},
		{"unterminated last event", []string{"data: a\n\ndata: b"}, []Event{{Data: []byte("a")}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(t, tt.chunks...)
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSSEFlushReportsUnterminatedEvent(t *testing.T) {
	var p Parser
	var got []Event
	emit := func(e Event) error { got = append(got, e); return nil }
	_ = p.Feed([]byte("data: a\n\ndata: b"), emit)
	if len(got) != 1 {
		t.Fatalf("before flush: %d events", len(got))
	}
	_ = p.Flush(emit)
	if len(got) != 2 || string(got[1].Data) != "b" {
		t.Fatalf("after flush: %q", got)
	}
}

func TestSSEMaxLine(t *testing.T) {
	p := Parser{MaxLine: 16}
	var got []Event
	_ = p.Feed([]byte("data: 0123456789abcdefghij\n\n"), func(e Event) error { got = append(got, e); return nil })
	if !p.Overflow {
		t.Fatal("overflow not reported")
	}
	if len(got) != 1 || len(got[0].Data) > 16 {
		t.Fatalf("got %q", got)
	}
}

// FuzzParser checks that any split of the input yields the same events
// as feeding it whole, and that the parser never panics.
func FuzzParser(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\n: c\r\rdata:x\ndata: y\n\n"), uint8(3))
	f.Add([]byte("event: e\nid: 1\ndata: {\"k\":1}\n\n"), uint8(1))
	f.Add([]byte("data: [DONE]\n\n"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := collect(t, string(in))
		n := int(step%16) + 1
		var parts []string
		for i := 0; i < len(in); i += n {
			parts = append(parts, string(in[i:min(i+n, len(in))]))
		}
		split := collect(t, parts...)
		if len(whole) != len(split) {
			t.Fatalf("whole gave %d events, split by %d gave %d", len(whole), n, len(split))
		}
		for i := range whole {
			if !reflect.DeepEqual(whole[i], split[i]) {
				t.Fatalf("event %d differs: %q vs %q", i, whole[i], split[i])
			}
		}
	})
}

func TestAppendEventRoundTrip(t *testing.T) {
	var b []byte
	b = AppendEvent(b, "response.created", []byte(`{"a":1}`))
	b = AppendEvent(b, "", []byte("[DONE]"))
	got := collect(t, string(b))
	want := []Event{{Event: "response.created", Data: []byte(`{"a":1}`)}, {Data: []byte("[DONE]")}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	var p Parser
	_ = p.Feed(b[:len(b)-1], func(Event) error { return nil })
	if !p.Pending() {
		t.Fatal("a cut event is not reported as pending")
	}
}
