// Tokenize and detokenize for any model with a tokenizer (vLLM's /tokenize and /detokenize): text
// or a chat rendered by the model's own template, bounded like every other input.
import { createChatTemplate } from '../chat-template.ts';
import { RuntimeError } from '../errors.ts';
import type { ModelManifest } from '../manifest.ts';
import { MAX_CHARS_PER_TOKEN, type Tokenizer } from '../tokenizer.ts';
import type { DetokenizeRequest, TokenizeRequest, TokenizeResult } from '../types.ts';

export interface TextCodec {
  tokenize(request: TokenizeRequest): TokenizeResult;
  detokenize(request: DetokenizeRequest): string;
}

export function createTextCodec(manifest: ModelManifest, tokenizer: Tokenizer): TextCodec {
  const template = manifest.chatTemplate ? createChatTemplate(manifest.chatTemplate, manifest.tokenizerConfig) : undefined;
  // Past this many characters a text has more tokens than the model could ever read.
  const maxChars = manifest.maxLength * MAX_CHARS_PER_TOKEN;
  return {
    tokenize(request) {
      let text: string;
      if ('messages' in request.input) {
        if (!template) throw new RuntimeError('invalid_request', 'This model has no chat template; tokenize a prompt instead.', { param: 'messages' });
        text = template(request.input.messages, { addGenerationPrompt: request.addGenerationPrompt ?? true, ...(request.tools ? { tools: request.tools } : {}) });
      } else text = request.input.text;
      if (text.length > maxChars) {
        throw new RuntimeError('context_length_exceeded', `The text is ${text.length} characters, more than this model (${manifest.maxLength} tokens) could ever read.`, { param: 'prompt' });
      }
      // The chat template writes special tokens itself; plain text gets the model's own when asked.
      const addSpecial = request.addSpecialTokens ?? !('messages' in request.input);
      const ids = addSpecial ? tokenizer.encodeSingle(text, Number.MAX_SAFE_INTEGER).ids : tokenizer.encodeRaw(text);
      return { ids, maxLength: manifest.maxLength };
    },
    detokenize(request) {
      const bad = request.ids.find((id) => !Number.isInteger(id) || id < 0 || id >= tokenizer.vocabSize);
      if (bad !== undefined) throw new RuntimeError('invalid_request', `Token id ${bad} is outside the vocabulary (size ${tokenizer.vocabSize}).`, { param: 'tokens' });
      return tokenizer.decode(request.ids, { skipSpecialTokens: false });
    },
  };
}
