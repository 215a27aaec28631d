// Step-level batching for diffusion: every running image advances one denoising step in one UNet
// run (its classifier-free-guidance pair included), whatever step it is at — the UNet takes a
// timestep per row, so a request arriving mid-way joins at the next step boundary. Images of one
// latent size run together; a request of another size waits until the running ones finish, and
// requests of the running size that came after it wait behind it (no size starves). Finished
// images are decoded by the VAE together. Cancelled requests leave before the next step.
//
// A request announces itself (announce()) before its prompt is encoded, and a step boundary with
// room for it waits until it is submitted (each announced request at most joinWaitMs over all
// steps), so requests that arrive together take their first step together and finish together:
// otherwise the first to finish its text encoding runs its first step alone and the rest join a
// step late and finish a step after it. The loop also starts a turn of the event loop after the
// first submit, so jobs submitted together start together. Nothing announced, nothing waits: a
// lone request is not delayed.
import { RuntimeError } from '../errors.ts';
import type { DiffusionNetworks, LatentShape } from '../images/networks.ts';
import type { DiffusionSchedule } from '../images/schedulers/schedule.ts';

/** One image of a request, ready to denoise. */
export interface ImageRow {
  schedule: DiffusionSchedule;
  /** The starting latents (noise, or the noised source image for edits), [4, h, w]. */
  latents: Float32Array;
  /** The prompt's hidden states [contextLength x hidden], and the negative prompt's when guidance applies. */
  context: Float32Array;
  negativeContext?: Float32Array;
  guidanceScale: number;
  /** This image's own seeded standard-normal source (ancestral schedulers draw from it). */
  noise: (n: number) => Float32Array;
  /** Inpainting: 1 where the image is repainted, on the latent grid [h, w]; elsewhere the source's latents (noised to each step) are kept. */
  inpaint?: { mask: Float32Array; source: Float32Array; sourceNoise: Float32Array };
}

export interface DiffusionJob {
  latentHeight: number;
  latentWidth: number;
  rows: ImageRow[];
  /** Pixels [3, 8h, 8w] of image `index` in about [-1, 1]. */
  onImage(index: number, pixels: Float32Array): void;
  onDone(): void;
  onError(err: unknown): void;
  signal?: AbortSignal;
}

export interface DiffusionLimits {
  /** Most images (not UNet rows: a guided image is two) denoising together. */
  maxBatchImages: number;
  /** Most requests waiting; one more is refused with queue_full at once. */
  maxQueuedRequests: number;
  /** The VAE's latent scaling factor (latents are divided by it before decoding). */
  scalingFactor: number;
  /** Longest the steps wait, in all, for one announced request that would fit to be submitted (default 250 ms). */
  joinWaitMs?: number;
}

export interface DiffusionStats {
  steps: number;
  images: number;
  /** Largest number of images advanced by one UNet run. */
  largestBatch: number;
  /** Images advanced, summed over UNet runs (over `steps`: the mean images per UNet run). */
  imageSteps: number;
  /** Step boundaries that waited for announced requests, and announced requests whose wait ran out (joinWaitMs) before they came. */
  joinWaits: number;
  joinWaitTimeouts: number;
  running: number;
  waiting: number;
  /** Requests announced and not yet submitted (their prompts being encoded). */
  announced: number;
}

interface Running {
  job: DiffusionJob;
  state: JobState;
  index: number;
  row: ImageRow;
  latents: Float32Array;
  step: number;
}

interface JobState {
  left: number;
  settled: boolean;
}

export interface DiffusionBatcher {
  submit(job: DiffusionJob): void;
  /**
   * A request of this latent size and image count is on its way (its prompt is being encoded):
   * step boundaries with room for it wait for it. Call the returned function once it is submitted
   * or has failed (more calls are no-ops).
   */
  announce(request: { latentHeight: number; latentWidth: number; images: number }): () => void;
  readonly stats: Readonly<DiffusionStats>;
}

interface Announced {
  latentHeight: number;
  latentWidth: number;
  images: number;
  /** When waiting for it stops; set when a step first waits for it. */
  deadline?: number;
}

const CHANNELS = 4;

