// diffusers UNet2DConditionModel graph (sample, timestep, encoder_hidden_states -> out_sample) with
// seeded random weights, and the 2D layers (GroupNorm, ResNet, attention, resampling) the VAE shares.
import { DataType, type GraphDef } from './onnx.ts';
import { GraphBuilder } from './graph.ts';
import { createRng, type Rng } from './random.ts';

export interface UNetDims {
  sampleSize: number;
  inChannels: number;
  outChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
  /** CrossAttnDownBlock2D (ResNets + Transformer2D) or DownBlock2D (ResNets), one per width. */
  downBlockTypes: string[];
  /** UpBlock2D or CrossAttnUpBlock2D, deepest first. */
  upBlockTypes: string[];
  crossAttentionDim: number;
  /** As in SD 1.x configs, the number of attention heads (head width = channels / this). */
  attentionHeadDim: number;
  normNumGroups: number;
  normEps: number;
}

const instanceNormConstants = new WeakMap<GraphBuilder, Map<number, [string, string]>>();

/**
 * GroupNorm at opset 17 (GroupNormalization is opset 18): [B, C, ...] -> [B, G, -1], an
 * InstanceNormalization with unit scale and zero bias per group, back to the input's shape, then
 * the per-channel affine. `scale` and `bias` are [C, 1, 1] (broadcast over H and W).
 */
export function groupNorm(g: GraphBuilder, x: string, groups: number, eps: number, scale: string, bias: string): string {
  let cache = instanceNormConstants.get(g);
  if (!cache) instanceNormConstants.set(g, (cache = new Map()));
  let unit = cache.get(groups);
  if (!unit) {
    unit = [g.weight(`group_norm.unit_scale_${groups}`, new Float32Array(groups).fill(1), [groups]), g.weight(`group_norm.zero_bias_${groups}`, new Float32Array(groups), [groups])];
    cache.set(groups, unit);
  }
  const grouped = g.op('Reshape', [x, g.i64([0, groups, -1])]);
  const normed = g.op('InstanceNormalization', [grouped, unit[0], unit[1]], { epsilon: { float: eps } });
  return g.op('Add', [g.op('Mul', [g.op('Reshape', [normed, g.op('Shape', [x])]), scale]), bias]);
}

