import type { Informer } from '../../src/k8s/client.ts';

type Handler = (...args: never[]) => void;

/**
 * One informer for a watch's life, as client-node's: each start lists the next of `starts`
 * (what is gone deleted, the rest added or updated, as its cache does), or fails.
 */
export class FakeInformer<T extends { metadata?: { name?: string } }> implements Informer<T> {
  readonly #handlers = new Map<string, Handler[]>();
  readonly #starts: (T[] | 'fail')[];
  readonly #listed = new Set<string>();
  starts = 0;
  constructor(starts: (T[] | 'fail')[]) {
    this.#starts = starts;
  }
  on(event: string, callback: Handler): void {
    this.#handlers.set(event, [...(this.#handlers.get(event) ?? []), callback]);
  }
  emit(event: string, ...args: unknown[]): void {
    for (const handler of this.#handlers.get(event) ?? []) (handler as (...values: unknown[]) => void)(...args);
  }
  async start(): Promise<void> {
    const list = this.#starts[this.starts++];
    if (list === 'fail') throw new Error('connection refused');
    this.emit('connect');
    const names = new Set((list ?? []).map((item) => item.metadata?.name ?? ''));
    for (const name of this.#listed) if (!names.has(name)) this.emit('delete', { metadata: { name } });
    for (const item of list ?? []) this.emit(this.#listed.has(item.metadata?.name ?? '') ? 'update' : 'add', item);
    this.#listed.clear();
    for (const name of names) this.#listed.add(name);
  }
  async stop(): Promise<void> {}
}