export function createDiffusionBatcher(net: DiffusionNetworks, limits: DiffusionLimits): DiffusionBatcher {
  let waiting: Array<{ job: DiffusionJob; state: JobState }> = [];
  let running: Running[] = [];
  let looping = false;
  const announced = new Set<Announced>();
  /** Wakes a step boundary that waits for announced requests (one is submitted or gone). */
  let wake: (() => void) | undefined;
  const joinWaitMs = limits.joinWaitMs ?? 250;
  const stats: DiffusionStats = { steps: 0, images: 0, largestBatch: 0, imageSteps: 0, joinWaits: 0, joinWaitTimeouts: 0, running: 0, waiting: 0, announced: 0 };
  const sync = () => {
    stats.running = running.length;
    stats.waiting = waiting.length;
    stats.announced = announced.size;
  };
  const sameSize = (a: { latentHeight: number; latentWidth: number }, b: { latentHeight: number; latentWidth: number }) => a.latentHeight === b.latentHeight && a.latentWidth === b.latentWidth;

  const settle = (state: JobState, then: () => void) => {
    if (state.settled) return;
    state.settled = true;
    then();
  };
  const cancelled = (job: DiffusionJob) => job.signal?.aborted === true;

  function admit(): void {
    running = running.filter((r) => !r.state.settled && !cancelled(r.job));
    const size = running[0]?.job ?? waiting[0]?.job;
    if (!size) return;
    let images = running.length;
    const still: typeof waiting = [];
    let blocked = false;
    for (const entry of waiting) {
      if (entry.state.settled) continue;
      const same = sameSize(entry.job, size);
      // A job of another size holds back everything after it, so it is next once these finish.
      if (blocked || !same || images + entry.job.rows.length > limits.maxBatchImages) {
        if (!same) blocked = true;
        still.push(entry);
        continue;
      }
      images += entry.job.rows.length;
      entry.job.rows.forEach((row, index) => running.push({ job: entry.job, state: entry.state, index, row, latents: row.latents, step: 0 }));
    }
    waiting = still;
    sync();
  }

  /**
   * The announced requests the next admit() waits for: those of the size that runs next that fit
   * beside the running and admissible waiting images (in the order they were announced), unless
   * a request of another size is waiting (it would hold them back anyway) or their own wait has
   * run out (each is waited for joinWaitMs at most, over all steps).
   */
  function awaited(now: number): Announced[] {
    if (announced.size === 0) return [];
    const live = running.filter((r) => !r.state.settled && !cancelled(r.job));
    const queued = waiting.filter((e) => !e.state.settled && !cancelled(e.job));
    const size = live[0]?.job ?? queued[0]?.job;
    if (!size || queued.some((e) => !sameSize(e.job, size))) return [];
    let images = live.length + queued.reduce((n, e) => n + e.job.rows.length, 0);
    const out: Announced[] = [];
    for (const a of announced) {
      if (!sameSize(a, size) || (a.deadline !== undefined && a.deadline <= now) || images + a.images > limits.maxBatchImages) continue;
      images += a.images;
      out.push(a);
    }
    return out;
  }

  /** Waits while announced requests that would join this step are still on their way (each at most joinWaitMs). */
  async function awaitAnnounced(): Promise<void> {
    let now = performance.now();
    let pending = awaited(now);
    if (pending.length === 0) return;
    stats.joinWaits++;
    while (pending.length > 0) {
      for (const a of pending) a.deadline ??= now + joinWaitMs;
      const left = Math.min(...pending.map((a) => a.deadline as number)) - now;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, Math.max(0, left));
      });
      clearTimeout(timer);
      wake = undefined;
      now = performance.now();
      for (const a of pending) if (announced.has(a) && (a.deadline as number) <= now) stats.joinWaitTimeouts++;
      pending = awaited(now);
    }
  }

  /** One UNet run over every running image (two rows each where guidance applies), then each image's scheduler step. */
  async function step(): Promise<void> {
    const first = running[0] as Running;
    const { latentHeight: h, latentWidth: w } = first.job;
    const plane = CHANNELS * h * w;
    const entries: Array<{ image: Running; negative: boolean }> = [];
    for (const image of running) {
      if (image.row.negativeContext) entries.push({ image, negative: true });
      entries.push({ image, negative: false });
    }
    const batch = entries.length;
    const sample = new Float32Array(batch * plane);
    const context = new Float32Array(batch * net.contextLength * net.hiddenSize);
    const timesteps: number[] = [];
    const scaled = new Map<Running, Float32Array>();
    entries.forEach(({ image, negative }, i) => {
      let input = scaled.get(image);
      if (!input) scaled.set(image, (input = image.row.schedule.scaleModelInput(image.latents, image.step)));
      sample.set(input, i * plane);
      context.set(negative ? (image.row.negativeContext as Float32Array) : image.row.context, i * net.contextLength * net.hiddenSize);
      timesteps.push(image.row.schedule.timesteps[image.step] as number);
    });
    const shape: LatentShape = { batch, channels: CHANNELS, height: h, width: w };
    const predicted = await net.unet(sample, timesteps, context, shape);
    stats.steps++;
    stats.imageSteps += running.length;
    stats.largestBatch = Math.max(stats.largestBatch, running.length);
    let at = 0;
    for (const image of running) {
      let eps = predicted.subarray(at * plane, (at + 1) * plane);
      if (image.row.negativeContext) {
        const uncond = eps;
        const cond = predicted.subarray((at + 1) * plane, (at + 2) * plane);
        const g = image.row.guidanceScale;
        eps = new Float32Array(plane);
        for (let k = 0; k < plane; k++) eps[k] = (uncond[k] as number) + g * ((cond[k] as number) - (uncond[k] as number));
        at += 2;
      } else {
        eps = eps.slice();
        at += 1;
      }
      image.latents = image.row.schedule.step(eps, image.step, image.latents, image.row.noise);
      image.step++;
      const inpaint = image.row.inpaint;
      if (inpaint) image.latents = keepUnmasked(image, inpaint, h * w);
    }
  }

  /** Outside the mask the source shows through, noised to where the schedule now is. */
  function keepUnmasked(image: Running, inpaint: NonNullable<ImageRow['inpaint']>, cells: number): Float32Array {
    const { schedule } = image.row;
    const known = image.step < schedule.timesteps.length ? schedule.addNoise(inpaint.source, inpaint.sourceNoise, image.step) : inpaint.source;
    const out = new Float32Array(image.latents.length);
    for (let k = 0; k < out.length; k++) {
      const m = inpaint.mask[k % cells] as number;
      out[k] = m * (image.latents[k] as number) + (1 - m) * (known[k] as number);
    }
    return out;
  }

  /** Images that took their last step are decoded together and leave. */
  async function decodeFinished(): Promise<void> {
    const done = running.filter((r) => r.step >= r.row.schedule.timesteps.length);
    if (done.length === 0) return;
    running = running.filter((r) => r.step < r.row.schedule.timesteps.length);
    const { latentHeight: h, latentWidth: w } = (done[0] as Running).job;
    const plane = CHANNELS * h * w;
    const latents = new Float32Array(done.length * plane);
    done.forEach((r, i) => {
      for (let k = 0; k < plane; k++) latents[i * plane + k] = (r.latents[k] as number) / limits.scalingFactor;
    });
    const pixels = await net.decode(latents, { batch: done.length, channels: CHANNELS, height: h, width: w });
    const pixelPlane = pixels.length / done.length;
    done.forEach((r, i) => {
      if (r.state.settled || cancelled(r.job)) return;
      r.job.onImage(r.index, pixels.slice(i * pixelPlane, (i + 1) * pixelPlane));
      stats.images++;
      if (--r.state.left === 0) settle(r.state, () => r.job.onDone());
    });
    sync();
  }

  function failAll(err: unknown): void {
    const wrapped = err instanceof RuntimeError ? err : new RuntimeError('internal', `image generation failed: ${(err as Error).message}`, { cause: err });
    for (const r of running) settle(r.state, () => r.job.onError(wrapped));
    running = [];
    sync();
  }

  async function loop(): Promise<void> {
    if (looping) return;
    looping = true;
    try {
      // Requests read in the same turn of the event loop reach submit() or announce() first.
      await new Promise<void>((resolve) => setImmediate(resolve));
      for (;;) {
        await awaitAnnounced();
        admit();
        if (running.length === 0) break;
        try {
          await step();
          await decodeFinished();
        } catch (err) {
          failAll(err);
        }
      }
    } finally {
      looping = false;
      sync();
    }
  }

  return {
    stats,
    announce(request) {
      const entry: Announced = { latentHeight: request.latentHeight, latentWidth: request.latentWidth, images: request.images };
      announced.add(entry);
      sync();
      return () => {
        if (!announced.delete(entry)) return;
        sync();
        wake?.();
      };
    },
    submit(job) {
      if (job.signal?.aborted) throw new RuntimeError('cancelled', 'The request was cancelled by the client.');
      if (waiting.length >= limits.maxQueuedRequests) {
        throw new RuntimeError('queue_full', `The model's queue is full (${waiting.length} requests waiting); retry shortly.`, { retryAfterSeconds: 1 });
      }
      const state: JobState = { left: job.rows.length, settled: false };
      job.signal?.addEventListener(
        'abort',
        () => {
          settle(state, () => job.onError(new RuntimeError('cancelled', 'The request was cancelled by the client.')));
          waiting = waiting.filter((e) => e.state !== state);
          sync();
        },
        { once: true },
      );
      waiting.push({ job, state });
      sync();
      void loop();
    },
  };
}
