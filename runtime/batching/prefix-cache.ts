// Which prompt prefixes have their KV kept, and where. A prompt is cut into blocks of the
// session's block size; a block is known by a hash of its tokens and of every token before it (a
// chain), so equal keys mean equal prefixes. The session keeps the blocks' KV by id
// (DecoderSession.blocks); this index decides the ids, finds the longest cached prefix of a new
// prompt, and evicts least recently used blocks beyond its capacity. Pure bookkeeping, no KV.
import { createHash } from 'node:crypto';

export interface PrefixCache {
  /** Chain keys of `tokens`' full blocks (a partial last block has none). */
  keys(tokens: readonly number[]): string[];
  /** Ids of the longest run of cached blocks from the start of `keys`; they become the most recently used. */
  lookup(keys: readonly string[]): number[];
  /**
   * Records blocks `from..keys.length - 1` of a row (the ones not cached yet). Returns which to
   * save (block index and new id) and which ids the session must drop to stay within capacity.
   */
  insert(keys: readonly string[], from: number): { save: Array<{ block: number; id: number }>; drop: number[] };
  /** Blocks held. */
  readonly size: number;
}

export function createPrefixCache(blockSize: number, capacityBlocks: number): PrefixCache {
  // A Map iterates in insertion order: re-inserting on use keeps the least recently used first.
  const ids = new Map<string, number>();
  let nextId = 1;

  function touch(key: string, id: number): void {
    ids.delete(key);
    ids.set(key, id);
  }

  return {
    get size() {
      return ids.size;
    },

    keys(tokens) {
      const keys: string[] = [];
      let parent = '';
      const block = new Int32Array(blockSize);
      for (let start = 0; start + blockSize <= tokens.length; start += blockSize) {
        for (let i = 0; i < blockSize; i++) block[i] = tokens[start + i] as number;
        parent = createHash('sha256').update(parent).update(new Uint8Array(block.buffer)).digest('base64');
        keys.push(parent);
      }
      return keys;
    },

    lookup(keys) {
      const found: number[] = [];
      for (const key of keys) {
        const id = ids.get(key);
        if (id === undefined) break;
        found.push(id);
      }
      // Deepest first, so a prefix's first blocks are the most recent: eviction takes the tails
      // of chains before their heads, and no kept block is unreachable for long.
      for (let i = found.length - 1; i >= 0; i--) touch(keys[i] as string, found[i] as number);
      return found;
    },

    insert(keys, from) {
      const save: Array<{ block: number; id: number }> = [];
      for (let block = keys.length - 1; block >= from; block--) {
        const key = keys[block] as string;
        const held = ids.get(key);
        if (held !== undefined) touch(key, held);
        else {
          const id = nextId++;
          ids.set(key, id);
          save.unshift({ block, id });
        }
      }
      // Earlier blocks of the chain were just used too: they stay more recent than its tail.
      for (let block = from - 1; block >= 0; block--) {
        const held = ids.get(keys[block] as string);
        if (held !== undefined) touch(keys[block] as string, held);
      }
      const drop: number[] = [];
      const saved = new Set(save.map((s) => s.id));
      for (const [key, id] of ids) {
        if (ids.size <= capacityBlocks) break;
        ids.delete(key);
        if (saved.has(id)) save.splice(save.findIndex((s) => s.id === id), 1);
        else drop.push(id);
      }
      return { save, drop };
    },
  };
}
