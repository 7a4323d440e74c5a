import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface ReadyWatch {
  /** Ready endpoints of the Service now, as its EndpointSlices last said (-1 before the first event). */
  readonly ready: number;
  /** How many changes of the ready count were seen: proof that the watch follows. */
  readonly changes: number;
  /** Milliseconds with no ready endpoint at all between `from` and now (or `to`). */
  emptyMs(from: number, to?: number): number;
  /** When the ready count first became `ready` at or after `from` (as the watch saw it); null while it has not. */
  reachedAt(ready: number, from: number): number | null;
  stop(): void;
}

/**
 * Follows a Service's EndpointSlices with `kubectl get --watch`, timestamping each change as it
 * arrives, so the time the Service had no ready endpoint can be summed precisely (a poll would
 * miss short gaps). kubectl prints each watch event as one line of JSON (its jsonpath output does
 * not follow a watch past the first event).
 */
export function watchReadyEndpoints(kubectl: string, kubeconfig: string, namespace: string, service: string): ReadyWatch {
  const child = spawn(
    kubectl,
    [
      `--kubeconfig=${kubeconfig}`,
      'get',
      'endpointslices',
      '-n',
      namespace,
      '-l',
      `kubernetes.io/service-name=${service}`,
      '--watch',
      '--output-watch-events',
      '-o',
      'json',
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const slices = new Map<string, number>();
  // [time, ready endpoints in all slices] at each change.
  const changes: [number, number][] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    if (line.trim() === '') return;
    const event = JSON.parse(line) as {
      type: string;
      object: { metadata: { name: string }; endpoints?: { conditions?: { ready?: boolean | null } }[] | null };
    };
    const name = event.object.metadata.name;
    if (event.type === 'DELETED') slices.delete(name);
    else slices.set(name, (event.object.endpoints ?? []).filter((endpoint) => endpoint.conditions?.ready !== false).length);
    const total = [...slices.values()].reduce((sum, count) => sum + count, 0);
    if (changes.at(-1)?.[1] !== total) changes.push([Date.now(), total]);
  });
  return {
    get ready() {
      return changes.at(-1)?.[1] ?? -1;
    },
    get changes() {
      return changes.length;
    },
    emptyMs(from, to = Date.now()) {
      let empty = 0;
      for (let index = 0; index < changes.length; index++) {
        const [at, ready] = changes[index]!;
        const until = Math.min(changes[index + 1]?.[0] ?? to, to);
        const since = Math.max(at, from);
        if (ready === 0 && until > since) empty += until - since;
      }
      return empty;
    },
    reachedAt(ready, from) {
      return changes.find(([at, count]) => at >= from && count === ready)?.[0] ?? null;
    },
    stop: () => child.kill(),
  };
}
