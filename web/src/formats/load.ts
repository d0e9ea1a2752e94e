// One entry point for every workflow shape the editor opens.
import type { Catalog } from '../schema';
import { apiToNative, isApiPrompt } from './api';
import { comfyUiToNative, isComfyUiWorkflow } from './comfyui';
import { NATIVE_FORMAT, type NativeWorkflow, checkWorkflow } from './native';
import { readPngText } from './png';

export type WorkflowKind = 'native' | 'comfyui-ui' | 'api';

export interface Opened {
  workflow: NativeWorkflow;
  kind: WorkflowKind;
  warnings: string[];
  /** The ComfyUI UI workflow as read, kept so the server can convert what the editor could not. */
  source?: unknown;
}

/** Recognise a parsed JSON workflow (native, ComfyUI UI or API prompt) and convert it to native. */
export function openWorkflowJson(json: unknown, catalog: Catalog): Opened {
  const j = json as Record<string, unknown>;
  if (j && typeof j === 'object' && j.format === NATIVE_FORMAT) {
    if (j.version !== 1) throw new Error(`unsupported Latent Loom workflow version ${String(j.version)} (expected 1)`);
    checkWorkflow(j as unknown as NativeWorkflow);
    return { workflow: j as unknown as NativeWorkflow, kind: 'native', warnings: [] };
  }
  if (isComfyUiWorkflow(json)) {
    const { workflow, warnings } = comfyUiToNative(json, catalog);
    return { workflow, kind: 'comfyui-ui', warnings, source: json };
  }
  // Some tools wrap the prompt: {"prompt": {...}}.
  const inner = j && typeof j === 'object' && isApiPrompt(j.prompt) ? j.prompt : json;
  if (isApiPrompt(inner)) return { workflow: apiToNative(inner), kind: 'api', warnings: [] };
  throw new Error('not a workflow: expected a Latent Loom workflow, a ComfyUI workflow or a ComfyUI API prompt');
}

/**
 * Integers in JSON text that a JavaScript number cannot hold exactly (above 2^53 - 1; ComfyUI seeds go
 * to 2^64 - 1), with the value they become once parsed.
 */
export function inexactIntegers(text: string): [string, number][] {
  const out: [string, number][] = [];
  for (const m of text.matchAll(/(?<![\d."\w-])-?\d{16,}(?![\d.eE"])/g)) {
    const parsed = Number(m[0]);
    if (!Number.isSafeInteger(parsed) && BigInt(m[0]) !== BigInt(Math.trunc(parsed))) out.push([m[0], parsed]);
  }
  return out;
}

/** Parse text as JSON and open it, with a clear error for malformed files. */
export function openWorkflowText(text: string, catalog: Catalog): Opened {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`the file is not valid JSON: ${(e as Error).message}`);
  }
  const opened = openWorkflowJson(json, catalog);
  for (const [written, parsed] of inexactIntegers(text))
    opened.warnings.push(`${written} is too large for the browser to keep exactly; it became ${BigInt(parsed)}`);
  return opened;
}

/** Open the workflow embedded in a PNG: the `workflow` chunk first, then `prompt`. */
export function openPng(buffer: ArrayBuffer, catalog: Catalog): Opened {
  const text = readPngText(buffer);
  const errors: string[] = [];
  for (const key of ['workflow', 'prompt']) {
    if (!text[key]) continue;
    try {
      return openWorkflowText(text[key], catalog);
    } catch (e) {
      errors.push(`${key}: ${(e as Error).message}`);
    }
  }
  if (errors.length) throw new Error(`the PNG's workflow could not be read (${errors.join('; ')})`);
  throw new Error('this PNG carries no workflow (no "workflow" or "prompt" text chunk)');
}