/** The layers diffusers builds UNets and VAEs from, writing weights under their state-dict names. */
export function createLayers2d(g: GraphBuilder, rng: Rng) {
  const silu = (x: string) => g.op('Mul', [x, g.op('Sigmoid', [x])]);

  /** Conv2d with He-style init scaled by `gain`; pads are [top, left, bottom, right]. */
  const conv = (x: string, prefix: string, cin: number, cout: number, k: number, o: { stride?: number; pads?: number[]; gain?: number } = {}) => {
    const p = (k - 1) / 2;
    const w = g.weight(`${prefix}.weight`, rng.normal(cout * cin * k * k, (o.gain ?? 1) / Math.sqrt(cin * k * k)), [cout, cin, k, k]);
    const b = g.weight(`${prefix}.bias`, rng.normal(cout, 0.02), [cout]);
    const s = o.stride ?? 1;
    return g.op('Conv', [x, w, b], { kernel_shape: [k, k], pads: o.pads ?? [p, p, p, p], strides: [s, s], dilations: [1, 1], group: 1 });
  };

  /** nn.Linear on the last axis; the weight is stored transposed ([in, out]) for MatMul. */
  const linear = (x: string, prefix: string, fin: number, fout: number, o: { bias?: boolean; gain?: number } = {}) => {
    const y = g.op('MatMul', [x, g.weight(`${prefix}.weight_t`, rng.normal(fin * fout, (o.gain ?? 1) / Math.sqrt(fin)), [fin, fout])]);
    return o.bias === false ? y : g.op('Add', [y, g.weight(`${prefix}.bias`, rng.normal(fout, 0.02), [fout])]);
  };

  const norm = (x: string, prefix: string, channels: number, groups: number, eps: number) => {
    const scale = g.weight(`${prefix}.weight`, rng.normal(channels, 0.05).map((v) => 1 + v), [channels, 1, 1]);
    const bias = g.weight(`${prefix}.bias`, rng.normal(channels, 0.02), [channels, 1, 1]);
    return groupNorm(g, x, groups, eps, scale, bias);
  };

  const layerNorm = (x: string, prefix: string, dim: number, eps: number) => {
    const scale = g.weight(`${prefix}.weight`, rng.normal(dim, 0.05).map((v) => 1 + v), [dim]);
    const bias = g.weight(`${prefix}.bias`, rng.normal(dim, 0.02), [dim]);
    return g.op('LayerNormalization', [x, scale, bias], { axis: -1, epsilon: { float: eps } });
  };

  /**
   * ResnetBlock2D: GroupNorm, SiLU, conv, (+ projected time embedding), GroupNorm, SiLU, conv, plus
   * the input (through a 1x1 conv_shortcut when the width changes). `temb` is SiLU(embedding) already.
   */
  const resnet = (x: string, prefix: string, cin: number, cout: number, groups: number, eps: number, temb?: { x: string; dim: number }) => {
    let h = conv(silu(norm(x, `${prefix}.norm1`, cin, groups, eps)), `${prefix}.conv1`, cin, cout, 3);
    if (temb) h = g.op('Add', [h, g.op('Unsqueeze', [linear(temb.x, `${prefix}.time_emb_proj`, temb.dim, cout), g.i64([2, 3])])]);
    h = conv(silu(norm(h, `${prefix}.norm2`, cout, groups, eps)), `${prefix}.conv2`, cout, cout, 3, { gain: 0.5 });
    const shortcut = cin === cout ? x : conv(x, `${prefix}.conv_shortcut`, cin, cout, 1);
    return g.op('Add', [shortcut, h]);
  };

  /** [B, C, H, W] -> [B, H*W, C] tokens, and back to the shape of `like`. */
  const toTokens = (x: string, channels: number) => g.op('Transpose', [g.op('Reshape', [x, g.i64([0, channels, -1])])], { perm: [0, 2, 1] });
  const fromTokens = (x: string, like: string) => g.op('Reshape', [g.op('Transpose', [x], { perm: [0, 2, 1] }), g.op('Shape', [like])]);

  /** diffusers Attention on tokens: softmax(q k^T / sqrt(d)) v over `heads`, then to_out.0. */
  const attention = (x: string, context: string, prefix: string, dim: number, contextDim: number, heads: number, qkvBias: boolean) => {
    const d = dim / heads;
    const split = (t: string) => g.op('Transpose', [g.op('Reshape', [t, g.i64([0, 0, heads, d])])], { perm: [0, 2, 1, 3] });
    const q = split(linear(x, `${prefix}.to_q`, dim, dim, { bias: qkvBias }));
    const k = split(linear(context, `${prefix}.to_k`, contextDim, dim, { bias: qkvBias }));
    const v = split(linear(context, `${prefix}.to_v`, contextDim, dim, { bias: qkvBias }));
    const scores = g.op('Mul', [g.op('MatMul', [q, g.op('Transpose', [k], { perm: [0, 1, 3, 2] })]), g.f32(1 / Math.sqrt(d))]);
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { axis: -1 }), v]);
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { perm: [0, 2, 1, 3] }), g.i64([0, 0, dim])]);
    return linear(merged, `${prefix}.to_out.0`, dim, dim, { gain: 0.5 });
  };

  /** Upsample2D: nearest-neighbour 2x (or to `sizes`, a full NCHW int64 shape), then a 3x3 conv. */
  const upsample = (x: string, prefix: string, channels: number, sizes?: string) => {
    const attrs = { mode: 'nearest', coordinate_transformation_mode: 'asymmetric', nearest_mode: 'floor' };
    const up = sizes
      ? g.op('Resize', [x, '', '', sizes], attrs)
      : g.op('Resize', [x, '', g.weight(`${prefix}.scales`, Float32Array.of(1, 1, 2, 2), [4])], attrs);
    return conv(up, `${prefix}.conv`, channels, channels, 3);
  };

  return { silu, conv, linear, norm, layerNorm, resnet, toTokens, fromTokens, attention, upsample };
}

/** SD's sinusoidal timestep embedding: flip_sin_to_cos true ([cos, sin]), downscale_freq_shift 0. */
function timestepEmbedding(g: GraphBuilder, timestep: string, dim: number): string {
  const half = dim / 2;
  const freqs = Float32Array.from({ length: half }, (_, i) => Math.exp((-Math.log(10000) * i) / half));
  const args = g.op('Mul', [g.op('Unsqueeze', [timestep, g.i64([1])]), g.weight('time_proj.freqs', freqs, [half])]);
  return g.op('Concat', [g.op('Cos', [args]), g.op('Sin', [args])], { axis: -1 });
}

