package kernel

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"slices"

	"github.com/diffusion-go/ddpm/unet"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// UNetDiagram draws the U-Net of a configuration as a PNG: the encoder
// stages down the left (resolution, channels, ResNet blocks, attention), the
// middle at the bottom, the decoder up the right, the skip connections
// across, and the timestep embedding that enters every ResNet block. Every
// number in it is read from c.
func UNetDiagram(c unet.Config) ([]byte, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	const (
		boxW, boxH, gapY = 330, 58, 26
		leftX, rightX    = 20, 480
		top              = 70
	)
	levels := len(c.ChannelMult)
	W, H := rightX+boxW+20, top+levels*(boxH+gapY)+boxH+20
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), image.White, image.Point{}, draw.Src)
	ink, blue, grey := color.RGBA{20, 20, 20, 255}, color.RGBA{31, 90, 180, 255}, color.RGBA{150, 150, 150, 255}
	box := func(x, y int, fill color.RGBA, lines ...string) {
		draw.Draw(img, image.Rect(x, y, x+boxW, y+boxH), &image.Uniform{fill}, image.Point{}, draw.Src)
		rect(img, x, y, x+boxW, y+boxH, ink)
		for i, l := range lines {
			text(img, x+8, y+17+15*i, l, ink)
		}
	}
	attn := func(res int) string {
		if slices.Contains(c.AttnResolutions, res) {
			return " + self-attention"
		}
		return ""
	}
	text(img, leftX, 20, fmt.Sprintf("U-Net: %dx%dx%d images, ch = %d, multipliers %v, GroupNorm(%d), dropout %g",
		c.ImageSize, c.ImageSize, c.InChannels, c.Channels, c.ChannelMult, c.NumGroups, c.Dropout), ink)
	text(img, leftX, 38, fmt.Sprintf("timestep t -> sinusoidal embedding (%d) -> dense %d, SiLU, dense %d: added inside every ResNet block",
		c.Channels, 4*c.Channels, 4*c.Channels), blue)
	text(img, leftX, 56, fmt.Sprintf("in: x_t %dx%dx%d -> conv 3x3 to %d channels", c.ImageSize, c.ImageSize, c.InChannels, c.Channels), ink)
	text(img, rightX, 56, fmt.Sprintf("out: GroupNorm, SiLU, zero-init conv -> %dx%dx%d", c.ImageSize, c.ImageSize, c.OutChannels), ink)
	res := c.ImageSize
	for i, m := range c.ChannelMult {
		y := top + i*(boxH+gapY)
		ch := m * c.Channels
		down := ""
		if i < levels-1 {
			down = fmt.Sprintf("then downsample (conv stride 2) to %dx%d", (res+1)/2, (res+1)/2)
		}
		box(leftX, y, color.RGBA{235, 242, 252, 255},
			fmt.Sprintf("%dx%d, %d channels", res, res, ch),
			fmt.Sprintf("%d ResNet block(s)%s", c.NumResBlocks, attn(res)), down)
		up := ""
		if i > 0 {
			up = "then upsample (nearest, conv 3x3)"
		}
		box(rightX, y, color.RGBA{252, 240, 230, 255},
			fmt.Sprintf("%dx%d, %d channels", res, res, ch),
			fmt.Sprintf("%d ResNet block(s)%s", c.NumResBlocks+1, attn(res)), up)
		for k := range 3 { // The skip connections: every encoder output joins the decoder.
			line(img, leftX+boxW, y+boxH/2-6+6*k, rightX, y+boxH/2-6+6*k, grey)
		}
		text(img, leftX+boxW+12, y+boxH/2-12, fmt.Sprintf("%d skips, concat.", c.NumResBlocks+1), grey)
		if i < levels-1 {
			line(img, leftX+boxW/2, y+boxH, leftX+boxW/2, y+boxH+gapY, ink)
			line(img, rightX+boxW/2, y+boxH+gapY, rightX+boxW/2, y+boxH, ink)
			res = (res + 1) / 2
		}
	}
	y := top + levels*(boxH+gapY)
	mx := (leftX + rightX) / 2
	y -= boxH / 3 // The middle sits a little higher, between the last stages.
	box(mx, y, color.RGBA{238, 238, 238, 255},
		fmt.Sprintf("middle, %dx%d, %d channels", res, res, c.ChannelMult[levels-1]*c.Channels),
		"ResNet block, self-attention, ResNet block")
	yLast := top + (levels-1)*(boxH+gapY) + boxH
	line(img, leftX+boxW/2, yLast, mx+20, y, ink)
	line(img, mx+boxW-20, y, rightX+boxW/2, yLast, ink)
	return PNG(img)
}

func text(img draw.Image, x, y int, s string, c color.Color) {
	d := &font.Drawer{Dst: img, Src: image.NewUniform(c), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func rect(img *image.RGBA, x0, y0, x1, y1 int, c color.Color) {
	line(img, x0, y0, x1, y0, c)
	line(img, x0, y1, x1, y1, c)
	line(img, x0, y0, x0, y1, c)
	line(img, x1, y0, x1, y1, c)
}

// line draws a straight line (Bresenham).
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
		if x0 == x1 && y0 == y1 {
			return
		}
		if 2*e >= dy {
			e, x0 = e+dy, x0+sx
		}
		if 2*e <= dx {
			e, y0 = e+dx, y0+sy
		}
	}
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
