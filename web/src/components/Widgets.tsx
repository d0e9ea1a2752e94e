// Widget controls for node inputs: number (with optional slider), seed, combo, text, toggle, image upload.
import { memo, useEffect, useState } from 'react';
import { uploadImage, viewUrl } from '../client';
import type { SeedControl } from '../graph';
import { toast } from '../runtime';
import type { InputSpec } from '../schema';
import { widgetProblem } from '../schema';
import { refreshNodeType, setSeedControl, setWidgetValue, useGraph } from '../store';

const CONTROLS: SeedControl[] = ['fixed', 'increment', 'decrement', 'randomize'];

interface Props {
  nodeId: string;
  input: InputSpec;
  value: unknown;
  control?: SeedControl;
}

function roundTo(v: number, step: number | undefined, round: number | undefined): number {
  const r = round ?? (step && step < 1 ? step : undefined);
  if (!r) return v;
  const digits = Math.max(0, Math.ceil(-Math.log10(r)));
  return Number(v.toFixed(Math.min(digits, 10)));
}

function NumberWidget({ nodeId, input, value, control }: Props) {
  const w = input.widget!;
  const [text, setText] = useState(String(value ?? ''));
  useEffect(() => setText(String(value ?? '')), [value]);
  const commit = (raw: string) => {
    setText(raw);
    const v = Number(raw);
    if (raw.trim() !== '' && Number.isFinite(v)) setWidgetValue(nodeId, input.name, w.kind === 'int' ? v : roundTo(v, w.step, w.round));
  };
  return (
    <span className="widget-number">
      {w.slider && (
        <input
          type="range"
          className="nodrag"
          min={w.min}
          max={w.max}
          step={w.step}
          value={Number(value) || 0}
          onChange={(e) => commit(e.target.value)}
        />
      )}
      <input
        type="number"
        className="nodrag"
        aria-label={input.name}
        min={w.min}
        max={w.max}
        step={w.step}
        value={text}
        onChange={(e) => commit(e.target.value)}
        onBlur={() => setText(String(value ?? ''))}
      />
      {w.seedControl && (
        <select
          className="nodrag seed-control"
          title="control after generate"
          aria-label={`${input.name} control`}
          value={control ?? 'randomize'}
          onChange={(e) => setSeedControl(nodeId, input.name, e.target.value as SeedControl)}
        >
          {CONTROLS.map((c) => (
            <option key={c}>{c}</option>
          ))}
        </select>
      )}
    </span>
  );
}

function ComboWidget({ nodeId, input, value }: Props) {
  const w = input.widget!;
  const [extra, setExtra] = useState<string[]>([]);
  const options = [...(w.options ?? []), ...extra.filter((e) => !w.options?.includes(e))];
  const current = String(value ?? '');
  if (current && !options.includes(current)) options.push(current);
  const onUpload = async (file: File | undefined) => {
    if (!file) return;
    try {
      const ref = await uploadImage(file);
      const name = ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename;
      setExtra((x) => [...x, name]);
      const node = useGraph.getState().nodes.find((n) => n.id === nodeId);
      const classType = (node?.data as { classType?: string } | undefined)?.classType;
      if (classType) await refreshNodeType(classType);
      setWidgetValue(nodeId, input.name, name);
    } catch (e) {
      toast('error', (e as Error).message);
    }
  };
  return (
    <span className="widget-combo">
      <select className="nodrag nowheel" aria-label={input.name} value={current} onChange={(e) => setWidgetValue(nodeId, input.name, e.target.value)}>
        {options.map((o) => (
          <option key={o} value={o}>
            {o}
          </option>
        ))}
      </select>
      {w.imageUpload && (
        <label className="upload-button nodrag" title="upload an image">
          ⬆
          <input type="file" accept="image/*" hidden onChange={(e) => void onUpload(e.target.files?.[0])} />
        </label>
      )}
    </span>
  );
}

function TextWidget({ nodeId, input, value }: Props) {
  const w = input.widget!;
  const v = String(value ?? '');
  return w.multiline ? (
    <textarea
      className="nodrag nowheel"
      aria-label={input.name}
      placeholder={w.placeholder ?? input.name}
      value={v}
      rows={3}
      onChange={(e) => setWidgetValue(nodeId, input.name, e.target.value)}
    />
  ) : (
    <input
      type="text"
      className="nodrag"
      aria-label={input.name}
      placeholder={w.placeholder}
      value={v}
      onChange={(e) => setWidgetValue(nodeId, input.name, e.target.value)}
    />
  );
}

function BooleanWidget({ nodeId, input, value }: Props) {
  const w = input.widget!;
  const on = value === true;
  return (
    <label className="widget-toggle nodrag">
      <input type="checkbox" aria-label={input.name} checked={on} onChange={(e) => setWidgetValue(nodeId, input.name, e.target.checked)} />
      <span>{on ? (w.labelOn ?? 'true') : (w.labelOff ?? 'false')}</span>
    </label>
  );
}

/** The control for one widget input, with an inline warning for values the server would refuse. */
export const Widget = memo(function Widget(props: Props) {
  const w = props.input.widget!;
  const problem = widgetProblem(w, props.value);
  let control;
  if (w.kind === 'int' || w.kind === 'float') control = <NumberWidget {...props} />;
  else if (w.kind === 'combo') control = <ComboWidget {...props} />;
  else if (w.kind === 'string') control = <TextWidget {...props} />;
  else control = <BooleanWidget {...props} />;
  return (
    <span className={`widget ${problem ? 'widget-invalid' : ''}`} title={problem ?? props.input.tooltip}>
      {control}
    </span>
  );
});

export function InputImagePreview({ value }: { value: unknown }) {
  if (typeof value !== 'string' || !value) return null;
  const slash = value.lastIndexOf('/');
  const ref = slash >= 0 ? { filename: value.slice(slash + 1), subfolder: value.slice(0, slash), type: 'input' } : { filename: value, type: 'input' };
  return <img className="node-image input-preview" alt={value} src={viewUrl(ref)} onError={(e) => (e.currentTarget.style.display = 'none')} />;
}