export function buildUNet(dims: UNetDims, seed: number): GraphDef {
  const { blockOutChannels: widths, layersPerBlock, normNumGroups: groups, normEps: eps, crossAttentionDim: ctxDim, attentionHeadDim: heads } = dims;
  if (dims.downBlockTypes.length !== widths.length || dims.upBlockTypes.length !== widths.length) throw new Error('UNet: one down and one up block type per block_out_channels entry');
  const rng = createRng(seed);
  const g = new GraphBuilder();
  const L = createLayers2d(g, rng);
  const ehs = 'encoder_hidden_states';

  /** Transformer2DModel (conv proj_in/proj_out) with one BasicTransformerBlock; residual around it. */
  const transformer = (x: string, prefix: string, channels: number) => {
    let h = L.toTokens(L.conv(L.norm(x, `${prefix}.norm`, channels, groups, 1e-6), `${prefix}.proj_in`, channels, channels, 1), channels);
    const b = `${prefix}.transformer_blocks.0`;
    const n1 = L.layerNorm(h, `${b}.norm1`, channels, 1e-5);
    h = g.op('Add', [h, L.attention(n1, n1, `${b}.attn1`, channels, channels, heads, false)]);
    h = g.op('Add', [h, L.attention(L.layerNorm(h, `${b}.norm2`, channels, 1e-5), ehs, `${b}.attn2`, channels, ctxDim, heads, false)]);
    // GEGLU feed-forward: proj to 2 x 4C, hidden * gelu(gate), back to C.
    const [hidden, gate] = g.opN('Split', [L.linear(L.layerNorm(h, `${b}.norm3`, channels, 1e-5), `${b}.ff.net.0.proj`, channels, 8 * channels)], 2, { axis: -1 }) as [string, string];
    const gelu = g.op('Mul', [g.op('Mul', [gate, g.f32(0.5)]), g.op('Add', [g.f32(1), g.op('Erf', [g.op('Div', [gate, g.f32(Math.SQRT2)])])])]);
    h = g.op('Add', [h, L.linear(g.op('Mul', [hidden, gelu]), `${b}.ff.net.2`, 4 * channels, channels, { gain: 0.5 })]);
    return g.op('Add', [x, L.conv(L.fromTokens(h, x), `${prefix}.proj_out`, channels, channels, 1, { gain: 0.5 })]);
  };

  // Time: sinusoidal embedding of width C0, then linear_1, SiLU, linear_2 to 4 x C0.
  const c0 = widths[0] as number;
  const tembDim = 4 * c0;
  const emb = L.linear(L.silu(L.linear(timestepEmbedding(g, 'timestep', c0), 'time_embedding.linear_1', c0, tembDim)), 'time_embedding.linear_2', tembDim, tembDim);
  const temb = { x: L.silu(emb), dim: tembDim };

  let x = L.conv('sample', 'conv_in', dims.inChannels, c0, 3);
  let channels = c0;
  const skips: Array<{ x: string; channels: number }> = [{ x, channels }];
  widths.forEach((width, i) => {
    const cross = (dims.downBlockTypes[i] as string).startsWith('CrossAttn');
    for (let j = 0; j < layersPerBlock; j++) {
      x = L.resnet(x, `down_blocks.${i}.resnets.${j}`, channels, width, groups, eps, temb);
      channels = width;
      if (cross) x = transformer(x, `down_blocks.${i}.attentions.${j}`, width);
      skips.push({ x, channels });
    }
    if (i < widths.length - 1) {
      x = L.conv(x, `down_blocks.${i}.downsamplers.0.conv`, width, width, 3, { stride: 2 });
      skips.push({ x, channels });
    }
  });

  x = L.resnet(x, 'mid_block.resnets.0', channels, channels, groups, eps, temb);
  x = transformer(x, 'mid_block.attentions.0', channels);
  x = L.resnet(x, 'mid_block.resnets.1', channels, channels, groups, eps, temb);

  [...widths].reverse().forEach((width, i) => {
    const cross = (dims.upBlockTypes[i] as string).startsWith('CrossAttn');
    for (let j = 0; j <= layersPerBlock; j++) {
      const skip = skips.pop() as { x: string; channels: number };
      x = L.resnet(g.op('Concat', [x, skip.x], { axis: 1 }), `up_blocks.${i}.resnets.${j}`, channels + skip.channels, width, groups, eps, temb);
      channels = width;
      if (cross) x = transformer(x, `up_blocks.${i}.attentions.${j}`, width);
    }
    if (i < widths.length - 1) {
      // Upsample to the next skip's size, as diffusers' upsample_size does for odd latent sizes.
      const next = (skips[skips.length - 1] as { x: string }).x;
      const sizes = g.op('Concat', [g.op('Slice', [g.op('Shape', [x]), g.i64([0]), g.i64([2])]), g.op('Slice', [g.op('Shape', [next]), g.i64([2]), g.i64([4])])], { axis: 0 });
      x = L.upsample(x, `up_blocks.${i}.upsamplers.0`, width, sizes);
    }
  });

  x = L.silu(L.norm(x, 'conv_norm_out', channels, groups, eps));
  g.opTo('Identity', [L.conv(x, 'conv_out', channels, dims.outChannels, 3)], ['out_sample']);

  return g.graph(
    'unet',
    [
      { name: 'sample', dataType: DataType.FLOAT, shape: ['batch_size', dims.inChannels, 'height', 'width'] },
      { name: 'timestep', dataType: DataType.FLOAT, shape: ['batch_size'] },
      { name: ehs, dataType: DataType.FLOAT, shape: ['batch_size', 'sequence_length', ctxDim] },
    ],
    [{ name: 'out_sample', dataType: DataType.FLOAT, shape: ['batch_size', dims.outChannels, 'height', 'width'] }],
  );
}
