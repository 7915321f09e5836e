// A soak worker process: several Table instances (WORKERS[role]) on the shared namespace, each
// mutating its desired state at random and applying in its own loop (after each mutation and
// whenever apply() asks to be called again; refreshIntervalMs forces a re-read every second,
// so clobbers are found). On "finish" it stops mutating, converges each Table from a fresh
// read, checks the dataplane independently against the desired state, and reports.
import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { AcceptAction, Chain, DropAction, IptablesSyncError, JumpAction, Match, ReturnAction, Rule, Table, type RuleSpec } from '../src/index';
import { spawnCommand, type CommandOptions } from '../src/commands';
import type { Logger } from '../src/logger';
import { prng, saveTable, verify, WORKERS, type Backend, type Sample, type TableReport, type TableSpec, type WorkerReport } from './common';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const role = process.argv[2] as 'A' | 'B';
const netns = process.argv[3] as string;
const backend = process.argv[4] as Backend;
const seed = Number(process.argv[5] ?? 1);
const rand = prng(seed);
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let finishing = false;

function randomRule(spec: TableSpec): RuleSpec {
  const v6 = spec.ipVersion === 6;
  const matches = [
    () => Match().protocol('tcp').destPorts(1 + Math.floor(rand() * 65000), 1 + Math.floor(rand() * 65000)),
    () => Match().protocol('udp').sourcePorts(53),
    () => Match().sourceNet(v6 ? `fd00:${Math.floor(rand() * 0xffff).toString(16)}::/64` : `10.${Math.floor(rand() * 255)}.${Math.floor(rand() * 255)}.0/24`),
    () => Match().conntrackState(pick(['NEW', 'RELATED,ESTABLISHED', 'INVALID'])),
    () => Match().markClear(2 ** Math.floor(rand() * 31)),
    () => Match().inInterface(pick(['eth0', 'cali+', 'lo'])),
  ];
  // No jumps between our chains (a removed chain must never be referenced); the hook rules
  // jump to the permanent main chain.
  const actions = [() => new AcceptAction(), () => new ReturnAction(), ...(spec.table === 'filter' ? [() => new DropAction()] : [])];
  return { match: pick(matches)(), action: pick(actions)(), ...(rand() < 0.3 ? { comment: `soak ${spec.id} ${Math.floor(rand() * 1e6)}` } : {}) };
}

interface Live {
  readonly spec: TableSpec;
  readonly table: Table;
  readonly report: TableReport;
  readonly chains: Map<string, Chain>;
  inserts: Rule[];
  loop?: Promise<void>;
}

function countingLogger(report: TableReport): Logger {
  const noop = (): void => undefined;
  return {
    debug: noop,
    error: noop,
    info: (_fields, message) => {
      if (message?.startsWith('found unexpected')) report.repairs++;
    },
    warn: (_fields, message) => {
      if (message?.includes('marking for resync')) report.repairs++;
      else if (message?.startsWith('iptables-restore failed')) {
        report.restoreRetries++;
        const err = String((_fields as { err?: unknown }).err ?? '');
        if (report.retryReasons.length < 20) report.retryReasons.push(err.slice(0, 300));
      }
      else if (message?.startsWith('iptables-save failed')) report.saveRetries++;
    },
    isLevelEnabled: (level) => level !== 'debug',
  };
}

function mutate(live: Live): void {
  const { spec, chains } = live;
  const main = `${spec.id}-main`;
  const names = [...chains.keys()];
  const op = rand();
  const rules = (): RuleSpec[] => Array.from({ length: 1 + Math.floor(rand() * 15) }, () => randomRule(spec));
  if (op < 0.45 || names.length === 0) {
    const name = names.length === 0 ? main : pick(names);
    chains.set(name, new Chain({ name, rules: rules() }));
    live.table.updateChain(chains.get(name) as Chain);
  } else if (op < 0.65 && names.length < 6) {
    const name = `${spec.id}-c${Math.floor(rand() * 8)}`;
    chains.set(name, new Chain({ name, rules: rules() }));
    live.table.updateChain(chains.get(name) as Chain);
  } else if (op < 0.8 && names.length > 1) {
    const name = pick(names.filter((n) => n !== main));
    if (name) {
      chains.delete(name);
      live.table.removeChainByName(name);
    }
  } else {
    live.inserts = Array.from({ length: 1 + Math.floor(rand() * 2) }, () => new Rule({ match: randomRule(spec).match, action: new JumpAction({ target: main }) }));
    live.table.setRuleInsertions(spec.insertChain, live.inserts);
  }
  live.report.mutations++;
}

