// Text chunks of a PNG file: ComfyUI and Latent Loom store `prompt` and `workflow` JSON there.

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

/** Read the uncompressed tEXt and iTXt chunks of a PNG, keyword -> text. Throws on a non-PNG. */
export function readPngText(buffer: ArrayBuffer): Record<string, string> {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new Error('not a PNG file');
  const view = new DataView(buffer);
  const latin1 = new TextDecoder('latin1');
  const utf8 = new TextDecoder('utf-8');
  const out: Record<string, string> = {};
  let offset = 8;
  while (offset + 12 <= bytes.length) {
    const length = view.getUint32(offset);
    const type = latin1.decode(bytes.subarray(offset + 4, offset + 8));
    const start = offset + 8;
    const end = start + length;
    if (end + 4 > bytes.length) break;
    const data = bytes.subarray(start, end);
    if (type === 'tEXt') {
      const nul = data.indexOf(0);
      if (nul > 0) out[latin1.decode(data.subarray(0, nul))] = latin1.decode(data.subarray(nul + 1));
    } else if (type === 'iTXt') {
      const nul = data.indexOf(0);
      const compressed = data[nul + 1] === 1;
      let p = nul + 3;
      const langEnd = data.indexOf(0, p);
      const transEnd = data.indexOf(0, langEnd + 1);
      p = transEnd + 1;
      if (nul > 0 && !compressed && langEnd >= 0 && transEnd >= 0)
        out[latin1.decode(data.subarray(0, nul))] = utf8.decode(data.subarray(p));
    } else if (type === 'IEND') break;
    offset = end + 4;
  }
  return out;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return ~c >>> 0;
}

/** Build a minimal 1x1 PNG carrying the given tEXt chunks (used by tests and fixtures). */
export function pngWithText(chunks: Record<string, string>): Uint8Array {
  const parts: number[] = [...SIGNATURE];
  const push = (type: string, data: Uint8Array) => {
    const head = new Uint8Array(8);
    new DataView(head.buffer).setUint32(0, data.length);
    for (let i = 0; i < 4; i++) head[4 + i] = type.charCodeAt(i);
    const body = new Uint8Array(4 + data.length);
    body.set(head.subarray(4), 0);
    body.set(data, 4);
    const crc = new Uint8Array(4);
    new DataView(crc.buffer).setUint32(0, crc32(body));
    parts.push(...head, ...data, ...crc);
  };
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, 1);
  dv.setUint32(4, 1);
  ihdr[8] = 8;
  ihdr[9] = 0;
  push('IHDR', ihdr);
  for (const [k, v] of Object.entries(chunks)) {
    const data = new Uint8Array(k.length + 1 + v.length);
    for (let i = 0; i < k.length; i++) data[i] = k.charCodeAt(i);
    for (let i = 0; i < v.length; i++) data[k.length + 1 + i] = v.charCodeAt(i) & 0xff;
    push('tEXt', data);
  }
  // zlib stream of one filtered row: filter byte 0 + one grey pixel.
  push('IDAT', new Uint8Array([0x78, 0x01, 0x01, 0x02, 0x00, 0xfd, 0xff, 0x00, 0x80, 0x00, 0x81, 0x00, 0x81]));
  push('IEND', new Uint8Array(0));
  return new Uint8Array(parts);
}
