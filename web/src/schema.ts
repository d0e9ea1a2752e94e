// The node catalog as the editor sees it, derived from ComfyUI's `/object_info` shape.

export type WidgetKind = 'int' | 'float' | 'string' | 'boolean' | 'combo';

export interface WidgetSpec {
  kind: WidgetKind;
  default: unknown;
  min?: number;
  max?: number;
  step?: number;
  round?: number;
  options?: string[];
  multiline?: boolean;
  slider?: boolean;
  seedControl?: boolean;
  imageUpload?: boolean;
  labelOn?: string;
  labelOff?: string;
  placeholder?: string;
}

export interface InputSpec {
  name: string;
  /** Socket type; widget inputs use INT/FLOAT/STRING/BOOLEAN/COMBO so a link can replace them. */
  type: string;
  required: boolean;
  widget?: WidgetSpec;
  tooltip?: string;
}

export interface OutputSpec {
  name: string;
  type: string;
  isList: boolean;
}

export interface NodeSpec {
  name: string;
  displayName: string;
  category: string;
  description: string;
  inputs: InputSpec[];
  outputs: OutputSpec[];
  outputNode: boolean;
  deprecated: boolean;
}

export type Catalog = Record<string, NodeSpec>;

type RawInput = [unknown, Record<string, unknown>?] | [unknown];

interface RawNodeInfo {
  input?: { required?: Record<string, RawInput>; optional?: Record<string, RawInput> };
  input_order?: { required?: string[]; optional?: string[] };
  output?: unknown[];
  output_is_list?: boolean[];
  output_name?: string[];
  name?: string;
  display_name?: string;
  description?: string;
  category?: string;
  output_node?: boolean;
  deprecated?: boolean;
}

const PRIMITIVE_WIDGETS: Record<string, WidgetKind> = {
  INT: 'int',
  FLOAT: 'float',
  STRING: 'string',
  BOOLEAN: 'boolean',
};

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Interpret one `[type, options]` entry of `/object_info` as an input spec. */
export function parseInput(name: string, raw: RawInput, required: boolean): InputSpec {
  const [typeField, optsRaw] = raw;
  const opts = (optsRaw ?? {}) as Record<string, unknown>;
  const tooltip = typeof opts.tooltip === 'string' ? opts.tooltip : undefined;
  let options: string[] | undefined;
  let type: string;
  if (Array.isArray(typeField)) {
    options = typeField.map(String);
    type = 'COMBO';
  } else if (typeField === 'COMBO') {
    options = Array.isArray(opts.options) ? opts.options.map(String) : [];
    type = 'COMBO';
  } else {
    type = String(typeField);
  }
  const kind: WidgetKind | undefined = options ? 'combo' : PRIMITIVE_WIDGETS[type];
  if (!kind || opts.forceInput === true) return { name, type, required, tooltip };
  const widget: WidgetSpec = { kind, default: opts.default };
  if (kind === 'int' || kind === 'float') {
    widget.min = num(opts.min);
    widget.max = num(opts.max);
    widget.step = num(opts.step) ?? (kind === 'int' ? 1 : 0.01);
    widget.round = num(opts.round);
    widget.slider = opts.display === 'slider';
    widget.seedControl = opts.control_after_generate === true;
    if (widget.default === undefined) widget.default = widget.min !== undefined && widget.min > 0 ? widget.min : 0;
  } else if (kind === 'string') {
    widget.multiline = opts.multiline === true;
    widget.placeholder = typeof opts.placeholder === 'string' ? opts.placeholder : undefined;
    if (widget.default === undefined) widget.default = '';
  } else if (kind === 'boolean') {
    widget.labelOn = typeof opts.label_on === 'string' ? opts.label_on : undefined;
    widget.labelOff = typeof opts.label_off === 'string' ? opts.label_off : undefined;
    if (widget.default === undefined) widget.default = false;
  } else {
    widget.options = options;
    widget.imageUpload = opts.image_upload === true;
    if (widget.default === undefined || !options?.includes(String(widget.default))) widget.default = options?.[0] ?? '';
  }
  return { name, type, required, widget, tooltip };
}

function orderedKeys(section: Record<string, RawInput> | undefined, order: string[] | undefined): string[] {
  const keys = Object.keys(section ?? {});
  if (!order) return keys;
  // input_order is authoritative (widgets_values is positional); keys it misses go last.
  return [...order.filter((k) => keys.includes(k)), ...keys.filter((k) => !order.includes(k))];
}

/** Build a catalog from a `/object_info` response. */
export function parseObjectInfo(info: Record<string, unknown>): Catalog {
  const catalog: Catalog = {};
  for (const [key, value] of Object.entries(info)) {
    const raw = value as RawNodeInfo;
    if (!raw || typeof raw !== 'object') continue;
    const inputs: InputSpec[] = [];
    for (const section of ['required', 'optional'] as const) {
      const entries = raw.input?.[section];
      for (const name of orderedKeys(entries, raw.input_order?.[section])) {
        const entry = entries?.[name];
        if (Array.isArray(entry)) inputs.push(parseInput(name, entry as RawInput, section === 'required'));
      }
    }
    const outTypes = raw.output ?? [];
    const outputs: OutputSpec[] = outTypes.map((t, i) => ({
      type: Array.isArray(t) ? 'COMBO' : String(t),
      name: raw.output_name?.[i] ?? String(t),
      isList: raw.output_is_list?.[i] ?? false,
    }));
    catalog[key] = {
      name: key,
      displayName: raw.display_name || key,
      category: raw.category ?? 'sd',
      description: raw.description ?? '',
      inputs,
      outputs,
      outputNode: raw.output_node === true,
      deprecated: raw.deprecated === true,
    };
  }
  return catalog;
}

/** Default widget values of a node type, keyed by input name. */
export function defaultValues(spec: NodeSpec): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const input of spec.inputs) if (input.widget) values[input.name] = input.widget.default;
  return values;
}

/** A problem with a widget value the server would refuse, or null; shown before queueing. */
export function widgetProblem(widget: WidgetSpec, value: unknown): string | null {
  if (widget.kind === 'int' || widget.kind === 'float') {
    if (typeof value !== 'number' || !Number.isFinite(value)) return 'expected a number';
    if (widget.kind === 'int' && !Number.isInteger(value)) return 'expected a whole number';
    if (widget.min !== undefined && value < widget.min) return `below the minimum ${widget.min}`;
    if (widget.max !== undefined && value > widget.max) return `above the maximum ${widget.max}`;
  } else if (widget.kind === 'combo') {
    if (widget.options && !widget.options.includes(String(value))) return `"${String(value)}" is not available`;
  }
  return null;
}
