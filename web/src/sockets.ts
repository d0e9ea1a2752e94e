// Socket type rules and colours.

const TYPE_COLORS: Record<string, string> = {
  MODEL: '#b39ddb',
  CLIP: '#ffd54f',
  VAE: '#ef5350',
  CONDITIONING: '#ffa726',
  LATENT: '#f06292',
  IMAGE: '#64b5f6',
  MASK: '#81c784',
  CONTROL_NET: '#4db6ac',
  INT: '#9ccc65',
  FLOAT: '#aed581',
  STRING: '#90a4ae',
  BOOLEAN: '#7986cb',
  COMBO: '#a1887f',
  '*': '#cfd8dc',
};

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
