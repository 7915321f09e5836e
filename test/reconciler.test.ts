// The Reconciler (the reconcile loop `watch` runs), without signals, timers or a dataplane:
// fake tables and fake timers. One pass at a time, triggers during a pass run one more pass,
// the next pass is scheduled from the tables' delays or a doubling retry backoff, a staged
// reload is taken at the start of the next pass only, and stop() waits for the pass under way.
import { describe, expect, it } from 'vitest';
import { InvalidOptionError, Reconciler, type PassResult, type ReconciledTable, type ReconcilerTimers } from '../src/index';
import type { ApplyReport } from '../src/index';

const report = (rescheduleAfterMs: number, inputs: readonly string[] = []): ApplyReport => ({
  rescheduleAfterMs,
  writes: inputs.map((input) => ({ input, summary: { chainsToCreate: 0, rulesToReplace: 0, rulesToAppend: 1, rulesToDelete: 0, insertsToDelete: 0, insertsToAdd: 0, chainsToDelete: 0 } })),
  deletedChains: [],
  reads: 1,
  attempts: 1,
});

class FakeTable implements ReconciledTable {
  readonly ipVersion = 4;
  applies = 0;
  invalidations: string[] = [];
  /** What the next applies do, in order; the last one repeats. */
  script: (() => Promise<ApplyReport>)[] = [async () => report(0)];
  running = 0;
  maxRunning = 0;
  lastApplyReport: ApplyReport | undefined;
  constructor(readonly name: string) {}
  async applyWithReport(): Promise<ApplyReport> {
    this.applies++;
    this.running++;
    this.maxRunning = Math.max(this.maxRunning, this.running);
    try {
      const step = this.script.length > 1 ? (this.script.shift() as () => Promise<ApplyReport>) : (this.script[0] as () => Promise<ApplyReport>);
      return await step();
    } finally {
      this.running--;
    }
  }
  invalidateDataplaneCache(reason: string): void {
    this.invalidations.push(reason);
  }
}

