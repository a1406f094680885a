package main

import (
	"fmt"
	"slices"
	"time"
)

// sample is a list of measured durations.
type sample []time.Duration

func (s sample) median() time.Duration {
	if len(s) == 0 {
		return 0
	}
	c := slices.Clone(s)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

// minus returns a[i]-b[i] for each pair (samples taken in the same cycles).
func minus(a, b sample) sample {
	out := make(sample, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] - b[i]
	}
	return out
}

func (s sample) min() time.Duration { return slices.Min(s) }
func (s sample) max() time.Duration { return slices.Max(s) }

// secs formats d in seconds with 3 significant digits.
func secs(d time.Duration) string {
	v := d.Seconds()
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	case v >= 1:
		return fmt.Sprintf("%.2f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}

// cell formats "median [min–max]" and, if ref > 0, "(ratio×)".
func (s sample) cell(ref time.Duration) string {
	if len(s) == 0 {
		return "–"
	}
	c := fmt.Sprintf("%s [%s–%s]", secs(s.median()), secs(s.min()), secs(s.max()))
	if ref > 0 {
		c += fmt.Sprintf(" (%.2f×)", float64(s.median())/float64(ref))
	}
	return c
}

// ms formats d in milliseconds.
func ms(d time.Duration) string { return fmt.Sprintf("%.2f", float64(d)/1e6) }
