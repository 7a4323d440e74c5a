import { Counter, type Registry } from 'prom-client';

/**
 * A counter with one label, every value of which is exported at 0 from the start: a dashboard
 * or an alert sees each series before its first event, and a rate over it is never absent.
 */
export function labelledCounter<Label extends string>(
  registry: Registry,
  { name, help, label, values }: { name: string; help: string; label: Label; values: readonly string[] },
): Counter<Label> {
  const counter = new Counter<Label>({ name, help, labelNames: [label], registers: [registry] });
  for (const value of values) counter.inc({ [label]: value } as Partial<Record<Label, string>>, 0);
  return counter;
}
