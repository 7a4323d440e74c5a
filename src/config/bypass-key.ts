import type { Logger } from 'pino';
import type { Clock } from '../clock.ts';
import { readKeyBytes, VolumeContentError } from './kubelet-volume.ts';
import { isErrno } from './errno.ts';

/** How often the mounted Secret is looked at; a rotated key takes effect within this (plus the kubelet's sync). */
const BYPASS_KEY_POLL_MS = 2_000;
export const BYPASS_KEY_NAME = 'key';
/** Shorter keys are refused: HMAC-SHA256 (bypass-token.ts) is only as strong as its key. */
export const BYPASS_MIN_KEY_BYTES = 32;

/** What /status shows, which anyone who reaches a pod may read: never a path; the log names the directory. */
export type BypassKeyStatus = { state: 'loaded' } | { state: 'absent' | 'invalid'; problem: string };

/**
 * The HMAC key of bypass links, from the mounted Secret `maintenance-bypass-key` (key `key`).
 * Re-read on a short poll, so rotating the Secret revokes every link without a restart.
 * Without a usable key, bypass links are simply off: they never fail open.
 */
export class BypassKey {
  #key: Buffer | null = null;
  #status: BypassKeyStatus;
  #timer: (() => void) | null = null;
  #reading: Promise<void> | null = null;

  readonly dir: string;
  readonly #clock: Clock;
  readonly #log: Logger;

  constructor(dir: string, clock: Clock, log: Logger) {
    this.dir = dir;
    this.#clock = clock;
    this.#log = log;
    this.#status = { state: 'absent', problem: 'no key read yet' };
  }

  get current(): Buffer | null {
    return this.#key;
  }

  get status(): BypassKeyStatus {
    return this.#status;
  }

  async start(): Promise<void> {
    await this.refresh();
    const tick = () => {
      this.#timer = this.#clock.setTimer(() => void this.refresh().finally(tick), BYPASS_KEY_POLL_MS);
    };
    tick();
  }

  stop(): void {
    this.#timer?.();
    this.#timer = null;
  }

  refresh(): Promise<void> {
    this.#reading ??= this.#read().finally(() => (this.#reading = null));
    return this.#reading;
  }

  async #read(): Promise<void> {
    let next: { key: Buffer | null; status: BypassKeyStatus };
    try {
      // The Secret's bytes, never decoded as text, less ASCII whitespace at either end (a key
      // written with `echo` ends in a newline): the plugin signs with exactly these bytes.
      const raw = await readKeyBytes(this.dir, BYPASS_KEY_NAME).catch((error: unknown) => {
        if (isErrno(error, 'ENOENT') || isErrno(error, 'ENOTDIR')) return null;
        throw error;
      });
      const key = raw === null ? null : trimAsciiWhitespace(raw);
      if (key === null) {
        next = {
          key: null,
          status: { state: 'absent', problem: `no key "${BYPASS_KEY_NAME}" in the bypass key Secret: bypass links are off` },
        };
      } else {
        next =
          key.length >= BYPASS_MIN_KEY_BYTES
            ? { key, status: { state: 'loaded' } }
            : {
                key: null,
                status: {
                  state: 'invalid',
                  problem: `the bypass key has ${key.length} bytes, fewer than ${BYPASS_MIN_KEY_BYTES}: bypass links are off`,
                },
              };
      }
    } catch (error) {
      // The error's message names the file: the log has it, /status (which anyone may read) only its code.
      const why = error instanceof VolumeContentError ? error.message : ((error as NodeJS.ErrnoException).code ?? 'error');
      next = { key: null, status: { state: 'invalid', problem: `cannot read the bypass key (${why}): bypass links are off` } };
      this.#log.warn({ dir: this.dir, err: error }, 'cannot read the bypass key');
    }
    const changed = next.status.state !== this.#status.state || (next.key !== null && this.#key !== null && !next.key.equals(this.#key));
    this.#key = next.key;
    this.#status = next.status;
    if (!changed) return;
    if (next.status.state === 'loaded')
      this.#log.info({ dir: this.dir }, 'bypass key loaded; links signed with any earlier key no longer work');
    else this.#log.warn({ dir: this.dir, problem: next.status.problem }, 'bypass key unavailable');
  }
}

const ASCII_WHITESPACE = new Set([0x09, 0x0a, 0x0d, 0x20]);

/** Tab, LF, CR and space off both ends, byte by byte; a BOM, NBSP or VT is part of the key. */
export function trimAsciiWhitespace(bytes: Buffer): Buffer {
  let start = 0;
  let end = bytes.length;
  while (start < end && ASCII_WHITESPACE.has(bytes[start]!)) start++;
  while (end > start && ASCII_WHITESPACE.has(bytes[end - 1]!)) end--;
  return bytes.subarray(start, end);
}
