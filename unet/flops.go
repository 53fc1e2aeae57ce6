package unet

import "slices"

// ForwardFLOPs is the nominal floating-point operation count of one forward
// pass of the network on a batch: two per multiply-add of every
// convolution, dense layer and attention product, as PyTorch's
// FlopCounterMode counts them (the normalisations, activations and
// additions are left out, as there). The upsampling convolution counts as
// the 3x3 convolution of the upsampled image that it computes, although
// upsampleConv does 4/9 of that work. The bench reports FLOP/s from these
// counts.
func (c Config) ForwardFLOPs(batch int) int64 {
	b := int64(batch)
	conv := func(size, in, out, k int) int64 { return 2 * b * int64(size*size) * int64(in*out*k*k) }
	dense := func(rows int64, in, out int) int64 { return 2 * rows * int64(in*out) }
	temb := 4 * c.Channels
	res := func(size, in, out int) int64 {
		f := conv(size, in, out, 3) + dense(b, temb, out) + conv(size, out, out, 3)
		if in != out {
			f += conv(size, in, out, 1)
		}
		return f
	}
	attn := func(size, ch int) int64 {
		n := int64(size * size)
		return 4*dense(b*n, ch, ch) + 2*(2*b*n*n*int64(ch)) // q, k, v, out; q.k and w.v
	}

	f := dense(b, c.Channels, temb) + dense(b, temb, temb)
	size, ch := c.ImageSize, c.Channels
	f += conv(size, c.InChannels, ch, 3)
	skips := []int{ch}
	for level, mult := range c.ChannelMult {
		for range c.NumResBlocks {
			f += res(size, ch, c.Channels*mult)
			ch = c.Channels * mult
			if slices.Contains(c.AttnResolutions, size) {
				f += attn(size, ch)
			}
			skips = append(skips, ch)
		}
		if level != len(c.ChannelMult)-1 {
			size /= 2
			f += conv(size, ch, ch, 3)
			skips = append(skips, ch)
		}
	}
	f += res(size, ch, ch) + attn(size, ch) + res(size, ch, ch)
	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		for range c.NumResBlocks + 1 {
			skip := skips[len(skips)-1]
			skips = skips[:len(skips)-1]
			f += res(size, ch+skip, c.Channels*c.ChannelMult[level])
			ch = c.Channels * c.ChannelMult[level]
			if slices.Contains(c.AttnResolutions, size) {
				f += attn(size, ch)
			}
		}
		if level != 0 {
			size *= 2
			f += conv(size, ch, ch, 3)
		}
	}
	return f + conv(size, ch, c.OutChannels, 3)
}

// TrainFLOPs is the nominal count of a training step on a batch: the
// forward pass and the backward pass, which computes two products for each
// forward product (the gradients of its input and of its weights), except
// the input gradient of the first convolution, which nothing needs.
func (c Config) TrainFLOPs(batch int) int64 {
	convIn := 2 * int64(batch) * int64(c.ImageSize*c.ImageSize) * int64(c.InChannels*c.Channels*9)
	return 3*c.ForwardFLOPs(batch) - convIn
}
