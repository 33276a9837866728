// A vocabulary entry is one category; its name may list synonyms ("car, automobile"), as ODISE's own label lists
// do. Both sides split them the same way: the first synonym names the category, all of them are matched.

/** The synonyms of one vocabulary entry, trimmed, empty ones and repeats dropped, in the order given. */
export function synonymsOf(entry: string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const s of entry.split(',')) {
    const t = s.trim();
    if (!t || seen.has(t.toLowerCase())) continue;
    seen.add(t.toLowerCase());
    out.push(t);
  }
  return out;
}
