// Byte-pair merging exactly as openai/CLIP SimpleTokenizer.bpe: the word's last symbol carries '</w>',
// the lowest-ranked adjacent pair is merged everywhere (left to right) until no ranked pair remains.

export class BpeMerger {
  private readonly cache = new Map<string, string[]>();

  /** @param ranks merge rank keyed by `${first} ${second}` (symbols never contain spaces) */
  constructor(private readonly ranks: ReadonlyMap<string, number>, specials: readonly string[]) {
    for (const s of specials) this.cache.set(s, [s]);
  }

  /** Split one byte-encoded pre-token into vocabulary symbols. */
  apply(token: string): string[] {
    const cached = this.cache.get(token);
    if (cached) return cached;
    // Byte stand-ins are all BMP chars, so code units are symbols.
    let word: string[] = [...token.slice(0, -1)];
    word.push(token.slice(-1) + '</w>');
    while (word.length > 1) {
      let best: [string, string] | null = null;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = [word[i]!, word[i + 1]!];
        }
      }
      if (!best) break;
      const [first, second] = best;
      const merged: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          merged.push(first + second);
          i += 2;
        } else {
          merged.push(word[i]!);
          i += 1;
        }
      }
      word = merged;
    }
    this.cache.set(token, word);
    return word;
  }
}
