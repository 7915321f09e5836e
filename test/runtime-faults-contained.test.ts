// Runtime faults (issue 11), on the real CLI (node dist/cli.js) and the real Table, in throwaway
// namespaces, both backends where it applies. Each test reproduces what an operator saw and
// asserts the fixed behaviour:
//
//  - output through a pipe is whole (plan and show --json, ~5 MB, byte for byte as a file);
//  - a hung iptables-restore is killed at commandTimeoutMs and reaped: a typed timeout error,
//    no process left (checked in /proc);
//  - out of file descriptors (ulimit -n 22): exit 1 and one clear line, no stack trace;
//  - a connection flood on watch --metrics does not starve the agent;
//  - a held xtables lock ends in about the lock timeout with a lock error naming the file (the
//    one --lock-file gave, which reaches the binary as XTABLES_LOCKFILE) and its holder;
//  - a missing namespace / binary / `ip`, and a rule the kernel refuses, are reported after one
//    attempt with the child's own stderr, the command line as run and the rule at fault;
//  - no success line after a failure, in text and in --json.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCommand, spawnCommand, STDERR_LIMIT_BYTES, type CommandFactory } from '../src/commands';
import { AcceptAction, Chain, JumpAction, Match, RestoreFailedError, RestoreTimeoutError, SaveFailedError, Table } from '../src/index';
import { BACKENDS, type Backend, run, useOwnXtablesLockfile, useNamespace, resetTables } from './helpers/netns';
import { runCommandLine, buildCliIfMissing, type CliResult, ROOT, CLI } from './helpers/run-cli';
import { rejectionOf } from './helpers/rejection';

