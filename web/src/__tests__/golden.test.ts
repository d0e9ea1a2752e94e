// Golden conversion cases shared with pytest (tests/files/test_conversion_golden.py): each file holds a ComfyUI
// UI workflow and the API prompt it must become. The editor's conversion (UI -> native -> graph -> prompt) must
// give exactly what the server's does, so the TypeScript and Python sides cannot drift apart.
import { describe, expect, it } from 'vitest';
import { toApiPrompt } from '../formats/api';
import { openWorkflowJson } from '../formats/load';
import { fromNative } from '../formats/native';
import { parseObjectInfo } from '../schema';

// Vite's import.meta.glob (tsconfig loads no ambient types, so it is declared here).
declare global {
  interface ImportMeta {
    glob<T>(pattern: string, options: { eager: true; import: 'default' }): Record<string, T>;
  }
}

interface GoldenCase {
  description: string;
  workflow: unknown;
  prompt: Record<string, { class_type: string; inputs: Record<string, unknown> }>;
}

const cases = import.meta.glob<GoldenCase>('../../../tests/fixtures/conversion/*.case.json', {
  eager: true,
  import: 'default',
});
const schema = import.meta.glob<Record<string, unknown>>('../../../tests/fixtures/conversion/object_info.json', {
  eager: true,
  import: 'default',
});
const catalog = parseObjectInfo(Object.values(schema)[0]);

const strip = (p: ReturnType<typeof toApiPrompt>) =>
  Object.fromEntries(Object.entries(p).map(([id, n]) => [id, { class_type: n.class_type, inputs: n.inputs }]));

describe('golden UI workflow -> API prompt cases (shared with pytest)', () => {
  it('finds the cases', () => {
    expect(Object.keys(cases).length).toBeGreaterThanOrEqual(6);
  });
  for (const [path, golden] of Object.entries(cases)) {
    const name = path.split('/').pop()?.replace('.case.json', '') ?? path;
    it(`${name}: ${golden.description}`, () => {
      const opened = openWorkflowJson(golden.workflow, catalog);
      expect(opened.warnings).toEqual([]);
      const graph = fromNative(opened.workflow, catalog);
      expect(strip(toApiPrompt(graph, catalog))).toEqual(golden.prompt);
    });
  }
});
