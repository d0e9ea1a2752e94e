// Undo/redo over whole-graph snapshots. Snapshots are immutable values, so keeping references is cheap.

export class UndoStack<T> {
  private past: T[] = [];
  private future: T[] = [];
  private lastKey: string | null = null;
  private lastTime = 0;

  constructor(
    private readonly limit = 200,
    private readonly coalesceMs = 1500,
  ) {}

  /**
   * Record `state` as the point to return to before a change. Calls with the same `key`
   * within the coalescing window (typing into one field) make a single step.
   */
  record(state: T, key: string | null = null, now: number = Date.now()): void {
    if (key !== null && key === this.lastKey && now - this.lastTime < this.coalesceMs) {
      this.lastTime = now;
      return;
    }
    this.past.push(state);
    if (this.past.length > this.limit) this.past.shift();
    this.future = [];
    this.lastKey = key;
    this.lastTime = now;
  }

  /** Step back: returns the state to restore, given the current one, or null when there is none. */
  undo(current: T): T | null {
    const prev = this.past.pop();
    if (prev === undefined) return null;
    this.future.push(current);
    this.lastKey = null;
    return prev;
  }

  redo(current: T): T | null {
    const next = this.future.pop();
    if (next === undefined) return null;
    this.past.push(current);
    this.lastKey = null;
    return next;
  }

  clear(): void {
    this.past = [];
    this.future = [];
    this.lastKey = null;
  }

  get canUndo(): boolean {
    return this.past.length > 0;
  }

  get canRedo(): boolean {
    return this.future.length > 0;
  }
}
