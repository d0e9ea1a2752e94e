// Mask painter for Load Image: paint where the sampler should repaint, saved as the image's alpha.
//
// As ComfyUI's mask editor does, the mask is uploaded to POST /upload/mask as a PNG whose alpha is
// 255 − mask (painted = transparent) with `original_ref` naming the image; the server writes the original's
// pixels with that alpha into input/clipspace/, and the node then loads that file. LoadImage reads
// mask = 1 − alpha, so painted pixels become the MASK output (what InpaintModelConditioning repaints).
import { useCallback, useEffect, useRef, useState } from 'react';
import { createPortal } from 'react-dom';
import { type ImageRef, uploadMask, viewUrl } from '../client';
import { toast } from '../runtime';
import { refreshNodeType, setWidgetValue } from '../store';
import { coverage, invertMask, maskFromAlpha, maskToAlphaImage } from './maskOps';

type Tool = 'brush' | 'eraser';
const UNDO_LIMIT = 30;

/** The input/ file a Load Image value names ("sub/name.png" or "name.png"). */
export function inputRef(value: string): ImageRef {
  const slash = value.lastIndexOf('/');
  return slash >= 0
    ? { filename: value.slice(slash + 1), subfolder: value.slice(0, slash), type: 'input' }
    : { filename: value, subfolder: '', type: 'input' };
}

interface Props {
  nodeId: string;
  classType: string;
  value: string;
  onClose: () => void;
}

