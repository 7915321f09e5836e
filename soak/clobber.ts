// The soak's third process: a hostile neighbour that clobbers the namespace at random, the
// ways other programs really do: a stale read-modify-write of a whole table (save, wait,
// restore the old copy), deleting or flushing our rules and chains, removing our hook rules,
// and adding foreign rules above, inside and below ours. Runs until told to stop.
import { bin, exec, prng, ALL_TABLES, type Backend, type ClobberReport, type TableSpec } from './common';

const netns = process.argv[2] as string;
const backend = process.argv[3] as Backend;
const rand = prng(Number(process.argv[4] ?? 7));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)] as T;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const report: ClobberReport = { actions: {}, failures: 0 };
let stopping = false;
process.once('message', () => (stopping = true));

const ipt = (spec: TableSpec, args: readonly string[]) => exec('ip', ['netns', 'exec', netns, bin(backend, spec.ipVersion, ''), '-w', '-t', spec.table, ...args]);

async function ourChains(spec: TableSpec): Promise<string[]> {
  const dump = await exec('ip', ['netns', 'exec', netns, bin(backend, spec.ipVersion, '-save'), '-t', spec.table]);
  return dump.stdout
    .split('\n')
    .map((l) => /^:(\S+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined && n.startsWith(`${spec.id}-`));
}

const ACTIONS: Record<string, (spec: TableSpec) => Promise<boolean>> = {
  async staleRoundTrip(spec) {
    const save = bin(backend, spec.ipVersion, '-save');
    const dump = await exec('ip', ['netns', 'exec', netns, save, '-t', spec.table]);
    if (dump.code !== 0) return false;
    await sleep(50 + rand() * 400); // others write meanwhile; we then put the old copy back
    const r = await exec('ip', ['netns', 'exec', netns, bin(backend, spec.ipVersion, '-restore'), '-w', '5'], dump.stdout);
    return r.code === 0;
  },
  async deleteRule(spec) {
    const chains = await ourChains(spec);
    if (chains.length === 0) return true;
    return (await ipt(spec, ['-D', pick(chains), '1'])).code === 0;
  },
  async flushChain(spec) {
    const chains = await ourChains(spec);
    if (chains.length === 0) return true;
    return (await ipt(spec, ['-F', pick(chains)])).code === 0;
  },
  async deleteHook(spec) {
    // Our hook rules carry "<id>:" in a comment; delete the first one by number.
    const list = await ipt(spec, ['-S', spec.insertChain]);
    const rules = list.stdout.split('\n').filter((l) => l.startsWith('-A '));
    const n = rules.findIndex((l) => l.includes(`${spec.id}:`));
    if (n < 0) return true;
    return (await ipt(spec, ['-D', spec.insertChain, String(n + 1)])).code === 0;
  },
  async foreignOnTop(spec) {
    const net = spec.ipVersion === 6 ? `2001:db8::${Math.floor(rand() * 0xffff).toString(16)}` : `192.0.2.${Math.floor(rand() * 255)}`;
    return (await ipt(spec, ['-I', spec.insertChain, '1', '-s', net, '-j', 'RETURN'])).code === 0;
  },
  async foreignAppended(spec) {
    const net = spec.ipVersion === 6 ? `2001:db8::${Math.floor(rand() * 0xffff).toString(16)}` : `198.51.100.${Math.floor(rand() * 255)}`;
    return (await ipt(spec, ['-A', spec.insertChain, '-s', net, '-j', 'RETURN'])).code === 0;
  },
  async foreignInOurChain(spec) {
    const chains = await ourChains(spec);
    if (chains.length === 0) return true;
    return (await ipt(spec, ['-A', pick(chains), '-j', 'RETURN'])).code === 0;
  },
  async trimForeign(spec) {
    // Keep the foreign rules bounded: delete those we added (documentation nets) from the hook chain.
    const list = await ipt(spec, ['-S', spec.insertChain]);
    const rules = list.stdout.split('\n').filter((l) => l.startsWith('-A '));
    for (let i = rules.length - 1; i >= 0; i--) {
      if (/192\.0\.2\.|198\.51\.100\.|2001:db8::/.test(rules[i] as string)) await ipt(spec, ['-D', spec.insertChain, String(i + 1)]);
    }
    return true;
  },
};

async function main(): Promise<void> {
  const names = Object.keys(ACTIONS);
  while (!stopping) {
    const name = pick(names);
    const spec = pick(ALL_TABLES);
    try {
      if (!(await (ACTIONS[name] as (s: TableSpec) => Promise<boolean>)(spec))) report.failures++;
    } catch {
      report.failures++;
    }
    report.actions[name] = (report.actions[name] ?? 0) + 1;
    await sleep(100 + rand() * 600);
  }
  process.send?.({ type: 'report', report }, () => process.exit(0));
}

void main();
