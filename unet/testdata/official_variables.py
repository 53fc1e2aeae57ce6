"""Lists the variables of the official DDPM U-Net (Ho et al. 2020) for a
configuration, by name and shape, in the order the official code creates
them.

It is a transcription of model() in diffusion_tf/models/unet.py of
github.com/hojonathanho/diffusion at commit
1e0dceb3b3495bbe19116a5e1b3596cd0706c543, with every layer replaced by the
variables it creates (diffusion_tf/nn.py: conv2d -> W [k, k, in, out] and
b [out]; dense and nin -> W [in, out] and b [out];
tf.contrib.layers.group_norm -> beta [C] and gamma [C]). No TensorFlow is
needed. The CIFAR-10 configuration is scripts/run_cifar.py's:

    python3 official_variables.py > official_cifar10_variables.txt
"""


def model(S, in_ch, ch, out_ch, ch_mult, num_res_blocks, attn_resolutions):
    out = []

    def var(name, *shape):
        out.append((name, list(shape)))

    def conv2d(scope, cin, cout, k=3):
        var(scope + "/W", k, k, cin, cout)
        var(scope + "/b", cout)

    def dense(scope, cin, cout):
        var(scope + "/W", cin, cout)
        var(scope + "/b", cout)

    def norm(scope, c):
        var(scope + "/beta", c)
        var(scope + "/gamma", c)

    def resnet_block(scope, cin, cout):
        norm(scope + "/norm1", cin)
        conv2d(scope + "/conv1", cin, cout)
        dense(scope + "/temb_proj", 4 * ch, cout)
        norm(scope + "/norm2", cout)
        conv2d(scope + "/conv2", cout, cout)
        if cin != cout:
            dense(scope + "/nin_shortcut", cin, cout)
        return cout

    def attn_block(scope, c):
        norm(scope + "/norm", c)
        for n in ("q", "k", "v", "proj_out"):
            dense(scope + "/" + n, c, c)

    dense("model/temb/dense0", ch, 4 * ch)
    dense("model/temb/dense1", 4 * ch, 4 * ch)
    conv2d("model/conv_in", in_ch, ch)
    hs = [(ch, S)]
    for i_level, mult in enumerate(ch_mult):
        for i_block in range(num_res_blocks):
            c = resnet_block("model/down_%d/block_%d" % (i_level, i_block), hs[-1][0], ch * mult)
            size = hs[-1][1]
            if size in attn_resolutions:
                attn_block("model/down_%d/attn_%d" % (i_level, i_block), c)
            hs.append((c, size))
        if i_level != len(ch_mult) - 1:
            c, size = hs[-1]
            conv2d("model/down_%d/downsample/conv" % i_level, c, c)
            hs.append((c, size // 2))
    c, size = hs[-1]
    resnet_block("model/mid/block_1", c, c)
    attn_block("model/mid/attn_1", c)
    resnet_block("model/mid/block_2", c, c)
    for i_level in reversed(range(len(ch_mult))):
        for i_block in range(num_res_blocks + 1):
            skip, _ = hs.pop()
            c = resnet_block("model/up_%d/block_%d" % (i_level, i_block), c + skip, ch * ch_mult[i_level])
            if size in attn_resolutions:
                attn_block("model/up_%d/attn_%d" % (i_level, i_block), c)
        if i_level != 0:
            conv2d("model/up_%d/upsample/conv" % i_level, c, c)
            size *= 2
    norm("model/norm_out", c)
    conv2d("model/conv_out", c, out_ch)
    return out


if __name__ == "__main__":
    for name, shape in model(S=32, in_ch=3, ch=128, out_ch=3, ch_mult=(1, 2, 2, 2), num_res_blocks=2, attn_resolutions=(16,)):
        print(name, "x".join(map(str, shape)))
