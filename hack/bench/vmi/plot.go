package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// series is one burst's create -> Running latencies, in seconds.
type series struct {
	label   string
	color   string
	seconds []float64
}

// kubeVirtP50, kubeVirtP95: KubeVirt's published create -> Running for 100 VMIs on its
// performance CI (KVM, larger machines; ../shared/anchors/ANCHORS.md, perf-scale
// graphs around v1.8), drawn as references.
const (
	kubeVirtP50 = 18.0
	kubeVirtP95 = 27.0
)

// writeCDF draws each series' cumulative distribution (the share of its VMIs Running
// by each second after creation) as an SVG, with KubeVirt's P50 and P95 marked.
func writeCDF(path, title string, all []series) error {
	const w, h, left, right, top, bottom = 720.0, 400.0, 60.0, 20.0, 40.0, 50.0
	maxX := kubeVirtP95
	for _, s := range all {
		for _, v := range s.seconds {
			maxX = math.Max(maxX, v)
		}
	}
	step := niceStep(maxX / 8)
	maxX = math.Ceil(maxX/step) * step
	x := func(v float64) float64 { return left + (w-left-right)*v/maxX }
	y := func(share float64) float64 { return h - bottom - (h-top-bottom)*share }
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" font-family="sans-serif" font-size="12">`+"\n", w, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.0f" y="20" font-size="14">%s</text>`+"\n", left, escape(title))
	for v := 0.0; v <= maxX+1e-9; v += step {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(v), y(0), x(v), y(1))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%g</text>`+"\n", x(v), y(0)+16, v)
	}
	for _, share := range []float64{0, 0.25, 0.5, 0.75, 0.95, 1} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#ddd"/>`+"\n", x(0), y(share), x(maxX), y(share))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f%%</text>`+"\n", x(0)-6, y(share)+4, share*100)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">seconds from create to Running</text>`+"\n", (left+w-right)/2, h-12)
	for _, ref := range []struct {
		v    float64
		name string
	}{{kubeVirtP50, "KubeVirt P50"}, {kubeVirtP95, "KubeVirt P95"}} {
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#888" stroke-dasharray="4 3"/>`+"\n", x(ref.v), y(0), x(ref.v), y(1))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="#666">%s %gs</text>`+"\n", x(ref.v)+3, y(1)-4, ref.name, ref.v)
	}
	for i, s := range all {
		vals := append([]float64(nil), s.seconds...)
		sort.Float64s(vals)
		if len(vals) == 0 {
			continue
		}
		points := []string{fmt.Sprintf("%.1f,%.1f", x(0), y(0))}
		for j, v := range vals {
			points = append(points, fmt.Sprintf("%.1f,%.1f", x(v), y(float64(j)/float64(len(vals)))),
				fmt.Sprintf("%.1f,%.1f", x(v), y(float64(j+1)/float64(len(vals)))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", s.color, strings.Join(points, " "))
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" fill="%s">%s</text>`+"\n", x(0)+10, y(1)+18+float64(i)*16, s.color, escape(s.label))
	}
	b.WriteString("</svg>\n")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

// niceStep rounds a step up to 1, 2 or 5 times a power of ten.
func niceStep(raw float64) float64 {
	if raw <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= raw {
			return m * p
		}
	}
	return 10 * p
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
