// Queue and history: running and pending jobs (cancel), finished jobs with thumbnails (load their workflow).
import { useCallback, useEffect, useState } from 'react';
import { type HistoryEntry, type QueueState, cancelPending, fetchHistory, fetchQueue, interrupt, viewUrl } from '../client';
import { toast, useRuntime } from '../runtime';

interface Props {
  onLoad: (workflow: unknown, label: string) => void;
}

export function QueuePanel({ onLoad }: Props) {
  const [queue, setQueue] = useState<QueueState>({ queue_running: [], queue_pending: [] });
  const [history, setHistory] = useState<[string, HistoryEntry][]>([]);
  const queueRemaining = useRuntime((s) => s.queueRemaining);
  const running = useRuntime((s) => s.running);
  const refresh = useCallback(async () => {
    try {
      const [q, h] = await Promise.all([fetchQueue(), fetchHistory(30)]);
      setQueue(q);
      setHistory(Object.entries(h).reverse());
    } catch (e) {
      toast('error', (e as Error).message);
    }
  }, []);
  useEffect(() => {
    void refresh();
  }, [refresh, queueRemaining, running]);

  const loadEntry = (id: string, entry: HistoryEntry) => {
    const extra = entry.prompt?.[3] as { extra_pnginfo?: { workflow?: unknown } } | undefined;
    const wf = extra?.extra_pnginfo?.workflow ?? entry.prompt?.[2];
    if (wf) onLoad(wf, `job ${id.slice(0, 8)}`);
    else toast('error', 'this job has no workflow to load');
  };

  return (
    <aside className="queue-panel" data-testid="queue-panel">
      <h3>
        Queue <button onClick={() => void refresh()}>↻</button>
      </h3>
      {queue.queue_running.map((item) => (
        <div className="job running" key={item[1]}>
          <span>▶ running {item[1].slice(0, 8)}</span>
          <button onClick={() => void interrupt(item[1]).then(refresh)}>Cancel</button>
        </div>
      ))}
      {queue.queue_pending.map((item) => (
        <div className="job pending" key={item[1]}>
          <span>… pending {item[1].slice(0, 8)}</span>
          <button onClick={() => void cancelPending(item[1]).then(refresh)}>Cancel</button>
        </div>
      ))}
      {!queue.queue_running.length && !queue.queue_pending.length && <p className="muted">Nothing queued.</p>}
      <h3>History</h3>
      {history.map(([id, entry]) => {
        const images = Object.values(entry.outputs ?? {}).flatMap((o) => o.images ?? []);
        const status = entry.status?.status_str ?? (entry.status?.completed ? 'success' : '');
        return (
          <div className={`job done ${status}`} key={id} data-testid="history-entry">
            <div className="thumbs">
              {images.slice(0, 4).map((img) => (
                <img key={`${img.subfolder}/${img.filename}`} src={viewUrl(img)} alt={img.filename} />
              ))}
            </div>
            <div className="job-meta">
              <span title={id}>{id.slice(0, 8)}</span> <span className="status">{status}</span>
              <button onClick={() => loadEntry(id, entry)}>Load</button>
            </div>
          </div>
        );
      })}
    </aside>
  );
}
