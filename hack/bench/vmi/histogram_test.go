package main

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	// 10 observations: 2 at or below 5 s, 8 at or below 10 s, 10 at or below 20 s.
	b := buckets{5: 2, 10: 8, 20: 10, math.Inf(1): 10}
	for q, want := range map[float64]float64{0.5: 5 + 5*(5-2)/6.0, 0.95: 10 + 10*(9.5-8)/2, 0.1: 2.5} {
		if got, ok := b.quantile(q); !ok || math.Abs(got-want) > 1e-9 {
			t.Errorf("q%.2f = %v, want %v", q, got, want)
		}
	}
	if _, ok := (buckets{5: 0, math.Inf(1): 0}).quantile(0.5); ok {
		t.Error("an empty histogram has no quantile")
	}
	beyond := buckets{5: 1, math.Inf(1): 4}
	if got, _ := beyond.quantile(0.9); got != 5 {
		t.Errorf("beyond the last bound: %v, want the bound 5", got)
	}
	after := buckets{5: 3, 10: 9, 20: 12, math.Inf(1): 12}
	if d := after.minus(b); d[5] != 1 || d[20] != 2 {
		t.Errorf("minus: %v", d)
	}
}
