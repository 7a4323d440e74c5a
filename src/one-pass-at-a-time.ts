/**
 * Runs `pass` one at a time: a call while a pass runs asks for one more after it (however many
 * calls came), and resolves with that. Level-triggered loops (the volume source, the hold, the serving conditions)
 * look again at what is, so no call is lost and none runs twice at once.
 */
export class OnePassAtATime {
  readonly #pass: () => Promise<void>;
  #running: Promise<void> | null = null;
  #again = false;

  constructor(pass: () => Promise<void>) {
    this.#pass = pass;
  }

  /** The pass in progress, if any. */
  get running(): Promise<void> | null {
    return this.#running;
  }

  run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#pass();
        } while (this.#again);
      } finally {
        this.#running = null;
      }
    })();
    return this.#running;
  }

  /** One more pass after this one (a write met a newer version: look again). */
  again(): void {
    this.#again = true;
  }
}
