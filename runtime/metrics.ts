// What the runtime reports about its work as it happens, for whoever exports metrics (the
// composition root plugs in Prometheus). Neutral: model names and numbers, no HTTP. Levels such
// as running and waiting sequences are read from the stats the runtime already keeps.
import type { ModelTask } from './config.ts';
import type { RuntimeErrorKind } from './errors.ts';

export interface GenerationOutcome {
  promptTokens: number;
  completionTokens: number;
  /** From the request to its last token. */
  seconds: number;
  /** Mean time between output tokens after the first; undefined with fewer than two. */
  secondsPerToken: number | undefined;
  /** How it ended: all choices finished, the client left, or it failed. */
  status: 'finished' | 'cancelled' | 'failed';
}

export interface RuntimeMetrics {
  modelLoaded(model: string, task: ModelTask, engine: string, seconds: number): void;
  /** A generation's first output token, this long after the request. */
  firstToken(model: string, seconds: number): void;
  generationEnded(model: string, outcome: GenerationOutcome): void;
  /** A request of any task refused or ended by the runtime (queue full, cancelled, bad input...). */
  requestFailed(model: string, task: ModelTask, kind: RuntimeErrorKind): void;
}

export const NO_METRICS: RuntimeMetrics = {
  modelLoaded: () => {},
  firstToken: () => {},
  generationEnded: () => {},
  requestFailed: () => {},
};
