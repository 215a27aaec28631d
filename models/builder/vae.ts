// diffusers AutoencoderKL as Optimum exports it: vae_decoder (latent_sample -> sample) and
// vae_encoder (sample -> latent_sample, the latent distribution's mean), seeded random weights.
import { DataType, type GraphDef } from './onnx.ts';
import { GraphBuilder } from './graph.ts';
import { createRng } from './random.ts';
import { createLayers2d } from './unet.ts';

export interface VaeDims {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  /** One entry per level; every level but the last halves (encoder) or doubles (decoder) the size. */
  blockOutChannels: number[];
  layersPerBlock: number;
  normNumGroups: number;
  scalingFactor: number;
  /** Image size the VAE was trained at (config only; h and w are dynamic). */
  sampleSize: number;
}

/** AutoencoderKL's norms use eps 1e-6 throughout. */
const EPS = 1e-6;

/** UNetMidBlock2D: ResNet, single-head self-attention with its own GroupNorm (residual), ResNet. */
function midBlock(g: GraphBuilder, L: ReturnType<typeof createLayers2d>, x: string, prefix: string, channels: number, groups: number): string {
  x = L.resnet(x, `${prefix}.resnets.0`, channels, channels, groups, EPS);
  const tokens = L.toTokens(L.norm(x, `${prefix}.attentions.0.group_norm`, channels, groups, EPS), channels);
  const attended = L.attention(tokens, tokens, `${prefix}.attentions.0`, channels, channels, 1, true);
  x = g.op('Add', [x, L.fromTokens(attended, x)]);
  return L.resnet(x, `${prefix}.resnets.1`, channels, channels, groups, EPS);
}

export function buildVaeDecoder(dims: VaeDims, seed: number): GraphDef {
  const { blockOutChannels: widths, normNumGroups: groups, latentChannels: latent } = dims;
  const g = new GraphBuilder();
  const L = createLayers2d(g, createRng(seed));
  const top = widths[widths.length - 1] as number;

  let x = L.conv('latent_sample', 'post_quant_conv', latent, latent, 1);
  x = L.conv(x, 'decoder.conv_in', latent, top, 3);
  x = midBlock(g, L, x, 'decoder.mid_block', top, groups);
  let channels = top;
  [...widths].reverse().forEach((width, i) => {
    for (let j = 0; j <= dims.layersPerBlock; j++) {
      x = L.resnet(x, `decoder.up_blocks.${i}.resnets.${j}`, channels, width, groups, EPS);
      channels = width;
    }
    if (i < widths.length - 1) x = L.upsample(x, `decoder.up_blocks.${i}.upsamplers.0`, width);
  });
  x = L.silu(L.norm(x, 'decoder.conv_norm_out', channels, groups, EPS));
  g.opTo('Identity', [L.conv(x, 'decoder.conv_out', channels, dims.outChannels, 3)], ['sample']);

  const scale = 2 ** (widths.length - 1);
  return g.graph(
    'vae_decoder',
    [{ name: 'latent_sample', dataType: DataType.FLOAT, shape: ['batch_size', latent, 'latent_height', 'latent_width'] }],
    [{ name: 'sample', dataType: DataType.FLOAT, shape: ['batch_size', dims.outChannels, `${scale}*latent_height`, `${scale}*latent_width`] }],
  );
}

export function buildVaeEncoder(dims: VaeDims, seed: number): GraphDef {
  const { blockOutChannels: widths, normNumGroups: groups, latentChannels: latent } = dims;
  const g = new GraphBuilder();
  const L = createLayers2d(g, createRng(seed));

  let x = L.conv('sample', 'encoder.conv_in', dims.inChannels, widths[0] as number, 3);
  let channels = widths[0] as number;
  widths.forEach((width, i) => {
    for (let j = 0; j < dims.layersPerBlock; j++) {
      x = L.resnet(x, `encoder.down_blocks.${i}.resnets.${j}`, channels, width, groups, EPS);
      channels = width;
    }
    // Downsample2D with padding 0: pad right and bottom by one, then a stride-2 3x3 conv.
    if (i < widths.length - 1) x = L.conv(x, `encoder.down_blocks.${i}.downsamplers.0.conv`, width, width, 3, { stride: 2, pads: [0, 0, 1, 1] });
  });
  x = midBlock(g, L, x, 'encoder.mid_block', channels, groups);
  x = L.silu(L.norm(x, 'encoder.conv_norm_out', channels, groups, EPS));
  // double_z: mean and log-variance channels, then quant_conv over both.
  const moments = L.conv(L.conv(x, 'encoder.conv_out', channels, 2 * latent, 3), 'quant_conv', 2 * latent, 2 * latent, 1);
  // The output is the distribution's mean (the first latent_channels), not a sample: deterministic.
  g.opTo('Slice', [moments, g.i64([0]), g.i64([latent]), g.i64([1])], ['latent_sample']);

  const scale = 2 ** (widths.length - 1);
  return g.graph(
    'vae_encoder',
    [{ name: 'sample', dataType: DataType.FLOAT, shape: ['batch_size', dims.inChannels, 'height', 'width'] }],
    [{ name: 'latent_sample', dataType: DataType.FLOAT, shape: ['batch_size', latent, `height/${scale}`, `width/${scale}`] }],
  );
}