const DEMO = join(ROOT, 'examples', 'demo.yaml');
const TAG = `iptsfr${process.pid}x${randomBytes(3).toString('hex')}`;
const NO_LOCK = { lock: (): void => undefined, unlock: (): void => undefined };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeAll(() => {
  useOwnXtablesLockfile();
  dir = mkdtempSync(join(tmpdir(), 'ipts-fr-'));
  buildCliIfMissing();
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Runs a bash command line (pipes, ulimit) with a deadline; the CLI is `$CLI`. */
function sh(script: string, env: Record<string, string> = {}, timeoutMs = 60_000): Promise<CliResult> {
  return runCommandLine('bash', ['-c', script], { env: { CLI: `${process.execPath} ${CLI}`, ...env }, timeoutMs });
}

/** Writes a file in the scratch directory; returns its path. */
function file(name: string, text: string, mode = 0o644): string {
  const path = join(dir, name);
  writeFileSync(path, text, { mode });
  return path;
}

/** Processes still running whose command line carries the tag. */
function leftovers(): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmdline.includes(TAG)) found.push(`${pid} ${cmdline}`);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Replaces a binary name in the argv (the Table runs `ip netns exec NS <binary> …`). */
const substituting = (from: string, to: string): CommandFactory =>
  Object.assign((c: string, a: readonly string[], o?: Parameters<CommandFactory>[2]) => spawnCommand(c === from ? to : c, a.map((w) => (w === from ? to : w)), o), {
    acceptsStdoutFd: true,
  });

const lines = (text: string): string[] => text.split('\n').filter((l) => l !== '');

// Rules the model accepts and the kernel refuses: rpfilter only works in raw and mangle.
const REFUSED_RULES = `tables:
  filter:
    chains:
      ipts-rpf:
        - action: accept
        - match: { rpfCheckPassed: true }
          action: drop
        - action: drop
    insert:
      INPUT:
        - action: { jump: ipts-rpf }
`;

describe('the one runner of child processes', () => {
  it('keeps a few KB of a flooded stderr (start and end), and reports a spawn failure as an outcome', async () => {
    const flood = await runCommand(spawnCommand, 'bash', ['-c', 'echo FIRST >&2; head -c 1000000 /dev/zero | tr "\\0" x >&2; echo LAST >&2; exit 3'], '', 10_000);
    expect(flood.code).toBe(3);
    expect(flood.stderr.length).toBeLessThan(STDERR_LIMIT_BYTES + 100);
    expect(flood.stderr.startsWith('FIRST\n')).toBe(true);
    expect(flood.stderr.endsWith('LAST\n')).toBe(true);
    expect(flood.stderr).toMatch(/… \[\d+ bytes of stderr cut\] …/);
    const missing = await runCommand(spawnCommand, `/nonexistent-${TAG}/iptables-save`, [], '', 10_000);
    expect(missing.spawnError?.code).toBe('ENOENT');
    expect(missing.code).toBeNull();
  });
});

describe('output through a pipe is whole', () => {
  const ns = useNamespace('frpipe');
  let big: string;
  beforeAll(async () => {
    // ~30k rules: a plan of ~6 MB and a show --json of more.
    const chains: Record<string, unknown[]> = {};
    for (let c = 0; c < 150; c++) {
      chains[`ipts-c${c}`] = Array.from({ length: 200 }, (_, r) => ({
        match: { protocol: 'tcp', sourceNet: `10.${c}.${r}.0/24`, destPorts: [1000 + r] },
        action: 'accept',
        comment: `chain ${c} rule ${r} padding padding`,
      }));
    }
    big = file('big.json', JSON.stringify({ tables: { filter: { chains } } }));
  });

  it('plan -f big.json and show --json through a real pipe equal a redirect to a file, byte for byte', async () => {
    const common = `--netns ${ns.name} --backend nft`;
    const piped = join(dir, 'plan.piped');
    const direct = join(dir, 'plan.file');
    const [p, f] = await Promise.all([sh(`$CLI plan -f ${big} ${common} | cat > ${piped}`), sh(`$CLI plan -f ${big} ${common} > ${direct}`)]);
    expect(p.code).toBe(0); // the exit status of cat; the plan's own status is 2 (drift)
    expect(f.code).toBe(2);
    const size = statSync(direct).size;
    expect(size).toBeGreaterThan(5_000_000);
    expect(statSync(piped).size).toBe(size);
    expect(readFileSync(piped).equals(readFileSync(direct))).toBe(true);

    const applied = await sh(`$CLI apply -f ${big} ${common}`);
    expect(applied.code, applied.stderr).toBe(0);
    const showPiped = join(dir, 'show.piped');
    const showFile = join(dir, 'show.file');
    const [sp, sf] = await Promise.all([sh(`$CLI show --json --table filter ${common} | cat > ${showPiped}`), sh(`$CLI show --json --table filter ${common} > ${showFile}`)]);
    expect(sp.code).toBe(0);
    expect(sf.code).toBe(0);
    expect(statSync(showFile).size).toBeGreaterThan(5_000_000);
    // Counters can move between the two runs only if traffic flows: none does in the namespace.
    expect(readFileSync(showPiped).equals(readFileSync(showFile))).toBe(true);
    const shown = JSON.parse(readFileSync(showPiped, 'utf8')) as { tables: { chains: unknown[] }[] };
    expect(shown.tables[0]?.chains).toHaveLength(150);
  }, 120_000);
});

describe.each(BACKENDS)('runtime faults on real iptables (%s)', (backend: Backend) => {
  const ns = useNamespace(`fr${backend}`);
  const restoreBin = `iptables-${backend}-restore`;
  const common = (): string => `--netns ${ns.name} --backend ${backend}`;

  it('a hung iptables-restore is killed at commandTimeoutMs and reaped: RestoreTimeoutError, no process left', async () => {
    await resetTables(ns, backend);
    // A wrapper that never ends: it starts a grandchild and waits for it (the deadline must kill
    // the whole group, not only the wrapper).
    const stub = file(`${TAG}-${backend}-hung`, `#!/bin/bash\n# ${TAG}\nif [ "$1" = --version ]; then exec ${restoreBin} "$@"; fi\n(exec -a ${TAG}-sleeper sleep 60)\n`, 0o755);
    const timeoutMs = 1000;
    const table = new Table('filter', 4, 'cali:', NO_LOCK, {
      netns: ns.name,
      backend,
      commandTimeoutMs: timeoutMs,
      commandFactory: substituting(restoreBin, stub),
    });
    table.updateChain(new Chain({ name: 'cali-a', rules: [{ action: new AcceptAction() }] }));
    const started = Date.now();
    const error = await Promise.race([
      table.apply().then(
        () => new Error('apply() resolved'),
        (e: unknown) => e,
      ),
      sleep(15_000).then(() => new Error('apply() still pending after 15 s')),
    ]);
    const took = Date.now() - started;
    expect(error).toBeInstanceOf(RestoreTimeoutError);
    expect((error as RestoreTimeoutError).timeoutMs).toBe(timeoutMs);
    expect((error as RestoreTimeoutError).reason).toBe('timeout');
    expect((error as Error).message).toMatch(/timed out after 1000 ms/);
    // Within commandTimeoutMs × the 11 attempts a restore may get (it gets 2 for timeouts).
    expect(took).toBeLessThan(timeoutMs * 11);
    expect(took).toBeGreaterThanOrEqual(timeoutMs);
    for (let i = 0; i < 50 && leftovers().length > 0; i++) await sleep(20);
    expect(leftovers()).toEqual([]);
  }, 30_000);

  it('ulimit -n 22: apply exits 1 with one clear line on stderr, no stack trace, no success line', async () => {
    const r = await sh(`ulimit -n 22; exec $CLI apply -f ${DEMO} ${common()}`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(lines(r.stderr)).toHaveLength(1);
    expect(r.stderr).toMatch(/^iptables-sync: error: .*(EMFILE|Too many open files)/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('plan/apply --netns no-such-ns: "Cannot open network namespace" and the ip netns exec command line, after one attempt', async () => {
    const missing = `no-such-${TAG}`;
    const plan = await sh(`$CLI plan -f ${DEMO} --netns ${missing} --backend ${backend}`);
    expect(plan.code).toBe(1);
    expect(plan.stderr).toContain(`Cannot open network namespace "${missing}"`);
    expect(plan.stderr).toContain(`ip netns exec ${missing} iptables-${backend}-save -t filter`);
    expect(plan.stderr).not.toMatch(/will retry/);
    expect(lines(plan.stderr)).toHaveLength(1);
    const apply = await sh(`$CLI apply -f ${DEMO} --netns ${missing} --backend ${backend} --json`);
    expect(apply.code).toBe(1);
    const out = JSON.parse(apply.stdout) as { ok: boolean; errors: { error: string; command: string; stderr: string }[] };
    expect(out.ok).toBe(false);
    expect(out.errors[0]?.error).toBe('SaveFailedError');
    expect(out.errors[0]?.command).toBe(`ip netns exec ${missing} iptables-${backend}-save -t filter`);
    expect(out.errors[0]?.stderr).toContain('Cannot open network namespace');

    // The library's error: the command as run, one save only.
    let saves = 0;
    const counting: CommandFactory = Object.assign((c: string, a: readonly string[], o?: Parameters<CommandFactory>[2]) => {
      if (a.some((w) => w.endsWith('-save'))) saves++;
      return spawnCommand(c, a, o);
    }, { acceptsStdoutFd: true });
    const table = new Table('filter', 4, 'cali:', NO_LOCK, { netns: missing, backend, commandFactory: counting, sleep: async () => undefined });
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(SaveFailedError);
    const e = error as SaveFailedError;
    expect([e.command, ...e.args]).toEqual(['ip', 'netns', 'exec', missing, `iptables-${backend}-save`, '-t', 'filter']);
    expect(e.stderr).toContain('Cannot open network namespace');
    expect(e.retryable).toBe(false);
    expect(saves).toBe(1);
  });

  it('the binaries or `ip` missing: exit 1, the spawn error named, no success line (text and --json)', async () => {
    const noIp = await sh(`PATH=/nonexistent-${TAG} exec ${process.execPath} ${CLI} apply -f ${DEMO} ${common()}`);
    expect(noIp.code).toBe(1);
    expect(noIp.stdout).toBe('');
    expect(noIp.stderr).toMatch(/^iptables-sync: error: table filter: ip netns exec \S+ iptables-\w+-save -t filter: could not start: spawn ip ENOENT\n$/);
    const noIpJson = await sh(`PATH=/nonexistent-${TAG} exec ${process.execPath} ${CLI} apply -f ${DEMO} ${common()} --json`);
    expect(noIpJson.code).toBe(1);
    const out = JSON.parse(noIpJson.stdout) as { ok: boolean; changed: boolean };
    expect(out.ok).toBe(false);
    // No namespace wrapper: the binaries themselves are missing.
    const noBin = await sh(`PATH=/nonexistent-${TAG} exec ${process.execPath} ${CLI} apply -f ${DEMO} --backend ${backend}`);
    expect(noBin.code).toBe(1);
    expect(noBin.stdout).toBe('');
    expect(noBin.stderr).toContain(`spawn iptables-${backend}-save ENOENT`);
  });

  it('a rule the kernel refuses: reported after one attempt with iptables\' own message and the rule at fault', async () => {
    await resetTables(ns, backend);
    const rules = file(`refused-${backend}.yaml`, REFUSED_RULES);
    const r = await sh(`$CLI apply -f ${rules} ${common()}`);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).not.toMatch(/will re-read and retry/);
    expect(r.stderr).toMatch(backend === 'nft' ? /RULE_APPEND failed \(Invalid argument\)/ : /iptables-restore: line \d+ failed/);
    expect(r.stderr).toMatch(/input line 4: -A ipts-rpf -m comment --comment "ipts:[\w-]+" -m rpfilter --jump DROP/);
    expect(r.stderr).toContain(`ip netns exec ${ns.name} iptables-${backend}-restore --noflush`);
    // Nothing landed, and no throwaway namespace was left behind.
    expect(await ns.save(backend, 'filter')).not.toContain('ipts-rpf');
    expect((await run('ip', ['netns', 'list'])).stdout).not.toMatch(new RegExp(`ipts-bisect-${process.pid}-`));

    // The library: one restore in the real namespace, failedLine the rule.
    const restores: string[] = [];
    const counting: CommandFactory = Object.assign((c: string, a: readonly string[], o?: Parameters<CommandFactory>[2]) => {
      if (a[2] === ns.name && a[3] === restoreBin && !a.includes('--version')) restores.push(a.join(' '));
      return spawnCommand(c, a, o);
    }, { acceptsStdoutFd: true });
    const table = new Table('filter', 4, 'cali:', NO_LOCK, { netns: ns.name, backend, commandFactory: counting });
    table.updateChain(new Chain({ name: 'cali-rpf', rules: [{ action: new AcceptAction() }, { match: Match().rpfCheckPassed(), action: new AcceptAction() }] }));
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-rpf' }) }]);
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    const e = error as RestoreFailedError;
    expect(e.retryable).toBe(false);
    expect(e.failedLine).toMatch(/^-A cali-rpf .*-m rpfilter/);
    expect(e.command).toBe('ip');
    expect(restores).toHaveLength(1);
  });

  it('a jump loop: no single rule is blamed for what the rules make together', async () => {
    await resetTables(ns, backend);
    const table = new Table('filter', 4, 'cali:', NO_LOCK, { netns: ns.name, backend, sleep: async () => undefined });
    table.updateChain(new Chain({ name: 'cali-a', rules: [{ action: new JumpAction({ target: 'cali-b' }) }] }));
    table.updateChain(new Chain({ name: 'cali-b', rules: [{ action: new JumpAction({ target: 'cali-a' }) }] }));
    table.setRuleInsertions('INPUT', [{ action: new JumpAction({ target: 'cali-a' }) }]);
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    const e = error as RestoreFailedError;
    if (backend === 'legacy') {
      // Legacy blames COMMIT only; the replay finds where the loop closes, and that this line
      // loads on its own.
      expect(e.message).toMatch(/the kernel refuses the transaction from input line \d+ on: -[AI] (cali-a|cali-b|INPUT) .*--jump cali-(a|b); that line loads without the rules before it/);
      expect(e.message).not.toMatch(/the kernel refuses input line/);
      expect(e.failedLine).toMatch(/^-[AI] (cali-a|cali-b|INPUT) .*--jump cali-(a|b)$/);
      expect(e.retryable).toBe(false);
    } else {
      // iptables-nft names the rule itself ("Too many links").
      expect(e.stderr).toMatch(/Too many links/);
    }
    expect(await ns.save(backend, 'filter')).not.toContain('cali-a');
  });

  it('nft blames COMMIT for a jump to a missing chain: the error names the rule that jumps', async () => {
    await resetTables(ns, backend);
    const table = new Table('filter', 4, 'cali:', NO_LOCK, { netns: ns.name, backend, sleep: async () => undefined });
    table.updateChain(new Chain({ name: 'cali-broken', rules: [{ action: new AcceptAction() }, { action: new JumpAction({ target: 'cali-missing' }) }] }));
    const error = await rejectionOf(table.apply());
    expect(error).toBeInstanceOf(RestoreFailedError);
    const e = error as RestoreFailedError;
    expect(e.failedLine).toMatch(/^-A cali-broken .*--jump cali-missing$/);
    expect(e.message).toMatch(/input line \d+: -A cali-broken/);
    // Another program may create the chain meanwhile: this one is still retried.
    expect(e.retryable).toBe(true);
  });

  it(`the xtables lock held by another process: ${backend === 'legacy' ? 'a lock error naming the --lock-file and its holder in about the lock timeout, no success line' : 'nft takes no xtables lock and applies'}`, async () => {
    await resetTables(ns, backend);
    // The process's own XTABLES_LOCKFILE stays free: only the file --lock-file names is held, so
    // the binary must have been given that one.
    const lockFile = join(dir, `held-${TAG}.lock`);
    writeFileSync(lockFile, '');
    const holder: ChildProcess = spawn('flock', ['-o', lockFile, 'sleep', '30'], { detached: true, stdio: 'ignore' });
    try {
      for (let i = 0; i < 200 && !readFileSync('/proc/locks', 'utf8').includes(`${holder.pid} `); i++) await sleep(10);
      if (backend === 'nft') {
        const nft = await sh(`$CLI apply -f ${DEMO} ${common()} --lock-timeout 2s --lock-file ${lockFile}`);
        expect(nft.code, nft.stderr).toBe(0);
        expect(nft.stdout).toMatch(/^Applied /);
        return;
      }
      const r = await sh(`$CLI apply -f ${DEMO} ${common()} --lock-timeout 2s --lock-file ${lockFile}`);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`waiting for the xtables lock ${lockFile}`);
      expect(r.stderr).toContain(`held by pid ${holder.pid}: flock -o ${lockFile} sleep 30`);
      expect(r.ms).toBeGreaterThanOrEqual(1900);
      expect(r.ms).toBeLessThan(2000 * 3);
      const j = await sh(`$CLI apply -f ${DEMO} ${common()} --lock-timeout 2s --lock-file ${lockFile} --json`);
      expect(j.code).toBe(1);
      const out = JSON.parse(j.stdout) as { ok: boolean; errors: { error: string; lockFile: string; holder: { pid: number } }[] };
      expect(out.ok).toBe(false);
      expect(out.errors[0]).toMatchObject({ error: 'LockTimeoutError', lockFile, holder: { pid: holder.pid } });
    } finally {
      process.kill(-(holder.pid as number), 'SIGKILL');
    }
    // Released: the same command lands.
    const ok = await sh(`$CLI apply -f ${DEMO} ${common()} --lock-timeout 2s --lock-file ${lockFile}`);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^Applied /);
  }, 30_000);
});

describe('watch --metrics under a connection flood', () => {
  const ns = useNamespace('frflood');

  it('300 idle connections with 100 fds: the agent still repairs drift, and /metrics answers again', async () => {
    const backend: Backend = 'nft';
    const rules = file('flood.yaml', 'tables:\n  filter:\n    chains:\n      ipts-f:\n        - action: accept\n');
    const child = spawn('bash', ['-c', `ulimit -n 100; exec ${process.execPath} ${CLI} watch --json -f ${rules} --netns ${ns.name} --backend ${backend} --metrics 127.0.0.1:0 --refresh-interval 500ms`], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (b: Buffer) => (output += b.toString('utf8')));
    child.stderr.on('data', (b: Buffer) => (output += b.toString('utf8')));
    const sockets: Socket[] = [];
    try {
      const waitFor = async (re: RegExp, what: string, timeoutMs = 20_000): Promise<RegExpExecArray> => {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const m = re.exec(output);
          if (m) return m;
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}:\n${output.slice(-3000)}`);
          await sleep(50);
        }
      };
      const port = Number((await waitFor(/"url":"http:\/\/127\.0\.0\.1:(\d+)\/metrics"/, 'the metrics URL'))[1]);
      await waitFor(/in sync; watching/, 'the first pass');
      for (let i = 0; i < 300; i++) {
        const s = connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
      }
      await sleep(500);
      // Drift: another program flushes our chain. The agent must still be able to run iptables.
      const before = output.length;
      await ns.iptables(backend, ['-F', 'ipts-f']);
      const deadline = Date.now() + 20_000;
      while (!/repaired drift/.test(output.slice(before))) {
        if (Date.now() > deadline) throw new Error(`no repair under the flood:\n${output.slice(before).slice(-3000)}`);
        await sleep(100);
      }
      expect(output.slice(before)).not.toMatch(/EMFILE|apply failed/);
      expect(await ns.save(backend, 'filter')).toMatch(/-A ipts-f .*-j ACCEPT/);
      // With the flood still open, a scrape gets through once idle connections time out.
      let scraped = '';
      const until = Date.now() + 25_000;
      while (scraped === '' && Date.now() < until) {
        scraped = await fetch(`http://127.0.0.1:${port}/metrics`, { signal: AbortSignal.timeout(2000) }).then(
          (res) => (res.ok ? res.text() : ''),
          () => '',
        );
        if (scraped === '') await sleep(500);
      }
      expect(scraped).toContain('iptables_sync_watch_repairs_total');
    } finally {
      for (const s of sockets) s.destroy();
      child.kill('SIGTERM');
      await new Promise((r) => child.once('close', r));
    }
  }, 90_000);
});
