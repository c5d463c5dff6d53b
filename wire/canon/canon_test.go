package canon

import (
	"bytes"
	"testing"
)

func TestAppend(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"b":1,"a":[1.0,2e0,-0.50],"c":null}`, `{"a":[1,2,-0.5],"b":1}`},
		{"\"tab\\tnew\\nline \\u00e9 \\u0001\"", "\"tab\\tnew\\nline é \\u0001\""},
		{`{"n":123456789012345678901234567890}`, `{"n":123456789012345678901234567890}`},
		{`[true,false,null]`, `[true,false,null]`},
	}
	for _, tt := range tests {
		v, err := Decode([]byte(tt.in))
		if err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if got := string(Append(nil, v)); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.in, got, tt.want)
		}
	}
	if _, err := Decode([]byte(`{} {}`)); err == nil {
		t.Error("trailing data accepted")
	}
}

func TestObjectErrors(t *testing.T) {
	for _, in := range []string{``, "  ", "\xff", `{"a":`, `[]`, `3`} {
		if _, err := Object([]byte(in)); err == nil {
			t.Errorf("%q accepted as an object", in)
		}
	}
}

// FuzzCanonical checks that canonical form is a fixed point: decoding and
// writing it again gives the same bytes.
func FuzzCanonical(f *testing.F) {
	for _, s := range []string{`{"b":1,"a":[1.0,2e0]}`, `"\u00e9"`, `[{"x":null,"y":1e400}]`, `-0.0`, `{"a":{"b":{"c":[]}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		v, err := Decode(in)
		if err != nil {
			return
		}
		once := Append(nil, v)
		v2, err := Decode(once)
		if err != nil {
			t.Fatalf("canonical form does not decode: %v\n%s", err, once)
		}
		if twice := Append(nil, v2); !bytes.Equal(once, twice) {
			t.Fatalf("not a fixed point:\n%s\n%s", once, twice)
		}
	})
}
