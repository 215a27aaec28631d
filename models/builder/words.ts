// A small English word list: the seed vocabulary of the generated tokenizers, so that ordinary
// test sentences tokenize into whole words rather than single characters.
export const COMMON_WORDS = `the of and to in is was for on that with as by at from his it an were are which this be or have
had not but one also their its first new has two they who after more been her other all time year into can would
she when there most only over city state during may some world about these between up such out many used him three
then while made where through both later part school since known same under each film game people three before
then than so what any could no year day make like just over think take see come know get give use find tell ask work
seem feel try leave call good great long little own old right big high different small large next early young
important few public bad able hello weather lovely today sunny outside drove stadium capital france paris berlin
germany sky blue quick brown fox jumps lazy dog model server token text search query document answer question
water fire earth air light dark music house car road river tree book write read learn teach open close start stop`
  .split(/\s+/)
  .filter((w, i, all) => w && all.indexOf(w) === i);

/** Deterministic filler syllables ("ba", "bro", ...) to pad a vocabulary to the size a model needs. */
export function* syllables(): Generator<string> {
  const onsets = ['', 'b', 'c', 'd', 'f', 'g', 'h', 'j', 'k', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'z', 'br', 'ch', 'cl', 'dr', 'fl', 'gr', 'pl', 'pr', 'sh', 'st', 'th', 'tr'];
  const vowels = ['a', 'e', 'i', 'o', 'u', 'ai', 'ea', 'ee', 'io', 'oo', 'ou'];
  const codas = ['', 'n', 'r', 's', 't', 'l', 'm', 'nd', 'ng', 'st', 'ck', 'rt'];
  for (const tail of ['', ...onsets.slice(1)]) {
    for (const o of onsets) for (const v of vowels) for (const c of codas) yield `${o}${v}${c}${tail}`;
  }
}
