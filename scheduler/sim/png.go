package sim

import (
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"strings"
)

// WritePNG draws the same chart as WriteSVG (CPU utilisation over virtual
// time, one line per run, a legend) as a PNG, for viewers without SVG.
// It uses only the standard library; labels are drawn with a small
// built-in pixel font (lower case letters, digits, "%-._/:"). The bytes
// are the same for the same results.
func WritePNG(w io.Writer, results []*Result) error {
	const width, height, left, bottom, top, right = 800, 400, 60, 40, 24, 160
	img := image.NewNRGBA(image.Rect(0, 0, width, height))
	fill(img, img.Bounds(), color.NRGBA{255, 255, 255, 255})
	black := color.NRGBA{0, 0, 0, 255}
	grid := color.NRGBA{225, 225, 225, 255}
	var maxT float64
	for _, r := range results {
		for _, s := range r.Samples {
			maxT = max(maxT, s.At.Seconds())
		}
	}
	if maxT == 0 {
		maxT = 1
	}
	pw, ph := width-left-right, height-top-bottom
	for i := 0; i <= 4; i++ {
		y := top + ph - ph*i/4
		if i > 0 {
			line(img, left+1, y, left+pw, y, 1, grid)
		}
		label := fmt.Sprintf("%d%%", i*25)
		drawText(img, left-8-textWidth(label), y-5, label, black)
		x := left + pw*i/4
		label = fmt.Sprintf("%.0fs", maxT*float64(i)/4)
		drawText(img, x-textWidth(label)/2, top+ph+8, label, black)
	}
	line(img, left, top+ph, left+pw, top+ph, 1, black)
	line(img, left, top, left, top+ph, 1, black)
	drawText(img, left, 6, "cpu requested / allocatable over virtual time", black)
	for i, r := range results {
		c := paletteRGBA(i)
		for j := 1; j < len(r.Samples); j++ {
			a, b := r.Samples[j-1], r.Samples[j]
			x0 := left + int(float64(pw)*a.At.Seconds()/maxT)
			x1 := left + int(float64(pw)*b.At.Seconds()/maxT)
			y0 := top + ph - int(float64(ph)*a.CPU)
			y1 := top + ph - int(float64(ph)*b.CPU)
			line(img, x0, y0, x1, y1, 2, c)
		}
		ly := top + 14 + i*18
		fill(img, image.Rect(left+pw+12, ly-2, left+pw+24, ly+10), c)
		drawText(img, left+pw+30, ly, r.Name, black)
	}
	return png.Encode(w, img)
}

func paletteRGBA(i int) color.NRGBA {
	var r, g, b uint8
	fmt.Sscanf(palette[i%len(palette)], "#%02x%02x%02x", &r, &g, &b)
	return color.NRGBA{r, g, b, 255}
}

func fill(img *image.NRGBA, r image.Rectangle, c color.NRGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetNRGBA(x, y, c)
		}
	}
}

// line draws from (x0,y0) to (x1,y1) with Bresenham's algorithm, each
// point a square of side thick.
func line(img *image.NRGBA, x0, y0, x1, y1, thick int, c color.NRGBA) {
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
		fill(img, image.Rect(x0, y0, x0+thick, y0+thick), c)
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

// glyphs is a 3x5 pixel font: five rows of three columns per character.
var glyphs = map[rune]string{
	'0': "###" + "# #" + "# #" + "# #" + "###", '1': " # " + "## " + " # " + " # " + "###",
	'2': "###" + "  #" + "###" + "#  " + "###", '3': "###" + "  #" + "###" + "  #" + "###",
	'4': "# #" + "# #" + "###" + "  #" + "  #", '5': "###" + "#  " + "###" + "  #" + "###",
	'6': "###" + "#  " + "###" + "# #" + "###", '7': "###" + "  #" + "  #" + "  #" + "  #",
	'8': "###" + "# #" + "###" + "# #" + "###", '9': "###" + "# #" + "###" + "  #" + "###",
	'%': "# #" + "  #" + " # " + "#  " + "# #", '.': "   " + "   " + "   " + "   " + " # ",
	'-': "   " + "   " + "###" + "   " + "   ", '_': "   " + "   " + "   " + "   " + "###",
	'/': "  #" + "  #" + " # " + "#  " + "#  ", ':': "   " + " # " + "   " + " # " + "   ",
	'a': " # " + "# #" + "###" + "# #" + "# #", 'b': "## " + "# #" + "## " + "# #" + "## ",
	'c': " ##" + "#  " + "#  " + "#  " + " ##", 'd': "## " + "# #" + "# #" + "# #" + "## ",
	'e': "###" + "#  " + "## " + "#  " + "###", 'f': "###" + "#  " + "## " + "#  " + "#  ",
	'g': " ##" + "#  " + "# #" + "# #" + " ##", 'h': "# #" + "# #" + "###" + "# #" + "# #",
	'i': "###" + " # " + " # " + " # " + "###", 'j': "  #" + "  #" + "  #" + "# #" + " # ",
	'k': "# #" + "# #" + "## " + "# #" + "# #", 'l': "#  " + "#  " + "#  " + "#  " + "###",
	'm': "# #" + "###" + "###" + "# #" + "# #", 'n': "## " + "# #" + "# #" + "# #" + "# #",
	'o': " # " + "# #" + "# #" + "# #" + " # ", 'p': "## " + "# #" + "## " + "#  " + "#  ",
	'q': " # " + "# #" + "# #" + "## " + " ##", 'r': "## " + "# #" + "## " + "# #" + "# #",
	's': " ##" + "#  " + " # " + "  #" + "## ", 't': "###" + " # " + " # " + " # " + " # ",
	'u': "# #" + "# #" + "# #" + "# #" + "###", 'v': "# #" + "# #" + "# #" + "# #" + " # ",
	'w': "# #" + "# #" + "###" + "###" + "# #", 'x': "# #" + "# #" + " # " + "# #" + "# #",
	'y': "# #" + "# #" + " # " + " # " + " # ", 'z': "###" + "  #" + " # " + "#  " + "###",
	'?': "###" + "  #" + " # " + "   " + " # ",
}

// glyphScale is how many image pixels one font pixel takes.
const glyphScale = 2

func textWidth(s string) int { return len([]rune(s)) * 4 * glyphScale }

// drawText draws s with its top-left corner at (x,y); letters are drawn
// lower case and unknown characters as '?'.
func drawText(img *image.NRGBA, x, y int, s string, c color.NRGBA) {
	for _, r := range strings.ToLower(s) {
		g, ok := glyphs[r]
		if !ok && r != ' ' {
			g = glyphs['?']
		}
		for i, px := range g {
			if px == '#' {
				cx, cy := x+(i%3)*glyphScale, y+(i/3)*glyphScale
				fill(img, image.Rect(cx, cy, cx+glyphScale, cy+glyphScale), c)
			}
		}
		x += 4 * glyphScale
	}
}
