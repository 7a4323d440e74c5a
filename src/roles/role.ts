import type { Surface } from '../http/app.ts';
import type { Listener } from '../http/listener.ts';
import type { Core } from './core.ts';
import type { Part } from './parts.ts';

/** What a role runs on top of the core. */
export interface RoleWiring {
  /** Started after the core's parts, in this order, and stopped in reverse. */
  parts: Part[];
  /** The ports it serves besides PORT and PROBE_PORT. */
  listeners?: Listener[];
  surface: Surface;
}

export type RoleSetup = (core: Core) => Promise<RoleWiring>;