export function MaskPainter({ nodeId, classType, value, onClose }: Props) {
  const view = useRef<HTMLCanvasElement>(null);
  const image = useRef<HTMLImageElement | null>(null);
  // The mask lives in an offscreen canvas: alpha 255 where painted (any colour), 0 elsewhere.
  const mask = useRef<HTMLCanvasElement>(document.createElement('canvas'));
  const undo = useRef<ImageData[]>([]);
  const last = useRef<{ x: number; y: number } | null>(null);
  const [tool, setTool] = useState<Tool>('brush');
  const [size, setSize] = useState(24);
  const [ready, setReady] = useState(false);
  const [saving, setSaving] = useState(false);
  const [covered, setCovered] = useState(0);
  const [undoDepth, setUndoDepth] = useState(0);

  const redraw = useCallback(() => {
    const canvas = view.current;
    const img = image.current;
    if (!canvas || !img) return;
    const ctx = canvas.getContext('2d')!;
    ctx.globalCompositeOperation = 'source-over';
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0);
    // Tint the painted area: draw the mask in red, half transparent, over the picture.
    const tint = document.createElement('canvas');
    tint.width = canvas.width;
    tint.height = canvas.height;
    const t = tint.getContext('2d')!;
    t.drawImage(mask.current, 0, 0);
    t.globalCompositeOperation = 'source-in';
    t.fillStyle = 'rgba(255, 40, 40, 0.55)';
    t.fillRect(0, 0, tint.width, tint.height);
    ctx.drawImage(tint, 0, 0);
    const m = mask.current.getContext('2d')!.getImageData(0, 0, mask.current.width, mask.current.height);
    setCovered(coverage(m.data));
  }, []);

  useEffect(() => {
    const img = new Image();
    img.onload = () => {
      image.current = img;
      const w = img.naturalWidth;
      const h = img.naturalHeight;
      for (const c of [view.current!, mask.current]) {
        c.width = w;
        c.height = h;
      }
      // Start from the mask the file already carries (transparent pixels are masked).
      const probe = document.createElement('canvas');
      probe.width = w;
      probe.height = h;
      const p = probe.getContext('2d')!;
      p.drawImage(img, 0, 0);
      const pixels = p.getImageData(0, 0, w, h);
      mask.current.getContext('2d')!.putImageData(new ImageData(maskFromAlpha(pixels.data), w, h), 0, 0);
      setReady(true);
      redraw();
    };
    img.onerror = () => toast('error', `Mask painter: cannot load ${value}`);
    img.src = `${viewUrl(inputRef(value))}&t=${Date.now()}`;
  }, [value, redraw]);

  const snapshot = () => {
    const m = mask.current;
    undo.current.push(m.getContext('2d')!.getImageData(0, 0, m.width, m.height));
    if (undo.current.length > UNDO_LIMIT) undo.current.shift();
    setUndoDepth(undo.current.length);
  };

  const toImage = (e: React.PointerEvent<HTMLCanvasElement>) => {
    const rect = e.currentTarget.getBoundingClientRect();
    return {
      x: ((e.clientX - rect.left) * e.currentTarget.width) / rect.width,
      y: ((e.clientY - rect.top) * e.currentTarget.height) / rect.height,
    };
  };

  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const ctx = mask.current.getContext('2d')!;
    ctx.globalCompositeOperation = tool === 'eraser' ? 'destination-out' : 'source-over';
    ctx.strokeStyle = '#fff';
    ctx.fillStyle = '#fff';
    ctx.lineWidth = size;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    ctx.arc(to.x, to.y, size / 2, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(from.x, from.y);
    ctx.lineTo(to.x, to.y);
    ctx.stroke();
    ctx.globalCompositeOperation = 'source-over';
    redraw();
  };

  const onDown = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (!ready || e.button !== 0) return;
    e.currentTarget.setPointerCapture(e.pointerId);
    snapshot();
    const p = toImage(e);
    last.current = p;
    stroke(p, p);
  };
  const onMove = (e: React.PointerEvent<HTMLCanvasElement>) => {
    if (!last.current) return;
    const p = toImage(e);
    stroke(last.current, p);
    last.current = p;
  };
  const onUp = () => {
    last.current = null;
  };

  const edit = (change: (data: ImageData) => ImageData) => {
    const m = mask.current;
    const ctx = m.getContext('2d')!;
    snapshot();
    ctx.putImageData(change(ctx.getImageData(0, 0, m.width, m.height)), 0, 0);
    redraw();
  };
  const clear = () => edit((d) => new ImageData(d.width, d.height));
  const invert = () => edit((d) => new ImageData(invertMask(d.data), d.width, d.height));
  const undoLast = () => {
    const previous = undo.current.pop();
    setUndoDepth(undo.current.length);
    if (!previous) return;
    mask.current.getContext('2d')!.putImageData(previous, 0, 0);
    redraw();
  };

  const save = async () => {
    const m = mask.current;
    const data = m.getContext('2d')!.getImageData(0, 0, m.width, m.height);
    const out = document.createElement('canvas');
    out.width = m.width;
    out.height = m.height;
    out.getContext('2d')!.putImageData(new ImageData(maskToAlphaImage(data.data), m.width, m.height), 0, 0);
    setSaving(true);
    try {
      const blob = await new Promise<Blob>((resolve, reject) =>
        out.toBlob((b) => (b ? resolve(b) : reject(new Error('cannot encode the mask'))), 'image/png'),
      );
      const ref = await uploadMask(blob, `clipspace-mask-${Date.now()}.png`, inputRef(value));
      const name = ref.subfolder ? `${ref.subfolder}/${ref.filename}` : ref.filename;
      await refreshNodeType(classType);
      setWidgetValue(nodeId, 'image', name);
      toast('info', `Mask saved as ${name}`);
      onClose();
    } catch (e) {
      toast('error', `Mask painter: ${(e as Error).message}`);
    } finally {
      setSaving(false);
    }
  };

  useEffect(() => {
    // Captured first and kept from the editor's shortcuts while the painter is open (Ctrl+Z undoes a stroke
    // here, not a graph edit; Delete must not delete the node behind the dialog).
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Tab') return;
      e.stopImmediatePropagation();
      if (e.key === 'Escape') onClose();
      else if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 'z') {
        e.preventDefault();
        undoLast();
      }
    };
    window.addEventListener('keydown', onKey, true);
    return () => window.removeEventListener('keydown', onKey, true);
  });

  return createPortal(
    <div className="mask-painter-backdrop" onPointerDown={(e) => e.target === e.currentTarget && onClose()}>
      <div
        className="mask-painter"
        role="dialog"
        aria-label="Mask painter"
        data-testid="mask-painter"
        data-ready={ready ? 'true' : 'false'}
        data-coverage={covered.toFixed(4)}
      >
        <div className="mask-toolbar">
          <button type="button" aria-pressed={tool === 'brush'} onClick={() => setTool('brush')}>
            Brush
          </button>
          <button type="button" aria-pressed={tool === 'eraser'} onClick={() => setTool('eraser')}>
            Eraser
          </button>
          <label>
            Size
            <input type="range" aria-label="brush size" min={1} max={256} value={size} onChange={(e) => setSize(Number(e.target.value))} />
            <span>{size}px</span>
          </label>
          <button type="button" onClick={clear}>
            Clear
          </button>
          <button type="button" onClick={invert}>
            Invert
          </button>
          <button type="button" onClick={undoLast} disabled={undoDepth === 0}>
            Undo
          </button>
          <span className="mask-coverage">{(covered * 100).toFixed(1)}% masked</span>
          <span className="spacer" />
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="button" className="primary" onClick={() => void save()} disabled={!ready || saving}>
            Save
          </button>
        </div>
        <canvas
          ref={view}
          className="mask-canvas"
          data-testid="mask-canvas"
          onPointerDown={onDown}
          onPointerMove={onMove}
          onPointerUp={onUp}
          onPointerCancel={onUp}
        />
      </div>
    </div>,
    document.body,
  );
}

/** The "Edit mask" button under a Load Image preview; opens the painter on the chosen file. */
export function MaskEditButton({ nodeId, classType, value }: { nodeId: string; classType: string; value: string }) {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" className="mask-edit-button nodrag" data-testid="mask-edit" onClick={() => setOpen(true)} title="paint a mask (saved as the image's alpha)">
        Edit mask
      </button>
      {open && <MaskPainter nodeId={nodeId} classType={classType} value={value} onClose={() => setOpen(false)} />}
    </>
  );
}
