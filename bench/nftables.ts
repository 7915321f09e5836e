// `npm run bench` step for the nftables backend (or alone: node dist-bench/bench/nftables.js
// --rules 1000,10000 [--runs 3] [--write quick]). Per size, each measurement in a fresh namespace:
//  - initial apply through the engine ÷ bare `nft -f` of the very same input (goal ≤ 1.1);
//  - resync (a read and a diff that finds nothing to do; the faster of two, interleaved with the
//    bare listings) ÷ bare `nft --json list table` (goal ≤ 1.1), and ÷ bare `nft -a -t list
//    table` (the listing the engine reads);
//  - a one-rule change: how many commands it writes (goal: 1), and its time;
//  - the same rules through a Table on backend 'nft' (iptables-nft): initial apply and the
//    one-rule change's restore lines.
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type * as DataplaneModule from '../src/nftables/dataplane';
import type * as RuleTextModule from '../src/nftables/rule-text';
import { option } from './format';
import { commands, lib, ROOT } from './lib';
import { median, timeCommand } from './measure';
import { withNetns } from './netns';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { NftablesDataplane } = require(join(ROOT, 'dist', 'nftables', 'dataplane')) as typeof DataplaneModule;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nftRuleRenderer } = require(join(ROOT, 'dist', 'nftables', 'rule-text')) as typeof RuleTextModule;

const CHAINS = 10;

/** N rules in 10 chains, INPUT jumping to each; `changed` alters one rule in the middle. */
function workload(n: number, changed = false): { chains: DataplaneModule.NftDesiredState['chains']; inserts: Map<string, InstanceType<typeof lib.Rule>[]> } {
  const per = n / CHAINS;
  const chains = new Map<string, InstanceType<typeof lib.Chain>>();
  for (let c = 0; c < CHAINS; c++) {
    const rules = [];
    for (let r = 0; r < per; r++) {
      const k = c * per + r;
      const port = changed && k === Math.floor(n / 2) ? 1 : 1024 + (k % 60000);
      rules.push(new lib.Rule({ match: lib.Match().protocol('tcp').sourceNet(`10.${(k >> 16) & 255}.${(k >> 8) & 255}.${k & 255}/32`).destPorts(port), action: new lib.AcceptAction() }));
    }
    chains.set(`ipts-b${c}`, new lib.Chain({ name: `ipts-b${c}`, rules }));
  }
  const inserts = new Map([['INPUT', [...chains.keys()].map((target) => new lib.Rule({ action: new lib.JumpAction({ target }) }))]]);
  return { chains, inserts };
}

function engineIn(netns: string): DataplaneModule.NftablesDataplane {
  return new NftablesDataplane({
    tableName: 'filter',
    family: 'ip',
    nftTable: 'ipts-filter',
    hashPrefix: 'ipts:',
    render: nftRuleRenderer('ip', 'filter'),
    run: commands.inNetns(netns, commands.spawnCommand),
    commandTimeoutMs: 600_000,
    lockTimeoutMs: 10_000,
    sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
    now: Date.now,
    logger: { debug: () => undefined, info: () => undefined, warn: () => undefined, error: () => undefined },
  });
}

interface SizeResult {
  rules: number;
  renderMs: number;
  initialMs: number;
  bareNftFMs: number;
  /** Bare `nft -a -t list table` of our table before it exists (in the bare nft -f's namespace):
   *  the read a safe first apply makes before it writes. */
  bareMissingListMs: number;
  resyncMs: number;
  bareJsonListMs: number;
  bareTextListMs: number;
  oneRuleCommands: number;
  oneRuleMs: number;
  iptablesNftInitialMs: number;
  iptablesNftOneRuleMs: number;
  iptablesNftOneRuleLines: number;
}

