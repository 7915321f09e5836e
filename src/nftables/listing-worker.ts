// A big listing is parsed off the main thread: one worker thread per process, started by the
// first listing that needs it and kept (unreferenced while idle, so it never holds the process
// open). The main thread only forwards the child's output chunks; the worker decodes and scans
// them as they come and hands back the compact listing.
import type { Readable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { createListingScanner, type Listing } from './listing';

// The scanner's own source text runs in the worker (it is self-contained), so the worker needs
// no file of its own: the same code runs from src under a test runner and from dist.
const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const createListingScanner = (${createListingScanner.toString()});
const reads = new Map();
parentPort.on('message', (m) => {
  if (m.op === 'start') {
    reads.set(m.id, { scanner: createListingScanner(m.hashPrefix, m.idLength, m.withDetails), decoder: new TextDecoder(), error: undefined });
    return;
  }
  const r = reads.get(m.id);
  if (r === undefined) return;
  try {
    if (m.op === 'chunk' && r.error === undefined) r.scanner.push(r.decoder.decode(m.bytes, { stream: true }));
  } catch (e) {
    r.error = String((e && e.stack) || e);
  }
  if (m.op === 'cancel') reads.delete(m.id);
  if (m.op !== 'end') return;
  reads.delete(m.id);
  if (r.error !== undefined) return parentPort.postMessage({ id: m.id, error: r.error });
  try {
    r.scanner.push(r.decoder.decode());
    parentPort.postMessage({ id: m.id, listing: r.scanner.finish() });
  } catch (e) {
    parentPort.postMessage({ id: m.id, error: String((e && e.stack) || e) });
  }
});
`;

type Reply = { readonly id: number; readonly listing?: Listing; readonly error?: string };

interface Pending {
  readonly resolve: (listing: Listing) => void;
  readonly reject: (error: Error) => void;
}

let worker: Worker | undefined;
let nextId = 1;
const pending = new Map<number, Pending>();

function theWorker(): Worker {
  if (worker) return worker;
  const w = new Worker(WORKER_SOURCE, { eval: true });
  w.on('message', (reply: Reply) => {
    const p = pending.get(reply.id);
    if (!p) return;
    settle(reply.id);
    if (reply.listing) p.resolve(reply.listing);
    else p.reject(new Error(`nft listing scan failed: ${reply.error ?? 'no result'}`));
  });
  const fail = (error: Error): void => {
    if (worker === w) worker = undefined;
    for (const [id, p] of [...pending]) {
      settle(id);
      p.reject(error);
    }
  };
  w.on('error', fail);
  w.on('exit', (code) => fail(new Error(`nft listing worker exited with ${code}`)));
  // After the listeners: adding a 'message' listener refs the worker's port again, and an idle
  // worker must never hold the process open (an unref() before it did, after a first apply).
  w.unref();
  worker = w;
  return w;
}

/** Starts the worker now (doctor does, to check it). */
export function startListingWorker(): void {
  theWorker();
}

/** Whether this process has started the worker (for tests). */
export function listingWorkerStarted(): boolean {
  return worker !== undefined;
}

function settle(id: number): void {
  pending.delete(id);
  if (pending.size === 0) worker?.unref();
}

/** A listing being read: its result, and how to stop waiting for it. */
export interface ListingRead {
  /** The listing, once the stream has ended and the worker has scanned it all. */
  readonly result: Promise<Listing>;
  /** Drops the read (the stream is left to its owner). */
  cancel(): void;
}

/**
 * Forwards `stream` (the stdout of `nft -a list table …`) to the listing worker (`withDetails`:
 * each rule's text and counters too, for show). The result
 * rejects when the stream fails or the worker dies.
 */
export function readListing(stream: Readable, hashPrefix: string, idLength: number, withDetails = false): ListingRead {
  const w = theWorker();
  const id = nextId++;
  w.ref(); // a read under way keeps the process alive until its answer comes
  let done = false;
  const result = new Promise<Listing>((resolve, reject) => {
    pending.set(id, { resolve, reject });
  });
  w.postMessage({ op: 'start', id, hashPrefix, idLength, withDetails });
  const finish = (op: 'end' | 'cancel'): void => {
    if (done) return;
    done = true;
    stream.off('data', onData);
    w.postMessage({ op, id });
  };
  const onData = (chunk: Buffer): void => w.postMessage({ op: 'chunk', id, bytes: chunk });
  stream.on('data', onData);
  stream.once('end', () => finish('end'));
  stream.once('error', (error) => {
    finish('cancel');
    const p = pending.get(id);
    settle(id);
    p?.reject(error);
  });
  return {
    result,
    cancel: () => {
      finish('cancel');
      const p = pending.get(id);
      settle(id);
      p?.reject(new Error('nft listing read cancelled'));
    },
  };
}
