// Distinct category colours (Tableau 20 order): a new category takes the first one not in use.
export const CATEGORY_PALETTE = [
  '#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf',
  '#aec7e8', '#ffbb78', '#98df8a', '#ff9896', '#c5b0d5', '#c49c94', '#f7b6d2', '#c7c7c7', '#dbdb8d', '#9edae5',
] as const;

export function pickColor(used: Iterable<string>): string {
  const taken = new Set(Array.from(used, (c) => c.toLowerCase()));
  const free = CATEGORY_PALETTE.find((c) => !taken.has(c));
  // All taken: cycle, so colours repeat evenly.
  return free ?? CATEGORY_PALETTE[taken.size % CATEGORY_PALETTE.length]!;
}
