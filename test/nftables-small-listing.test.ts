// A small table's listing is scanned on the main thread (a millisecond or two): the listing
// worker thread is started only by the first listing big enough to need it, so an agent with a
// small table never pays a worker's start-up and memory, and its first apply does not share the
// CPU with one booting. Its own file: the worker is per process.
import { expect, it } from 'vitest';
import { AcceptAction } from '../src/actions';
import { Match } from '../src/match';
import { Chain, Rule } from '../src/rule';
import { listingWorkerStarted } from '../src/nftables/listing-worker';
import { INLINE_LISTING_MAX_BYTES } from '../src/nftables/nft-run';
import { useNamespace } from './helpers/netns';
import { listTable, makeEngine } from './nftables-env';

const ns = useNamespace('nftsmall');

const chainOf = (name: string, count: number): Chain =>
  new Chain({ name, rules: Array.from({ length: count }, (_, i) => new Rule({ match: Match().protocol('tcp').sourceNet(`10.1.${i >> 8}.${i & 255}/32`).destPorts(1000 + i), action: new AcceptAction() })) });
const state = (chains: readonly Chain[]) => ({ chains: new Map(chains.map((c) => [c.name, c])), inserts: new Map(), appends: new Map() });

it('reads a small table without the worker, and starts it for a listing over the inline limit; both reads see the table as it is', async () => {
  const engine = makeEngine(ns);
  const small = state([chainOf('ipts-a', 20)]);
  await engine.apply(small);
  engine.invalidate();
  const again = await engine.apply(small); // a read of the existing table, nothing to write
  expect(again.writes).toEqual([]);
  expect(listingWorkerStarted()).toBe(false);

  // About 130 bytes a rule in the listing: enough rules to pass the limit.
  const big = state([chainOf('ipts-a', 20), chainOf('ipts-big', Math.ceil(INLINE_LISTING_MAX_BYTES / 100))]);
  await engine.apply(big);
  engine.invalidate();
  expect((await engine.apply(big)).writes).toEqual([]);
  expect(listingWorkerStarted()).toBe(true);
  expect((await listTable(ns, 'ip', 'ipts-filter'))?.get('ipts-big')?.rules.length).toBe(Math.ceil(INLINE_LISTING_MAX_BYTES / 100));
});
