import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BACKENDS, backendOrder, orderProblems } from './registry.js';

describe('backend registry', () => {
  it('registers every backend folder, once', () => {
    const folders = readdirSync(import.meta.dirname, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name)
      .sort();
    expect([...backendOrder()].sort()).toEqual(folders);
    expect(new Set(backendOrder()).size).toBe(BACKENDS.length);
  });

  it('lists each backend after those it must come after', () => {
    expect(orderProblems()).toEqual([]);
    expect(backendOrder()).toEqual(['swarm', 'patroni', 'shards']);
    // The check itself catches a wrong order.
    expect(
      orderProblems([
        { name: 'shards', after: ['swarm'], why: '' },
        { name: 'swarm', after: [], why: '' },
      ]),
    ).toEqual(['shards must come after swarm']);
  });
});
