import { env, AutoTokenizer, AutoModelForCausalLM } from '@huggingface/transformers';
import { createRuntime, parseConfig } from './runtime/index.ts';
env.allowRemoteModels = false; env.localModelPath = '/tmp/';
const tok = await AutoTokenizer.from_pretrained('tllama');
const model = await AutoModelForCausalLM.from_pretrained('tllama', { dtype: 'fp32' });
const prompts = ['The capital of France is', 'Hello', 'What is the weather like today in Paris and Berlin?', 'a b c', 'quick brown fox', 'one two', 'I think', 'The sky is blue and the'];
const expected: number[][] = [];
for (const p of prompts) {
  const inp = tok(p);
  const out = await model.generate({ ...inp, max_new_tokens: 20, do_sample: false });
  const all = Array.from(out.data as BigInt64Array, Number);
  expected.push(all.slice(Number(inp.input_ids.dims[1])));
}
const rt = createRuntime(parseConfig({ models: [{ name: 'm', task: 'text-generation', path: '/tmp/tllama' }] }, '/'), { log: () => {} });
await rt.ready;
// capture token ids via logprobs tokens? use a custom: run generate and collect text; compare text decode of expected
async function run(p: string) {
  const g = rt.generate({ model: 'm', prompts: [{ text: p }], n: 1, maxTokens: 20, temperature: 0 });
  let text = ''; let reason = '';
  for await (const e of g) { if (e.type === 'delta') text += e.text; else reason = e.reason; }
  return { text, reason, tokens: g.completionTokens() };
}
const alone = [];
for (const p of prompts) alone.push(await run(p));
const batched = await Promise.all(prompts.map(run));
prompts.forEach((p, i) => {
  const exp = tok.decode(expected[i]!, { skip_special_tokens: true });
  console.log(i, alone[i]!.text === exp, batched[i]!.text === exp, alone[i]!.reason, expected[i]!.length, JSON.stringify(exp).slice(0, 60));
});
console.log(rt.generationStats('m'));
await rt.close();
