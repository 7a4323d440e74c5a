import { relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { Logger } from 'pino';
import { readVolume, VolumeContentError, type VolumeRead } from './kubelet-volume.ts';
import { Observers, type ConfigSource, type SourceObserver, type SourceStatus, type VolumeStatus } from './source.ts';
import { OnePassAtATime } from '../one-pass-at-a-time.ts';

/**
 * Follows a mounted ConfigMap directory. It watches the directory, never a key file:
 * the kubelet swaps `..data` and never writes a key in place, so a watch on a key
 * follows a dead inode after the first update. Every event in the directory leads to
 * one fresh read of the whole payload; reads never overlap, and a burst of events
 * collapses into at most one more read.
 */
export class VolumeSource implements ConfigSource {
  readonly name = 'volume' as const;
  readonly dir: string;
  readonly #observers = new Observers();
  readonly #log: Logger;
  #watcher: FSWatcher | null = null;
  readonly #reads = new OnePassAtATime(() => this.#readOnce());
  #state: VolumeStatus['watch'] = 'waiting';
  #warnedPlainLayout = false;
  #waitingReason: string | null = null;

  constructor(dir: string, log: Logger) {
    this.dir = dir;
    this.#log = log.child({ source: 'volume', dir });
  }

  async start(): Promise<void> {
    const watcher = watch(this.dir, {
      ignoreInitial: true,
      // Report `..data` itself instead of following it; the payload is read through it anyway.
      followSymlinks: false,
      // Unlinks are not held back to detect editors' atomic saves: every event triggers a full read.
      atomic: false,
      // Entries directly in the directory, and the keys in the payload directories: the kubelet
      // never writes a key in place, but a hand edit through a key's link does, and is followed.
      // Not `depth`, which stops watching the contents of a directory created after the watch began.
      ignored: (path) => {
        const parts = relative(this.dir, path).split(sep);
        return parts.length > 2 || (parts.length === 2 && !parts[0]!.startsWith('..'));
      },
    });
    this.#watcher = watcher;
    watcher.on('all', () => void this.refresh());
    watcher.on('error', (error) => this.#log.error({ err: error }, 'config directory watch failed'));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
    await this.refresh();
  }

  async stop(): Promise<void> {
    await this.#watcher?.close();
    this.#watcher = null;
    await this.#reads.running;
  }

  observe(observer: SourceObserver): () => void {
    return this.#observers.add(observer);
  }

  status(): SourceStatus {
    return { source: 'volume', volume: { watch: this.#state, waitingFor: this.#waitingReason } };
  }

  /** Reads the directory now; resolves once the observers have seen the newest payload. */
  refresh(): Promise<void> {
    return this.#reads.run();
  }

  async #readOnce(): Promise<void> {
    let result: VolumeRead;
    try {
      result = await readVolume(this.dir);
    } catch (error) {
      // /status is public: it names the setting, and only the log names the path.
      const reason = error instanceof VolumeContentError ? error.message : `${(error as NodeJS.ErrnoException).code ?? 'error'}`;
      this.#log.error({ err: error }, 'cannot read the config directory; keeping the last good state');
      this.#observers.emit({ type: 'problem', error: `cannot read the config directory (CONFIG_DIR): ${reason}` });
      return;
    }
    if (result.kind !== 'snapshot') {
      this.#wait(result.kind === 'missing' ? 'the directory does not exist yet' : 'the directory has no keys yet');
      return;
    }
    this.#state = 'watching';
    this.#waitingReason = null;
    if (result.layout === 'plain' && !this.#warnedPlainLayout) {
      this.#warnedPlainLayout = true;
      this.#log.warn(
        'no ..data entry: this is not a kubelet ConfigMap volume. Plain files are followed, but a ConfigMap mounted with subPath never receives updates; mount the whole directory',
      );
    }
    this.#observers.emit({ type: 'payload', data: result.data });
  }

  #wait(reason: string): void {
    const hadConfig = this.#observers.hasPayload;
    if (this.#state === 'waiting' && this.#waitingReason === reason) return;
    this.#state = 'waiting';
    this.#waitingReason = reason;
    if (hadConfig) {
      const message = `config directory (CONFIG_DIR): ${reason}; keeping the last good state`;
      this.#log.error(message);
      this.#observers.emit({ type: 'problem', error: message });
    } else {
      this.#log.warn(`waiting for config: ${reason}`);
    }
  }
}
