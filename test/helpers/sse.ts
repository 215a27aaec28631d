// Reads a raw SSE body the way a strict client would: every data frame, comment and the [DONE] marker.
import { createParser } from 'eventsource-parser';

export interface SseCapture {
  /** Parsed JSON of every data frame before [DONE]. */
  frames: any[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  comments: string[];
  done: boolean;
  /** Event names seen (OpenAI streams use none). */
  eventNames: string[];
  raw: string;
}

export async function readSse(res: Response): Promise<SseCapture> {
  const capture: SseCapture = { frames: [], comments: [], done: false, eventNames: [], raw: '' };
  const parser = createParser({
    onEvent(event) {
      if (event.event) capture.eventNames.push(event.event);
      if (event.data === '[DONE]') capture.done = true;
      else if (capture.done) throw new Error('data after [DONE]');
      else capture.frames.push(JSON.parse(event.data));
    },
    onComment(comment) {
      capture.comments.push(comment);
    },
  });
  const decoder = new TextDecoder();
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    const text = decoder.decode(chunk, { stream: true });
    capture.raw += text;
    parser.feed(text);
  }
  return capture;
}
