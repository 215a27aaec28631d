// What a configured model's task loads from its folder (config, tokenizer, model file; a diffusers
// pipeline's networks): the list of what a folder lacks, and which of a repo's files to pull.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import type { ModelEntry } from '../runtime/index.ts';

/**
 * The model file names the backend would look for, in the runtime's order: the configured
 * `file`, else onnx/model.onnx and model.onnx (openvino_model.xml and model.xml for OpenVINO),
 * at the top or in a numbered version folder.
 */
function modelFileMissing(dir: string, entry: Pick<ModelEntry, 'file' | 'backend'>): string[] {
  const needsBin = (xml: string) => (xml.endsWith('.xml') && !existsSync(join(dir, xml.replace(/\.xml$/, '.bin'))) ? [xml.replace(/\.xml$/, '.bin')] : []);
  if (entry.file) return existsSync(join(dir, entry.file)) ? needsBin(entry.file) : [entry.file];
  const onnx = [join('onnx', 'model.onnx'), 'model.onnx'];
  const openvino = ['openvino_model.xml', 'model.xml'];
  const names = entry.backend === 'onnxruntime' ? onnx : entry.backend === 'openvino' ? [...openvino, ...onnx] : [...onnx, ...openvino];
  const versions = existsSync(dir) ? readdirSync(dir).filter((d) => /^\d+$/.test(d)) : [];
  for (const sub of ['', ...versions]) {
    for (const name of names) if (existsSync(join(dir, sub, name))) return needsBin(join(sub, name));
  }
  return [`model file (${names.join(' or ')})`];
}

const required = (dir: string, files: readonly string[]) => files.filter((f) => !existsSync(join(dir, f)));

/** Downloads left unfinished (`*.part`), relative to `dir`. */
function unfinished(dir: string, sub = ''): string[] {
  let names: string[];
  try {
    names = readdirSync(join(dir, sub));
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const rel = join(sub, name);
    if (name.endsWith('.part')) return [`${rel.slice(0, -'.part'.length)} (unfinished download)`];
    if (name.startsWith('.')) return []; // caches such as .ovserve-cache
    return statSync(join(dir, rel)).isDirectory() ? unfinished(dir, rel) : [];
  });
}

/** What the entry's folder lacks for its task; empty when it is complete. */
export function missingFiles(entry: Pick<ModelEntry, 'task' | 'path' | 'file' | 'backend'>): string[] {
  const dir = entry.path;
  if (!existsSync(dir)) return ['the folder itself'];
  const partial = unfinished(dir);
  switch (entry.task) {
    case 'tensor':
      return [...modelFileMissing(dir, entry), ...partial];
    case 'text-to-image': {
      const top = required(dir, ['model_index.json', join('tokenizer', 'tokenizer.json'), join('scheduler', 'scheduler_config.json')]);
      const networks = ['text_encoder', 'unet', 'vae_decoder'].flatMap((net) => [
        ...required(join(dir, net), ['config.json']).map((f) => join(net, f)),
        ...modelFileMissing(join(dir, net), { backend: entry.backend }).map((f) => (f.startsWith('model file') ? `${net}/${f}` : join(net, f))),
      ]);
      return [...top, ...networks, ...partial];
    }
    default:
      return [...required(dir, ['config.json', 'tokenizer.json']), ...modelFileMissing(dir, entry), ...partial];
  }
}

/** `path` relative to `from` when it lies below it, else as it is. */
export function displayPath(path: string, from = process.cwd()): string {
  const rel = relative(from, path);
  return rel !== '' && !rel.startsWith('..') ? rel : path;
}

/** Configs, tokenizers, templates, vocabularies, sentencepiece models: small files a task may read. */
const METADATA = /\.(json|txt|jinja|model|tiktoken)$/;

/** The model file names in the order the runtime tries them for this backend (ONNX first for auto: both engines load it). */
function modelNames(backend: ModelEntry['backend']): string[] {
  const onnx = ['onnx/model.onnx', 'model.onnx'];
  const openvino = ['openvino_model.xml', 'model.xml'];
  return backend === 'onnxruntime' ? onnx : backend === 'openvino' ? [...openvino, ...onnx] : [...onnx, ...openvino];
}

/** A model file and the files that go with it: ONNX external data, an OpenVINO IR's weights. */
function withCompanions(file: string, have: readonly string[]): string[] {
  if (file.endsWith('.xml')) return [file, ...have.filter((p) => p === file.replace(/\.xml$/, '.bin'))];
  return [file, ...have.filter((p) => p.startsWith(`${file}_data`) || p.startsWith(`${file}.data`))];
}

/** The model file a folder (`base`, '' or 'unet/') would load, from a repo listing, with its companions. */
function modelFileOf(base: string, names: readonly string[], have: readonly string[]): string[] | undefined {
  const versions = [...new Set(have.filter((p) => p.startsWith(base)).map((p) => /^(\d+)\//.exec(p.slice(base.length))?.[1]).filter((v): v is string => v !== undefined))];
  versions.sort((a, b) => Number(b) - Number(a));
  for (const dir of ['', ...versions.map((v) => `${v}/`)]) {
    for (const name of names) if (have.includes(`${base}${dir}${name}`)) return withCompanions(`${base}${dir}${name}`, have);
  }
  return undefined;
}

/**
 * Of a repo's files, those serving the entry needs: the small metadata files and the one model
 * file (per network, for a pipeline) the backend would load, not every weight format the repo
 * carries. Throws when the repo has no model file the entry could load.
 */
export function servingFiles(entry: Pick<ModelEntry, 'task' | 'file' | 'backend'>, paths: readonly string[]): string[] {
  const chosen = new Set(paths.filter((p) => METADATA.test(p)));
  const need = (base: string, names: readonly string[], what: string) => {
    const files = modelFileOf(base, names, paths);
    if (!files) throw new Error(`the repo has no ${what} (looked for ${names.map((n) => `${base}${n}`).join(', ')})`);
    for (const f of files) chosen.add(f);
  };
  if (entry.task === 'text-to-image') {
    const names = modelNames(entry.backend);
    for (const net of ['text_encoder', 'unet', 'vae_decoder']) need(`${net}/`, names, `${net} model`);
    if (paths.some((p) => p.startsWith('vae_encoder/'))) need('vae_encoder/', names, 'vae_encoder model');
  } else {
    need('', entry.file ? [entry.file] : modelNames(entry.backend), 'model file');
  }
  return paths.filter((p) => chosen.has(p));
}