class FakeTimers implements ReconcilerTimers {
  pending: { fn: () => void; ms: number; id: number }[] = [];
  private next = 0;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.next;
    this.pending.push({ fn, ms, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((t) => t.id !== handle);
  }
  /** Fires the one pending timer. */
  fire(): number {
    expect(this.pending).toHaveLength(1);
    const t = this.pending.shift() as { fn: () => void; ms: number };
    t.fn();
    return t.ms;
  }
}

function deferred(): { promise: Promise<ApplyReport>; resolve: (r: ApplyReport) => void } {
  let resolve: (r: ApplyReport) => void = () => undefined;
  const promise = new Promise<ApplyReport>((r) => (resolve = r));
  return { promise, resolve };
}

function setUp(tables: FakeTable[], options: { firstRetryMs?: number; maxRetryMs?: number } = {}): { r: Reconciler; timers: FakeTimers; passes: PassResult[] } {
  const timers = new FakeTimers();
  const passes: PassResult[] = [];
  const r = new Reconciler({ tables, timers, onPass: (p) => passes.push(p), ...options });
  return { r, timers, passes };
}

describe('Reconciler', () => {
  it('applies every table once per pass, in order, and schedules the soonest delay they ask for', async () => {
    const a = new FakeTable('filter');
    const b = new FakeTable('nat');
    a.script = [async () => report(500, ['*filter\n-A x\nCOMMIT\n'])];
    b.script = [async () => report(200)];
    const { r, timers, passes } = setUp([a, b]);
    r.trigger('start');
    await r.idle();
    expect([a.applies, b.applies]).toEqual([1, 1]);
    expect(passes).toHaveLength(1);
    expect(passes[0]).toMatchObject({ trigger: 'start', reason: 'start', ok: true, first: true, desiredStateChanged: false, nextPassMs: 200 });
    expect(passes[0]?.tables.map((t) => [t.table.name, t.report?.writes.length])).toEqual([['filter', 1], ['nat', 0]]);
    expect(timers.fire()).toBe(200);
    await r.idle();
    expect(passes[1]).toMatchObject({ trigger: 're-read', first: false });
  });

  it('schedules nothing when no table asks to be called again', async () => {
    const { r, timers, passes } = setUp([new FakeTable('filter')]);
    r.trigger('start');
    await r.idle();
    expect(passes[0]?.nextPassMs).toBeUndefined();
    expect(timers.pending).toEqual([]);
  });

  it('never overlaps passes: triggers during a pass run exactly one more pass after it', async () => {
    const t = new FakeTable('filter');
    const gate = deferred();
    t.script = [() => gate.promise, async () => report(0)];
    const { r, passes } = setUp([t]);
    r.trigger('start');
    r.trigger('file change');
    r.trigger('SIGHUP');
    expect(t.applies).toBe(1);
    gate.resolve(report(0));
    await r.idle();
    expect(t.applies).toBe(2);
    expect(t.maxRunning).toBe(1);
    expect(passes.map((p) => p.trigger)).toEqual(['start', 'file change']);
  });

  it('after a failure: the error per table, what landed before it, and a doubling retry capped at the maximum', async () => {
    const t = new FakeTable('filter');
    const boom = new Error('restore failed');
    t.lastApplyReport = report(0, ['*filter\n-A landed\nCOMMIT\n']);
    t.script = [
      async () => {
        throw boom;
      },
    ];
    const { r, timers, passes } = setUp([t], { firstRetryMs: 100, maxRetryMs: 350 });
    r.trigger('start');
    await r.idle();
    expect(passes[0]).toMatchObject({ ok: false, first: true, nextPassMs: 100 });
    expect(passes[0]?.tables[0]).toMatchObject({ error: boom, report: t.lastApplyReport });
    const delays = [];
    for (let i = 0; i < 3; i++) {
      delays.push(timers.fire());
      await r.idle();
    }
    expect(delays).toEqual([100, 200, 350]);
    expect(timers.pending.map((p) => p.ms)).toEqual([350]);
    expect(passes.every((p) => p.first)).toBe(true); // none has succeeded yet
    // A success resets the backoff and ends the "first" passes.
    t.script = [async () => report(0)];
    timers.fire();
    await r.idle();
    expect(passes[passes.length - 1]).toMatchObject({ ok: true, first: true, trigger: 'retry' });
    t.script = [
      async () => {
        throw boom;
      },
    ];
    r.trigger('again');
    await r.idle();
    expect(passes[passes.length - 1]).toMatchObject({ ok: false, first: false, nextPassMs: 100 });
  });

  it('a staged reload is taken at the start of the next pass only, with its reason, and replaces the tables', async () => {
    const old = new FakeTable('filter');
    const added = new FakeTable('nat');
    const { r, passes } = setUp([old]);
    r.trigger('start');
    await r.idle();
    let taken = 0;
    r.reload('file change', () => {
      taken++;
      return [old, added];
    });
    expect(taken).toBe(0);
    expect(r.tables.map((t) => t.name)).toEqual(['filter']);
    r.trigger('re-read');
    await r.idle();
    expect(taken).toBe(1);
    expect(passes[1]).toMatchObject({ trigger: 're-read', reason: 'file change', desiredStateChanged: true });
    expect(r.tables.map((t) => t.name)).toEqual(['filter', 'nat']);
    expect(added.applies).toBe(1);
    r.trigger('re-read');
    await r.idle();
    expect(passes[2]).toMatchObject({ reason: 're-read', desiredStateChanged: false });
  });

  it('invalidate() makes every table re-read', () => {
    const a = new FakeTable('filter');
    const b = new FakeTable('nat');
    const { r } = setUp([a, b]);
    r.invalidate('SIGHUP');
    expect([a.invalidations, b.invalidations]).toEqual([['SIGHUP'], ['SIGHUP']]);
  });

  it('stop() waits for the pass under way, then runs and schedules nothing more', async () => {
    const t = new FakeTable('filter');
    const gate = deferred();
    t.script = [() => gate.promise, async () => report(10)];
    const { r, timers } = setUp([t]);
    r.trigger('start');
    r.trigger('queued');
    let stopped = false;
    const stopping = r.stop().then(() => {
      stopped = true;
    });
    await Promise.resolve();
    expect(stopped).toBe(false);
    gate.resolve(report(10));
    await stopping;
    expect(t.applies).toBe(1);
    expect(timers.pending).toEqual([]);
    r.trigger('late');
    r.schedule('late', 5);
    expect(t.applies).toBe(1);
    expect(timers.pending).toEqual([]);
  });
});

describe('Reconciler options are validated when it is made', () => {
  it.each([
    [{ firstRetryMs: -1 }, 'firstRetryMs', -1],
    [{ firstRetryMs: Number.NaN }, 'firstRetryMs', Number.NaN],
    [{ maxRetryMs: 2 ** 31 }, 'maxRetryMs', 2 ** 31],
    [{ maxRetryMs: '60s' }, 'maxRetryMs', '60s'],
    [{ onPass: 'log' }, 'onPass', 'log'],
    [{ onPassStart: 1 }, 'onPassStart', 1],
    [{ timers: { setTimeout: () => 0 } }, 'timers', { setTimeout: () => 0 }],
    [{ tables: 5 }, 'tables', 5],
  ] as const)('%j: InvalidOptionError naming %s and the value', (options, field, value) => {
    let err: unknown;
    try {
      new Reconciler(options as never);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidOptionError);
    expect(err).toMatchObject({ option: field });
    expect(Object.is((err as InvalidOptionError).badValue, value) || typeof value === 'object').toBe(true);
    expect((err as Error).message.startsWith(`option ${field}: `)).toBe(true);
  });

  it('a table without applyWithReport is refused, naming its index', () => {
    expect(() => new Reconciler({ tables: [new FakeTable('filter'), {} as never] })).toThrow(/^option tables\[1\]: /);
  });

  it('reload() refuses a change that is not a function, naming it', () => {
    expect(() => new Reconciler().reload('edit', [new FakeTable('filter')] as never)).toThrow(InvalidOptionError);
    expect(() => new Reconciler().reload('edit', 'tables' as never)).toThrow('option change: reload() takes a function returning the tables (got "tables")');
  });

  it('good options are taken', () => {
    expect(new Reconciler({ firstRetryMs: 0, maxRetryMs: 2 ** 31 - 1, tables: new Set([new FakeTable('filter')]) }).tables).toHaveLength(1);
  });
});
