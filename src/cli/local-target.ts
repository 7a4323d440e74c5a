import { userInfo } from 'node:os';
import { readVolume, VolumeContentError } from '../config/kubelet-volume.ts';
import { parseConfig } from '../config/parse.ts';
import { DirectoryWriter, type ConfigWriter } from '../config/writer.ts';
import type { Clock } from '../clock.ts';
import { usersGet } from './changes.ts';
import { localSettings, readInstances, type LocalSettings } from './local-settings.ts';
import { CliError, safe, type Output } from './output.ts';

/** Local mode's directory (npm start), written with the kubelet's own swap sequence so both instances flip live. */
export class LocalTarget {
  readonly kind = 'local';
  readonly writer: ConfigWriter;
  readonly where: string;
  readonly dir: string;
  readonly #settings: LocalSettings;
  readonly #clock: Clock;
  /** Whether the directory came from --dir (else LOCAL_CONFIG_DIR or the default), to say what to check. */
  readonly #given: boolean;

  constructor(dir: string | undefined, clock: Clock, env: NodeJS.ProcessEnv = process.env) {
    try {
      this.#settings = localSettings(env);
    } catch (error) {
      throw new CliError((error as Error).message, 2);
    }
    this.dir = dir ?? this.#settings.configDir;
    this.#given = dir !== undefined;
    this.where = `directory ${this.dir}`;
    this.writer = new DirectoryWriter(this.dir);
    this.#clock = clock;
  }

  actor(): string {
    return `${userInfo().username} (npm run maintenance)`;
  }

  /** A directory's version names its payload, which tells a reader nothing: not quoted. */
  versionNote(): string {
    return '';
  }

  conflict(): CliError {
    return new CliError(`conflict: ${this.where} changed while this command ran; nothing was written. Run the command again.`, 3);
  }

  notFound(): CliError {
    const fix = this.#given
      ? 'is --dir the directory npm start uses (LOCAL_CONFIG_DIR)?'
      : 'run npm start once to create it, or pass --dir';
    return new CliError(`no config in ${this.dir} yet; ${fix}`);
  }

  async status(out: Output): Promise<void> {
    const stored = await this.writer.read();
    const config = parseConfig(stored.data);
    out.line(`config directory: ${this.dir}`);
    const refused = await readVolume(this.dir).then(
      () => null,
      (error: unknown) => (error instanceof VolumeContentError ? error.message : null),
    );
    if (refused !== null) out.line(`refused by the instances: ${safe(refused)}; the next change made here or in the panel puts it right`);
    out.line(
      config.ok
        ? `users: ${safe(usersGet(config.config, this.#clock.now()))}`
        : `the stored config is rejected (${safe(config.error)}): users get the last good state; drop the rejected keys with: repair`,
    );
    const { changedBy, changedAt, reason } = stored.audit;
    out.line(changedBy ? `last change: ${safe(changedBy)} at ${changedAt}: ${safe(reason ?? '')}` : 'last change: not recorded');
    const instances = readInstances(this.dir);
    const ports = instances ?? { userPort: this.#settings.userPort, adminPort: this.#settings.adminPort };
    if (instances === null) out.line('npm start has not recorded its instances; trying the ports of this shell (PORT, ADMIN_PORT)');
    for (const [role, port] of [
      ['user', ports.userPort],
      ['admin', ports.adminPort],
    ] as const) {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(1000) });
        out.line(`${role} instance on :${port}: /readyz ${response.status} ${safe(await response.text())}`);
      } catch {
        out.line(`${role} instance on :${port}: not running`);
      }
    }
  }
}
