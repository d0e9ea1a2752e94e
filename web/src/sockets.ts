// Socket type rules and colours.
import socketTypes from './socketTypes.json';

// The vocabulary's colours, written by `python -m graph.sockets > web/src/socketTypes.json` (a test keeps it in sync).
const TYPE_COLORS: Record<string, string> = Object.fromEntries(
  Object.entries(socketTypes).map(([name, entry]) => [name, entry.color]),
);

/** The colour used for sockets and links of a type; unknown types get a stable hashed hue. */
export function typeColor(type: string | undefined): string {
  if (!type) return TYPE_COLORS['*'];
  const known = TYPE_COLORS[type];
  if (known) return known;
  let hash = 0;
  for (const ch of type) hash = (hash * 31 + ch.charCodeAt(0)) | 0;
  return `hsl(${Math.abs(hash) % 360} 55% 62%)`;
}

function parts(type: string): string[] {
  return type.split(',').map((t) => t.trim()).filter(Boolean);
}

/** Whether an output of type `from` may feed an input of type `to` (wildcard `*`, comma unions). */
export function typesCompatible(from: string | undefined, to: string | undefined): boolean {
  if (!from || !to) return false;
  if (from === '*' || to === '*') return true;
  if (from === to) return true;
  const a = parts(from);
  const b = parts(to);
  return a.some((t) => b.includes(t));
}

export interface LinkEnds {
  source: string;
  target: string;
  sourceType: string | undefined;
  targetType: string | undefined;
}

/** Why a link is refused, or null when it is allowed. */
export function linkProblem(link: LinkEnds, createsCycle: boolean): string | null {
  if (link.source === link.target) return 'a node cannot link to itself';
  if (!typesCompatible(link.sourceType, link.targetType))
    return `type mismatch: ${link.sourceType ?? '?'} cannot feed ${link.targetType ?? '?'}`;
  if (createsCycle) return 'the link would create a cycle';
  return null;
}
