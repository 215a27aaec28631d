// How `ovserve pull` shows its progress: a cli-progress bar on a terminal, plain lines otherwise.
import { Presets, SingleBar } from 'cli-progress';
import { formatBytes, type PullProgress } from './pull.ts';

/** A bar on `stream` when it is a terminal (notes go above it), else one line per file and note. */
export function createPullProgress(stream: NodeJS.WriteStream = process.stderr, lines: (line: string) => void = console.log): PullProgress {
  return stream.isTTY ? barProgress(stream) : lineProgress(lines);
}

function lineProgress(log: (line: string) => void): PullProgress {
  let commitLine = '';
  return {
    start: ({ repo, commit, files, bytes }) => {
      commitLine = `${repo}@${commit.slice(0, 12)}`;
      log(`pulling ${commitLine}: ${files} file(s), ${formatBytes(bytes)}`);
    },
    file: (path, size, from) => log(from > 0 ? `${path} (${formatBytes(size)}): resuming at ${formatBytes(from)}` : `${path} (${formatBytes(size)})`),
    advance: () => {},
    present: (path) => log(`${path}: already in place (verified)`),
    note: (line) => log(line),
    stop: () => {},
  };
}

function barProgress(stream: NodeJS.WriteStream): PullProgress {
  const bar = new SingleBar(
    {
      stream,
      format: ' {bar} {percentage}% | {done} / {all} | {speed} | {file}',
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 8,
    },
    Presets.shades_classic,
  );
  let total = 0;
  // Bytes of the files finished or found in place, and the current file's (a retry resets them).
  let completed = 0;
  let current = { path: '', size: 0, value: 0 };
  let startedAt = Date.now();
  let fetched = 0;
  const value = () => completed + current.value;
  const payload = () => ({
    done: formatBytes(value()),
    all: formatBytes(total),
    speed: `${formatBytes(fetched / Math.max((Date.now() - startedAt) / 1000, 0.001))}/s`,
    file: current.path,
  });
  const finishCurrent = () => {
    completed += current.size;
    current = { path: '', size: 0, value: 0 };
  };
  let running = false;
  return {
    start: ({ repo, commit, bytes }) => {
      stream.write(`pulling ${repo}@${commit.slice(0, 12)}\n`);
      total = bytes;
      startedAt = Date.now();
      bar.start(Math.max(total, 1), 0, payload());
      running = true;
    },
    file: (path, size, from) => {
      if (path !== current.path) {
        finishCurrent();
        current = { path, size, value: 0 };
      }
      current.value = from;
      bar.update(value(), payload());
    },
    advance: (bytes) => {
      current.value += bytes;
      fetched += bytes;
      bar.update(value(), payload());
    },
    present: (_path, size) => {
      finishCurrent();
      completed += size;
      bar.update(value(), payload());
    },
    note: (line) => {
      if (running) bar.stop();
      stream.write(`${line}\n`);
      if (running) bar.start(Math.max(total, 1), value(), payload());
    },
    stop: () => {
      if (!running) return;
      if (current.value === current.size) finishCurrent();
      bar.update(value(), payload());
      bar.stop();
      running = false;
    },
  };
}
