import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { WatchedObjects } from '../../src/k8s/watched-objects.ts';
import { FakeClock } from '../helpers/fake-clock.ts';
import { FakeInformer } from '../helpers/fake-informer.ts';

type Thing = { metadata?: { name?: string }; size: number };
const thing = (name: string, size: number): Thing => ({ metadata: { name }, size });

describe('WatchedObjects', () => {
  it('keeps each object by name as its view reads it, and tells its listeners only once the first list is whole', async () => {
    const informer = new FakeInformer<Thing>([[thing('a', 1), thing('b', 2)], [thing('b', 3)]]);
    const clock = new FakeClock(0);
    const watched = new WatchedObjects<Thing, string>(
      { what: 'things', informer, clock, random: () => 0.5 },
      (object) => `${object.metadata?.name}=${object.size}`,
      pino({ level: 'silent' }),
    );
    const seen: string[][] = [];
    watched.onChange(() => seen.push([...watched.objects]));
    expect(watched.synced).toBe(false);
    await watched.start();
    // The two adds of the first list are one piece of news, after the list.
    expect(seen).toEqual([['a=1', 'b=2']]);
    expect(watched.synced).toBe(true);

    informer.emit('update', thing('a', 5));
    informer.emit('delete', thing('b', 2));
    expect(seen.slice(1)).toEqual([['a=5', 'b=2'], ['a=5']]);

    // A restart relists: what is gone is deleted, and a changed object is read again.
    informer.emit('error', new Error('watch closed: 500'));
    expect(watched.status).toMatchObject({ connection: 'backing_off', lastError: 'watch closed: 500' });
    clock.advanceTo(1000);
    await new Promise((resolve) => setImmediate(resolve));
    expect(watched.objects).toEqual(['b=3']);
    await watched.stop();
  });
});
