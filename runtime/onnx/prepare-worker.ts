// Runs one preparedModelFile in a child process (prepare.ts's preparedModelFileOffThread): the
// parsed source model and the rewrite's copies die with the process, so the server does not keep
// the rewrite's peak memory resident, and its event loop stays free meanwhile.
import { preparedModelFile, type PrepareOptions } from './prepare.ts';

export interface PrepareRequest {
  file: string;
  options: Omit<PrepareOptions, 'log'>;
}

export type PrepareMessage = { log: string } | { done: string } | { error: string };

const send = (m: PrepareMessage) => process.send?.(m);
if (!process.send) throw new Error('prepare-worker.ts must run as a child process with an IPC channel');
process.once('message', (request: PrepareRequest) => {
  preparedModelFile(request.file, { ...request.options, log: (line) => send({ log: line }) }).then(
    (done) => send({ done }),
    (err: unknown) => send({ error: err instanceof Error ? err.message : String(err) }),
  );
});
