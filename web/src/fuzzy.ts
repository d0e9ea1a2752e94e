// Fuzzy matching for the node search palette: every query character in order, rewarding
// contiguous runs and word starts, so "ksa" finds "KSampler" and "vae dec" finds "VAE Decode".

/** Score of `query` against `text` (higher is better), or -1 when it does not match. */
export function fuzzyScore(query: string, text: string): number {
  const q = query.toLowerCase().replace(/\s+/g, '');
  const t = text.toLowerCase();
  if (!q) return 0;
  const direct = t.indexOf(query.toLowerCase().trim());
  let score = 0;
  let ti = 0;
  let run = 0;
  for (const ch of q) {
    const found = t.indexOf(ch, ti);
    if (found < 0) return -1;
    const wordStart = found === 0 || /[\s_\-/().]/.test(t[found - 1]) || (text[found] >= 'A' && text[found] <= 'Z');
    run = found === ti ? run + 1 : 1;
    score += 1 + run * 2 + (wordStart ? 3 : 0) - Math.min(found - ti, 5) * 0.5;
    ti = found + 1;
  }
  if (direct >= 0) score += 20 + (direct === 0 ? 10 : 0);
  return score - t.length * 0.05;
}

export interface Searchable {
  name: string;
  displayName: string;
  category: string;
}

/** Rank items by the best score over display name, type name and category. */
export function fuzzySearch<T extends Searchable>(items: T[], query: string, limit = 50): T[] {
  if (!query.trim()) return [...items].sort((a, b) => a.category.localeCompare(b.category) || a.displayName.localeCompare(b.displayName)).slice(0, limit);
  const scored: { item: T; score: number }[] = [];
  for (const item of items) {
    const s = Math.max(
      fuzzyScore(query, item.displayName),
      fuzzyScore(query, item.name),
      fuzzyScore(query, `${item.category} ${item.displayName}`) - 5,
    );
    if (s >= 0) scored.push({ item, score: s });
  }
  scored.sort((a, b) => b.score - a.score || a.item.displayName.localeCompare(b.item.displayName));
  return scored.slice(0, limit).map((s) => s.item);
}
