// The CLI's logger: what each level lets through, and that it says so, so the library skips the
// work of a debug field nobody prints (a 100k-rule apply's restore input is 14 MB to join).
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { CliLogger } from '../src/cli/output';
import { AcceptAction, NO_OP_LOCK, Table } from '../src/index';
import { FakeIptables } from '../src/testing';

function logger(level: 'debug' | 'info' | 'warn' | 'error', json = false): { log: CliLogger; text: () => string } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (b: Buffer) => (text += b.toString('utf8')));
  return { log: new CliLogger(out, level, json), text: () => text };
}

describe('CliLogger', () => {
  it('isLevelEnabled answers for its level and those above', () => {
    const { log } = logger('warn');
    expect(['debug', 'info', 'warn', 'error'].map((l) => log.isLevelEnabled(l))).toEqual([false, false, true, true]);
    expect(logger('debug').log.isLevelEnabled('debug')).toBe(true);
  });

  it('writes only what its level lets through', async () => {
    const { log, text } = logger('info', true);
    log.debug({ a: 1 }, 'hidden');
    log.info({ b: 2 }, 'shown');
    await new Promise((r) => setImmediate(r));
    const lines = text().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; level: string });
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['info', 'shown']]);
  });

  it.each([
    ['warn', 0],
    ['debug', 1],
  ] as const)('a Table logging at %s gives the debug line with the restore input %i times', async (level, times) => {
    const { log } = logger(level);
    let withInput = 0;
    const debug = log.debug.bind(log);
    log.debug = (fields: object, message?: string) => {
      if ('input' in fields) withInput++;
      debug(fields, message);
    };
    const fake = new FakeIptables();
    const table = new Table('filter', 4, 'ipts:', NO_OP_LOCK, { backend: 'legacy', commandFactory: fake.commandFactory, logger: log });
    table.updateChain({ name: 'ipts-a', rules: [{ action: new AcceptAction() }] });
    await table.apply();
    expect(fake.ruleIds('ipts-a', 'ipts:')).toHaveLength(1);
    expect(withInput).toBe(times);
  });
});
