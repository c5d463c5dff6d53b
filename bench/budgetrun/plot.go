package budgetrun

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// Series is one run's curves: after each request, the semantic hit rate so
// far and the wrong-hit rate so far.
type Series struct {
	Name string
	// AllHitRate counts exact and semantic hits, HitRate semantic ones.
	AllHitRate, HitRate, Wrong []float64
	Budget                     float64
}

// Curves computes a run's series.
func Curves(name string, budgetEps float64, out []Outcome) Series {
	s := Series{Name: name, Budget: budgetEps}
	sem, wrong, all := 0, 0, 0
	for i, o := range out {
		if o.Tier != "" {
			all++
		}
		if o.Tier == "semantic" {
			sem++
			if !o.Right {
				wrong++
			}
		}
		s.HitRate = append(s.HitRate, float64(sem)/float64(i+1))
		s.AllHitRate = append(s.AllHitRate, float64(all)/float64(i+1))
		w := 0.0
		if sem > 0 {
			w = float64(wrong) / float64(sem)
		}
		s.Wrong = append(s.Wrong, w)
	}
	return s
}

var palette = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}, {44, 160, 44, 255}, {214, 39, 40, 255}, {148, 103, 189, 255},
	{140, 86, 75, 255}, {227, 119, 194, 255}, {127, 127, 127, 255}, {188, 189, 34, 255}}

// Plot draws three panels (hit rate, semantic hit rate and wrong-hit rate
// over requests) as a
// PNG. It uses the standard library's image packages and x/image's fixed
// bitmap font (maintained by the Go team, no cgo, no system fonts): a
// plotting library would bring far more than two line charts need.
func Plot(w io.Writer, series []Series) error {
	img := image.NewRGBA(plotLayout(series).bounds)
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	drawPlot(img, series)
	return png.Encode(w, img)
}

// layout places the panels and the legend: the legend gets a column as
// wide as its longest name (the panels keep their width, the image grows).
type layout struct {
	bounds image.Rectangle
	// panels are the three plotting areas; legendX the legend's left end,
	// legendW its width (swatch and name).
	panels  [3]image.Rectangle
	legendX int
	legendW int
}

// The plot's fixed sizes, in pixels.
const (
	plotPanelW = 880 // a panel's width
	plotMargin = 80  // left of the panels (the axis labels)
	plotRight  = 20  // right of the legend
	plotGap    = 20  // between the panels and the legend
	swatchW    = 30  // the legend's line sample and its gap to the name
)

func plotLayout(series []Series) layout {
	nameW := 0
	for _, s := range series {
		nameW = max(nameW, font.MeasureString(basicfont.Face7x13, s.Name).Ceil())
	}
	l := layout{legendW: swatchW + nameW}
	l.legendX = plotMargin + plotPanelW + plotGap
	W := l.legendX + l.legendW + plotRight
	for i := range l.panels {
		top := 40 + 430*i
		l.panels[i] = image.Rect(plotMargin, top, plotMargin+plotPanelW, top+360)
	}
	// The legend may be taller than the first panel with many series.
	H := max(1300, 60+20*len(series)+20)
	l.bounds = image.Rect(0, 0, W, H)
	return l
}

func drawPlot(img *image.RGBA, series []Series) {
	l := plotLayout(series)
	maxHit, maxWrong, maxAll := 0.01, 0.01, 0.01
	for _, s := range series {
		for i := range s.HitRate {
			if i < len(s.HitRate)/50 {
				continue // the first requests' ratios are noise
			}
			maxHit = max(maxHit, s.HitRate[i])
			maxAll = max(maxAll, s.AllHitRate[i])
			maxWrong = max(maxWrong, s.Wrong[i])
		}
		maxWrong = max(maxWrong, s.Budget*1.5)
	}
	panel(img, l.panels[0], "hit rate, exact and semantic (hits / requests so far)", series, maxAll*1.1, func(s Series) []float64 { return s.AllHitRate }, false)
	panel(img, l.panels[1], "semantic hit rate (semantic hits / requests so far)", series, maxHit*1.1, func(s Series) []float64 { return s.HitRate }, false)
	panel(img, l.panels[2], "wrong-hit rate (wrong / semantic hits so far); dashed: budgets", series, maxWrong*1.1, func(s Series) []float64 { return s.Wrong }, true)
	for i, s := range series {
		c := palette[i%len(palette)]
		y := 60 + 20*i
		for x := l.legendX; x < l.legendX+swatchW-5; x++ {
			for d := -1; d <= 1; d++ {
				img.Set(x, y-4+d, c)
			}
		}
		label(img, l.legendX+swatchW, y, s.Name, color.Black)
	}
}

func panel(img *image.RGBA, r image.Rectangle, title string, series []Series, top float64, get func(Series) []float64, budgets bool) {
	grey := color.RGBA{200, 200, 200, 255}
	for x := r.Min.X; x <= r.Max.X; x++ {
		img.Set(x, r.Max.Y, color.Black)
	}
	for y := r.Min.Y; y <= r.Max.Y; y++ {
		img.Set(r.Min.X, y, color.Black)
	}
	for k := 1; k <= 4; k++ {
		y := r.Max.Y - k*r.Dy()/4
		for x := r.Min.X; x <= r.Max.X; x += 3 {
			img.Set(x, y, grey)
		}
		label(img, 8, y+4, fmt.Sprintf("%.1f%%", 100*top*float64(k)/4), color.Black)
	}
	label(img, r.Min.X, r.Min.Y-10, title, color.Black)
	n := 0
	for _, s := range series {
		n = max(n, len(get(s)))
	}
	for k := 0; k <= 4; k++ {
		x := r.Min.X + k*r.Dx()/4
		label(img, x-10, r.Max.Y+18, fmt.Sprintf("%d", k*n/4), color.Black)
	}
	label(img, r.Max.X-60, r.Max.Y+34, "requests", color.Black)
	yOf := func(v float64) int { return r.Max.Y - int(v/top*float64(r.Dy())) }
	for i, s := range series {
		c := palette[i%len(palette)]
		vals := get(s)
		px, py := -1, -1
		for j, v := range vals {
			x := r.Min.X + int(float64(j)/float64(max(n-1, 1))*float64(r.Dx()))
			y := max(yOf(min(v, top)), r.Min.Y)
			if px >= 0 {
				line(img, px, py, x, y, c)
			}
			px, py = x, y
		}
		if budgets && s.Budget > 0 {
			y := yOf(s.Budget)
			for x := r.Min.X; x <= r.Max.X; x++ {
				if (x/6)%2 == 0 {
					img.Set(x, y, c)
				}
			}
		}
	}
}

func line(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := 1, 1
	if x0 > x1 {
		sx = -1
	}
	if y0 > y1 {
		sy = -1
	}
	e := dx + dy
	for {
		img.Set(x0, y0, c)
		img.Set(x0, y0+1, c)
		if x0 == x1 && y0 == y1 {
			return
		}
		// Both steps test the error before either moves it (testing the
		// second after the first has moved it overshoots y1 on some
		// slopes, and the line never ends).
		e2 := 2 * e
		if e2 >= dy {
			e += dy
			x0 += sx
		}
		if e2 <= dx {
			e += dx
			y0 += sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

func label(img *image.RGBA, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}
