package topo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
)

func FuzzParse(f *testing.F) {
	f.Add([]byte(demo))
	for _, tc := range problemCases {
		f.Add([]byte(tc.src))
	}
	files, _ := filepath.Glob("../../examples/*.yaml")
	for _, file := range files {
		if data, err := os.ReadFile(file); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data, "f.yaml")
		if err != nil {
			var perr *Error
			if s != nil || !errors.As(err, &perr) || len(perr.Problems) == 0 {
				t.Fatalf("Parse = %v, %v; want a nil Spec and an *Error with problems", s, err)
			}
			for _, p := range perr.Problems {
				if p.Line < 1 || p.Col < 1 || p.Msg == "" || p.File != "f.yaml" {
					t.Fatalf("bad problem %+v", p)
				}
			}
			return
		}
		checkSpec(t, s)
		again, err := Parse(data, "f.yaml")
		if err != nil {
			t.Fatalf("second Parse failed: %v", err)
		}
		if a, b := dump(s), dump(again); a != b || !reflect.DeepEqual(s, again) {
			t.Fatalf("second Parse differs:\n%s\n---\n%s", a, b)
		}
	})
}

func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{
		"python3 -m http.server 8080", `echo 'a b' "c d"`, `a\ b "\$x" '\'`, "x\\\ny", `''`, `"" x`,
		"\t \n", `echo "unterminated`, `it'\''s`,
	} {
		f.Add(s)
	}
	for _, tc := range problemCases {
		f.Add(tc.src)
	}
	f.Fuzz(func(t *testing.T, s string) {
		words, err := SplitCommand(s)
		if err != nil {
			return
		}
		for _, w := range words {
			one, err := SplitCommand(quoteWord(w))
			if err != nil || len(one) != 1 || one[0] != w {
				t.Fatalf("SplitCommand(quote(%q)) = %q, %v", w, one, err)
			}
		}
		again, err := SplitCommand(QuoteCommand(words))
		if err != nil || !slices.Equal(words, again) {
			t.Fatalf("SplitCommand(QuoteCommand(%q)) = %q, %v", words, again, err)
		}
	})
}
