// Package ddpm implements Denoising Diffusion Probabilistic Models (Ho, Jain &
// Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020) on GoMLX.
//
// # Notation
//
// Timesteps are 0-based: t runs over 0..T-1, and t = 0 is one noising step
// (the paper's t = 1). The paper's x_0 is the data; x_t for t in 0..T-1 is the
// paper's x_{t+1}. This is the convention of the official implementation and of
// improved-diffusion, so every table indexed by t matches theirs.
//
// Images are float tensors shaped [B, H, W, C] with values in [-1, 1]. A
// timestep tensor t is int32 shaped [B].
//
// With beta_t the noise schedule, alpha_t = 1 - beta_t and
// abar_t = prod_{s<=t} alpha_s:
//
//	q(x_t | x_0)       = N(sqrt(abar_t) x_0, (1 - abar_t) I)                 (paper eq. 4)
//	q(x_{t-1}|x_t,x_0) = N(coef1_t x_0 + coef2_t x_t, betatilde_t I)         (paper eq. 6-7)
//	coef1_t = beta_t sqrt(abar_{t-1}) / (1 - abar_t)
//	coef2_t = (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t)
//	betatilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t)
//
// # Layers of the package
//
// Schedule holds every coefficient table in float64, computed on the host.
// Diffusion pairs a Schedule with the choices a model makes (what the network
// predicts, how the reverse variance is set, which loss trains it) and offers
// the graph functions: QSample, QPosterior, PMeanVariance, TrainingLosses,
// VLBTerm, PriorBPD. Samplers (Sampler) are Go loops around one compiled
// step; CalcBPD evaluates the variational bound in bits/dim, term by term
// or as a stratified estimate. The U-Net, training, data and evaluation live
// in the subpackages unet, train, data and eval; backend chooses the GoMLX
// backend.
//
// A network enters only as a Denoiser, func(ctx, x_t, t) -> output; nothing in
// this package looks inside it.
//
// # Errors
//
// Host-side functions (constructors, parsers, samplers, evaluation loops)
// return errors that name the bad value. Graph-building functions panic, as
// GoMLX does, with a message that names the bad shape or argument; GoMLX's
// Exec turns such panics into errors for callers that use Exec.Exec. Values
// inside a graph cannot be checked while the graph is built: a timestep tensor
// is assumed to lie in [0, T); the host-side APIs that take timesteps check it.
//
// # References
//
//   - Ho, Jain, Abbeel. Denoising Diffusion Probabilistic Models. NeurIPS 2020.
//   - Nichol, Dhariwal. Improved Denoising Diffusion Probabilistic Models. ICML 2021
//     (cosine schedule, learned range variance, hybrid loss, respacing,
//     importance-sampled timesteps).
//   - Song, Meng, Ermon. Denoising Diffusion Implicit Models. ICLR 2021 (DDIM).
//   - Salimans, Ho. Progressive Distillation for Fast Sampling of Diffusion
//     Models. ICLR 2022 (v-prediction).
package ddpm