async function applyOnce(live: Live): Promise<number> {
  const started = performance.now();
  live.report.applies++;
  try {
    const delay = await live.table.apply();
    return delay;
  } catch (e) {
    const err = e as Error;
    live.report.errors.push({ name: err?.name ?? typeof e, message: String(err?.message ?? e).slice(0, 500), typed: e instanceof IptablesSyncError });
    return 200;
  } finally {
    const ms = performance.now() - started;
    live.report.latenciesMs.push(Math.round(ms * 10) / 10);
    live.report.maxLatencyMs = Math.max(live.report.maxLatencyMs, ms);
  }
}

async function loop(live: Live): Promise<void> {
  let nextMutation = performance.now() + 200 + rand() * 1300;
  let nextApply = 0;
  while (!finishing) {
    const now = performance.now();
    if (now >= nextMutation) {
      mutate(live);
      nextMutation = now + 200 + rand() * 1300;
      nextApply = now;
    }
    if (performance.now() >= nextApply) {
      const delay = await applyOnce(live);
      nextApply = performance.now() + (delay > 0 ? delay : 60_000);
    }
    await sleep(Math.max(1, Math.min(nextMutation, nextApply) - performance.now()));
  }
}

async function main(): Promise<void> {
  const samples: Sample[] = [];
  const lives: Live[] = WORKERS[role].map((spec) => {
    const report: TableReport = { id: spec.id, applies: 0, writes: 0, repairs: 0, restoreRetries: 0, saveRetries: 0, mutations: 0, errors: [], retryReasons: [], latenciesMs: [], maxLatencyMs: 0, finalProblems: [] };
    const table = new Table(spec.table, spec.ipVersion, `${spec.id}:`, { lock: () => undefined, unlock: () => undefined }, {
      netns,
      backend,
      historicChainPrefixes: [`${spec.id}-`],
      insertMode: spec.insertMode,
      refreshIntervalMs: 1000,
      logger: countingLogger(report),
      // Counts restore runs; passes the stdout fd on (and says so), so saves are read by the
      // addon's pipe reader exactly as with the default spawnCommand.
      commandFactory: Object.assign(
        (command: string, args: readonly string[], options?: CommandOptions) => {
          if (args.some((a) => a.endsWith('-restore')) && !args.includes('--version')) report.writes++;
          return spawnCommand(command, args, options);
        },
        { acceptsStdoutFd: spawnCommand.acceptsStdoutFd === true },
      ),
    });
    const live: Live = { spec, table, report, chains: new Map(), inserts: [] };
    const main = `${spec.id}-main`;
    live.chains.set(main, new Chain({ name: main, rules: [randomRule(spec)] }));
    table.updateChain(live.chains.get(main) as Chain);
    return live;
  });

  const sample = (): void => {
    gc();
    const m = process.memoryUsage();
    samples.push({ t: Date.now(), rss: m.rss, heap: m.heapUsed + m.external, fds: readdirSync('/proc/self/fd').length });
  };
  const sampler = setInterval(sample, 2000);
  for (const live of lives) live.loop = loop(live);

  await new Promise<void>((resolve) => process.once('message', () => resolve()));
  finishing = true;
  await Promise.all(lives.map((l) => l.loop));
  clearInterval(sampler);

  // Converge from a fresh read, with nobody else clobbering, and check independently.
  for (const live of lives) {
    try {
      live.table.invalidateDataplaneCache('soak: final check');
      await live.table.apply();
    } catch (e) {
      live.report.finalError = `${(e as Error).name}: ${(e as Error).message}`;
    }
  }
  // Other processes' Tables may still be converging: give them time, then check.
  await sleep(500);
  for (const live of lives) {
    const dump = await saveTable(netns, backend, live.spec);
    const desired = {
      chains: Object.fromEntries([...live.chains].map(([n, c]) => [n, c.ruleHashes()])),
      inserts: new Chain({ name: live.spec.insertChain, rules: live.inserts }).ruleHashes(),
    };
    live.report.finalProblems = dump.code === 0 ? verify(dump.stdout, live.spec, desired) : [`save failed: ${dump.stderr}`];
  }
  sample();
  const report: WorkerReport = { role, tables: lives.map((l) => l.report), samples };
  process.send?.({ type: 'report', report }, () => process.exit(0));
}

main().catch((e) => {
  process.send?.({ type: 'fatal', message: String((e as Error)?.stack ?? e) }, () => process.exit(1));
});
