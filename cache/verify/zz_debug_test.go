package verify

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"testing"
)

func TestZZDebug(t *testing.T) {
	if os.Getenv("VDEBUG") == "" {
		t.Skip()
	}
	v, _ := New(Options{StrictAdditions: os.Getenv("VSTRICT") != ""})
	f, _ := os.Open("../../bench/testdata/pairs.jsonl")
	sc := bufio.NewScanner(f)
	var fr, fa, n int
	for sc.Scan() {
		var p struct {
			A, B      string
			Duplicate bool
			Kind      string
		}
		json.Unmarshal(sc.Bytes(), &p)
		n++
		vd := v.Check(p.A, p.B, 0.5)
		vd2 := v.Check(p.B, p.A, 0.5)
		if vd.OK != vd2.OK {
			fmt.Printf("ASYM %q | %q: %v / %v\n", p.A, p.B, vd, vd2)
		}
		if p.Duplicate && !vd.OK {
			fr++
			if os.Getenv("VDEBUG") != "fa" {
				fmt.Printf("FALSE-REJECT [%s] %q | %q -> %s\n", p.Kind, p.A, p.B, vd.Detail)
			}
		}
		if !p.Duplicate && vd.OK {
			fa++
			if os.Getenv("VDEBUG") != "fr" {
				fmt.Printf("FALSE-ACCEPT [%s] %q | %q\n", p.Kind, p.A, p.B)
			}
		}
	}
	fmt.Println("pairs", n, "false rejects", fr, "false accepts", fa)
}

func TestZZDump(t *testing.T) {
	s := os.Getenv("VDUMP")
	if s == "" {
		t.Skip()
	}
	v, _ := New(Options{})
	var a analysis
	a.analyze(v, s)
	for _, tk := range a.toks {
		fmt.Printf("%q stem=%q text=%q kind=%d num=%v ver=%q flags=%b rel=%d\n", tk.surf, tk.stem, tk.text, tk.kind, tk.num, tk.ver, tk.flags, tk.rel)
	}
	fmt.Println("negs", a.negs)
}