async function once(n: number, tag: string): Promise<SizeResult> {
  const want = workload(n);
  const desired = { chains: want.chains, inserts: want.inserts, appends: new Map() };
  const changed = workload(n, true);
  // Ours: initial apply, resync, one-rule change.
  const ours = await withNetns(`${tag}o`, async (ns) => {
    const engine = engineIn(ns.name);
    // Rendering happens as a Table accepts chains (updateChain), before any apply: timed apart.
    let t = performance.now();
    engine.desiredChains(desired);
    const renderMs = performance.now() - t;
    t = performance.now();
    const applied = await engine.apply(desired);
    const initialMs = performance.now() - t;
    const input = applied.writes[0]?.input ?? '';
    // Listings interleaved (the first one after a big write is slower, whoever runs it), and
    // the faster of two resyncs.
    const resync = async (): Promise<number> => {
      engine.invalidate();
      const started = performance.now();
      await engine.apply(desired);
      return performance.now() - started;
    };
    const bareJsonListMs = (await timeCommand(ns.name, 'nft', ['--json', 'list', 'table', 'ip', 'ipts-filter'])).wallMs;
    const firstResyncMs = await resync();
    const bareTextListMs = (await timeCommand(ns.name, 'nft', ['-a', '-t', 'list', 'table', 'ip', 'ipts-filter'])).wallMs;
    const resyncMs = Math.min(firstResyncMs, await resync());
    t = performance.now();
    const change = await engine.apply({ ...desired, chains: changed.chains });
    const oneRuleMs = performance.now() - t;
    const oneRuleCommands = (change.writes[0]?.input ?? '').split('\n').filter((l) => l !== '').length;
    return { renderMs, initialMs, input, resyncMs, bareJsonListMs, bareTextListMs, oneRuleMs, oneRuleCommands };
  });
  const [bareMissingListMs, bareNftFMs] = await withNetns(`${tag}b`, async (ns) => [
    (await timeCommand(ns.name, 'nft', ['-a', '-t', 'list', 'table', 'ip', 'ipts-filter'], '', false, 1)).wallMs,
    (await timeCommand(ns.name, 'nft', ['-f', '-'], ours.input)).wallMs,
  ]);
  // The same rules through iptables-nft.
  const nft = await withNetns(`${tag}n`, async (ns) => {
    const table = new lib.Table('filter', 4, 'ipts:', lib.NO_OP_LOCK, { netns: ns.name, backend: 'nft', historicChainPrefixes: ['ipts-'], commandTimeoutMs: 600_000 });
    table.updateChains([...want.chains.values()]);
    table.setRuleInsertions('INPUT', want.inserts.get('INPUT') ?? []);
    const t = performance.now();
    await table.apply();
    const iptablesNftInitialMs = performance.now() - t;
    table.updateChains([...changed.chains.values()]);
    const t1 = performance.now();
    const report = await table.applyWithReport();
    const iptablesNftOneRuleMs = performance.now() - t1;
    const lines = (report.writes[0]?.input ?? '').split('\n').filter((l) => l.startsWith('-'));
    return { iptablesNftInitialMs, iptablesNftOneRuleMs, iptablesNftOneRuleLines: lines.length };
  });
  const { input: _input, ...rest } = ours;
  void _input;
  return { rules: n, bareNftFMs, bareMissingListMs, ...rest, ...nft };
}

async function main(): Promise<void> {
  const sizes = (option('--rules') ?? '1000,10000').split(',').map(Number);
  const runs = Number(option('--runs') ?? 3);
  const tag = option('--tag') ?? String(process.pid);
  const results: SizeResult[] = [];
  for (const n of sizes) {
    const all: SizeResult[] = [];
    // One run at 100k rules: each takes many seconds, and the ratios are to floors of that run.
    const count = n >= 100_000 ? 1 : runs;
    for (let r = 0; r < count; r++) {
      process.stderr.write(`nftables ${n} rules, run ${r + 1}/${count}\n`);
      all.push(await once(n, `${tag}-${n}-${r}`));
    }
    const m = (k: keyof SizeResult): number => median(all.map((x) => x[k]));
    results.push({
      rules: n,
      renderMs: m('renderMs'),
      initialMs: m('initialMs'),
      bareNftFMs: m('bareNftFMs'),
      bareMissingListMs: m('bareMissingListMs'),
      resyncMs: m('resyncMs'),
      bareJsonListMs: m('bareJsonListMs'),
      bareTextListMs: m('bareTextListMs'),
      oneRuleCommands: Math.max(...all.map((x) => x.oneRuleCommands)),
      oneRuleMs: m('oneRuleMs'),
      iptablesNftInitialMs: m('iptablesNftInitialMs'),
      iptablesNftOneRuleMs: m('iptablesNftOneRuleMs'),
      iptablesNftOneRuleLines: Math.max(...all.map((x) => x.iptablesNftOneRuleLines)),
    });
  }
  const f = (x: number): string => (x >= 100 ? x.toFixed(0) : x.toFixed(1));
  const rows = results.map((r) => {
    const initial = r.initialMs / r.bareNftFMs;
    const resync = r.resyncMs / r.bareJsonListMs;
    return `| ${r.rules} | ${f(r.renderMs)} | ${f(r.initialMs)} | ${f(r.bareNftFMs)} | ${initial.toFixed(2)} ${initial <= 1.1 ? 'met' : 'NOT met'} | ${(r.initialMs / (r.bareMissingListMs + r.bareNftFMs)).toFixed(2)} | ${f(r.resyncMs)} | ${f(r.bareJsonListMs)} | ${resync.toFixed(2)} ${resync <= 1.1 ? 'met' : 'NOT met'} | ${(r.resyncMs / r.bareTextListMs).toFixed(2)} | ${r.oneRuleCommands} ${r.oneRuleCommands === 1 ? 'met' : 'NOT met'} | ${f(r.oneRuleMs)} | ${f(r.iptablesNftInitialMs)} | ${r.iptablesNftOneRuleLines} | ${f(r.iptablesNftOneRuleMs)} |`;
  });
  const md = [
    '| rules | render at update time ms | initial apply ms | bare nft -f ms | ratio (≤1.1) | ÷ (bare list of the missing table + bare nft -f) | resync ms | bare nft --json list ms | ratio (≤1.1) | ÷ bare nft -a -t list | one-rule change: commands (1) | one-rule change ms | iptables-nft initial apply ms | iptables-nft one-rule change: restore lines | iptables-nft one-rule change ms |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
  process.stdout.write(`\nnftables backend (medians of ${runs} runs; 100k: one run)\n${md}\n`);
  const mode = option('--write');
  if (mode !== undefined) {
    const dir = join(ROOT, 'bench', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `nftables-${mode}.json`), `${JSON.stringify({ date: new Date().toISOString(), runs, results }, null, 1)}\n`);
    writeFileSync(join(dir, `nftables-${mode}.md`), `${md}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`nftables bench failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 1;
});
