/** Something a role runs beside its HTTP surface: a watch, a poll, a listener. */
export interface Part {
  start(): void | Promise<void>;
  stop(): void | Promise<void>;
}

/** A part made of two functions, for the pieces that have no class of their own. */
export function part(start: () => void | Promise<void>, stop: () => void | Promise<void> = () => {}): Part {
  return { start, stop };
}

/**
 * A part that subscribes when it starts (each subscription returns what undoes it) and undoes
 * every one when it stops, then runs `stop`.
 */
export function subscriptions(
  subscribe: () => readonly (() => void)[] | Promise<readonly (() => void)[]>,
  stop: () => void | Promise<void> = () => {},
): Part {
  return new Subscriptions(subscribe, stop);
}

class Subscriptions implements Part {
  readonly #subscribe: () => readonly (() => void)[] | Promise<readonly (() => void)[]>;
  readonly #stop: () => void | Promise<void>;
  #undo: readonly (() => void)[] = [];

  constructor(subscribe: () => readonly (() => void)[] | Promise<readonly (() => void)[]>, stop: () => void | Promise<void>) {
    this.#subscribe = subscribe;
    this.#stop = stop;
  }

  async start(): Promise<void> {
    this.#undo = await this.#subscribe();
  }

  async stop(): Promise<void> {
    for (const done of this.#undo) done();
    this.#undo = [];
    await this.#stop();
  }
}

/** A part with nothing to start, only something to close when the role stops. */
export function onStop(stop: () => void | Promise<void>): Part {
  return part(() => {}, stop);
}

/**
 * Parts started in order and stopped in reverse, so nothing is stopped before what depends
 * on it, and no hand-kept list of stops can drift from the starts. A part that fails to
 * start stops every part started before it, and the error is passed on.
 */
export class Parts {
  readonly #parts: readonly Part[];
  #started: Part[] = [];

  constructor(parts: readonly Part[]) {
    this.#parts = parts;
  }

  async start(): Promise<void> {
    for (const next of this.#parts) {
      try {
        await next.start();
      } catch (error) {
        await this.stop();
        throw error;
      }
      this.#started.push(next);
    }
  }

  async stop(): Promise<void> {
    const started = this.#started;
    this.#started = [];
    for (const done of started.reverse()) await done.stop();
  }
}
