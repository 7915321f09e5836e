// `npm run demo`: the main job, end to end, in a throwaway network namespace.
//
// Creates a namespace, runs the real CLI's plan and apply on examples/demo.yaml, shows
// iptables-save, starts watch, plays another program that deletes one of our rules and inserts
// its own, shows watch repairing ours and leaving theirs, stops watch, then applies the same rules
// on backend nftables (a table of our own, a one-rule change written as one command, counters
// kept), and deletes the namespace: at the end, on an error, and on Ctrl-C or SIGTERM.
//
//   node build/demo/demo/demo.js [--backend legacy|nft|auto] [--keep]
//
// It lives outside src/ so the published package does not ship it; demo/tsconfig.json compiles it
// (with the two library files it uses) to build/demo/, and `npm run build` runs that too.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { detectBackend, type Backend } from '../src/backend';
import { inNetns, spawnCommand } from '../src/commands';

// Compiled to build/demo/demo/demo.js: the repository root is three levels up.
const ROOT = join(__dirname, '..', '..', '..');
const CLI = join(ROOT, 'dist', 'cli.js');
const RULES = join(ROOT, 'examples', 'demo.yaml');
const STEPS = 9;

const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
const paint = (code: string) => (text: string) => (color ? `\x1b[${code}m${text}\x1b[0m` : text);
const bold = paint('1');
const dim = paint('2');
const green = paint('32');
const yellow = paint('33');
const red = paint('31');
const cyan = paint('36');

const rel = (p: string): string => relative(process.cwd(), p) || '.';
const cliShown = `node ${rel(CLI)}`;

let netns: string | undefined;
let watchChild: ChildProcess | undefined;
let cleanedUp = false;

function say(text = ''): void {
  process.stdout.write(`${text}\n`);
}

function step(n: number, title: string): void {
  say();
  say(bold(cyan(`Step ${n}/${STEPS}  ${title}`)));
}

function indent(text: string, prefix = '    '): string {
  return text
    .replace(/\n$/, '')
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}

/** Deletes the namespace (synchronously, so it also works from an exit handler). */
function cleanup(): void {
  if (cleanedUp) return;
  cleanedUp = true;
  if (watchChild && watchChild.exitCode === null && watchChild.signalCode === null) {
    try {
      watchChild.kill('SIGTERM');
    } catch {
      // already gone
    }
  }
  if (netns !== undefined && !process.argv.includes('--keep')) {
    try {
      execFileSync('ip', ['netns', 'del', netns], { stdio: 'ignore' });
      say(dim(`  (network namespace ${netns} deleted)`));
    } catch {
      // already gone
    }
  }
}

interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a command, showing it first and its output indented. */
function run(shown: string, cmd: string, args: readonly string[], options: { quiet?: boolean; filter?: (line: string) => boolean } = {}): Promise<Ran> {
  say(`  ${bold('$')} ${shown}`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => {
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8');
      if (!options.quiet) {
        const keep = (t: string): string =>
          t
            .split('\n')
            .filter((l) => (options.filter ? options.filter(l) : true))
            .join('\n');
        if (stdout.trim() !== '') say(indent(keep(stdout)));
        if (stderr.trim() !== '') say(indent(keep(stderr), `    ${dim('│')} `));
      }
      resolve({ code, stdout, stderr });
    });
  });
}

function cli(args: readonly string[], options?: { quiet?: boolean }): Promise<Ran> {
  return run(`${cliShown} ${args.join(' ')}`, process.execPath, [CLI, ...args], options);
}

function inNs(cmd: string, args: readonly string[], options?: { quiet?: boolean; filter?: (line: string) => boolean }): Promise<Ran> {
  return run(`ip netns exec ${netns} ${cmd} ${args.map((a) => (/\s/.test(a) ? JSON.stringify(a) : a)).join(' ')}`, 'ip', ['netns', 'exec', netns as string, cmd, ...args], options);
}

function expectCode(ran: Ran, expected: number, meaning: string): void {
  if (ran.code === expected) {
    say(`  ${green('✓')} exit code ${expected}: ${meaning}`);
    return;
  }
  throw new Error(`expected exit code ${expected} (${meaning}), got ${ran.code}`);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function chainLines(dump: string, chain: string): string[] {
  return dump.split('\n').filter((l) => l.startsWith(`-A ${chain} `));
}

function checkEnvironment(): void {
  const problems: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    problems.push('the demo creates a network namespace, which needs root: run it as root (e.g. sudo npm run demo)');
  }
  for (const bin of ['ip', 'iptables-legacy', 'iptables-nft']) {
    try {
      execFileSync('sh', ['-c', `command -v ${bin}`], { stdio: 'ignore' });
    } catch {
      problems.push(`${bin} not found: install the iproute2 and iptables packages (apt-get install -y iproute2 iptables)`);
    }
  }
  if (!existsSync(CLI)) problems.push(`${rel(CLI)} not found: build first (npm run build)`);
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`demo: ${p}\n`);
    process.exit(1);
  }
}

function parseBackendArg(): Backend | 'auto' {
  const i = process.argv.indexOf('--backend');
  const value = i >= 0 ? process.argv[i + 1] : 'auto';
  if (value === 'legacy' || value === 'nft' || value === 'auto') return value;
  process.stderr.write(`demo: --backend must be legacy, nft or auto, got ${JSON.stringify(value)}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  checkEnvironment();
  const backendArg = parseBackendArg();

  say(bold('iptables-sync demo: plan, apply, and repair in a throwaway network namespace'));
  say(dim('Nothing on this host is touched: every command runs inside the namespace, which is deleted at the end (also on Ctrl-C).'));

  // 1. The namespace.
  step(1, 'Create a throwaway network namespace');
  const name = `ipts-demo-${process.pid}`;
  const added = await run(`ip netns add ${name}`, 'ip', ['netns', 'add', name]);
  if (added.code !== 0) throw new Error(`ip netns add failed: ${added.stderr.trim()}`);
  netns = name;
  await run(`ip netns exec ${name} ip link set lo up`, 'ip', ['netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up'], { quiet: true });
  const backend: Backend = backendArg === 'auto' ? await detectBackend(inNetns(name, spawnCommand), 4) : backendArg;
  say(`  namespace ${bold(name)}; iptables backend ${bold(backend)}${backendArg === 'auto' ? dim(' (auto: what this system uses; pass --backend legacy|nft to choose)') : ''}`);
  const common = ['--netns', name, '--backend', backend];
  const fileArgs = ['-f', rel(RULES)];
  const save = `iptables-${backend}-save`;
  const iptables = `iptables-${backend}`;

  // 2. The rules file.
  step(2, `The rules file: ${rel(RULES)}`);
  const text = readFileSync(RULES, 'utf8');
  say(indent(text.split('\n').filter((l) => !l.startsWith('#')).join('\n').trim()));

  // 3. plan.
  step(3, 'plan: read the dataplane and print the exact iptables-restore input apply would run');
  const plan = await cli(['plan', ...common, ...fileArgs]);
  expectCode(plan, 2, 'drift, the namespace has none of these rules yet');

  // 4. apply, then plan again.
  step(4, 'apply: one iptables-restore transaction; then plan again');
  const applied = await cli(['apply', ...common, ...fileArgs]);
  expectCode(applied, 0, 'applied');
  const again = await cli(['plan', ...common, ...fileArgs]);
  expectCode(again, 0, 'in sync, nothing to do');

  // 5. What iptables itself shows.
  step(5, 'What iptables-save shows: every rule carries its ID in its first comment');
  await inNs(save, ['-t', 'filter'], { filter: (l) => !l.startsWith('#') && l !== '' });

  // 6. watch.
  step(6, 'watch: the reconcile loop (re-reads after each write at 50 ms doubling, and every --refresh-interval)');
  const watchArgs = ['watch', ...common, ...fileArgs, '--refresh-interval', '2s'];
  say(`  ${bold('$')} ${cliShown} ${watchArgs.join(' ')} &`);
  const child = spawn(process.execPath, [CLI, ...watchArgs], { stdio: ['ignore', 'pipe', 'pipe'] });
  watchChild = child;
  let watchLog = '';
  const onWatchOutput = (b: Buffer): void => {
    const chunk = b.toString('utf8');
    watchLog += chunk;
    for (const line of chunk.replace(/\n$/, '').split('\n')) say(`    ${yellow('[watch]')} ${line}`);
  };
  child.stdout?.on('data', onWatchOutput);
  child.stderr?.on('data', onWatchOutput);
  const childExit = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  await waitFor(() => watchLog.includes('in sync; watching'), 15_000, 'watch to start');

  // 7. Another program breaks things.
  step(7, 'Another program deletes our "web" rule and inserts its own rule at the top of INPUT');
  await inNs(iptables, ['-w', '-D', 'ipts-tcp', '2']);
  await inNs(iptables, ['-w', '-I', 'INPUT', '1', '-p', 'tcp', '--dport', '8080', '-m', 'comment', '--comment', 'another program', '-j', 'ACCEPT']);
  say(dim('  waiting for watch to notice and repair…'));
  const started = Date.now();
  await waitForAsync(
    async () => {
      const dump = await captureNs(save, ['-t', 'filter']);
      const input = chainLines(dump, 'INPUT');
      return chainLines(dump, 'ipts-tcp').length === 2 && (input[0] ?? '').includes('ipts-input') && input.some((l) => l.includes('another program'));
    },
    20_000,
    'watch to repair the rules',
  );
  await sleep(100); // let watch's log line arrive before we print more
  say(`  ${green('✓')} repaired in ${((Date.now() - started) / 1000).toFixed(1)} s: our rule is back and our jump is on top of INPUT again; their rule stays`);
  await inNs(save, ['-t', 'filter'], { filter: (l) => l.startsWith('-A ') });
  await cli(['show', ...common, '--table', 'filter']);

  // 8. Stop watch, clean up.
  step(8, 'Stop watch with SIGTERM: it exits 0 and leaves the rules in place');
  say(`  ${bold('$')} kill -TERM ${child.pid}`);
  child.kill('SIGTERM');
  const watchCode = await Promise.race([childExit, sleep(15_000).then(() => 'timeout' as const)]);
  if (watchCode === 'timeout') throw new Error('watch did not stop within 15 s');
  expectCode({ code: watchCode, stdout: '', stderr: '' }, 0, 'watch stopped cleanly');
  watchChild = undefined;
  const after = await captureNs(save, ['-t', 'filter']);
  say(`  ${green('✓')} ${chainLines(after, 'ipts-input').length + chainLines(after, 'ipts-tcp').length} rules of ours still in place`);
  say(dim('  To remove everything of ours (chains with the chain prefix, rules with our ID prefix):'));
  const cleaned = await cli(['cleanup', '--yes', ...common]);
  expectCode(cleaned, 0, 'cleaned up');
  const left = await inNs(save, ['-t', 'filter'], { filter: (l) => l.startsWith('-A ') || l.startsWith(':ipts-') });
  if (left.stdout.includes('ipts') || !left.stdout.includes('another program')) throw new Error('cleanup left rules of ours, or removed the other program\'s rule');
  say(`  ${green('✓')} only the other program's rule is left`);

  // 9. The same rules on native nftables.
  step(9, 'backend nftables: the same rules in an nftables table of our own; a one-rule change is one command');
  await nftablesStep(name);
  say();
  say(bold(green('Done.')) + ' Try it on your own rules: ' + `${cliShown} plan -f examples/host-firewall.yaml` + dim(' (add --netns NAME to stay in a namespace)'));
}

/** Step 9: apply on backend nftables, traffic on lo, a one-rule change (one command, the other
 *  rules' counters kept), cleanup. */
async function nftablesStep(name: string): Promise<void> {
  try {
    execFileSync('sh', ['-c', 'command -v nft'], { stdio: 'ignore' });
  } catch {
    say(yellow('  skipped: nft not found (apt-get install -y nftables)'));
    return;
  }
  const common = ['--netns', name, '--backend', 'nftables'];
  expectCode(await cli(['apply', ...common, '-f', rel(RULES)]), 0, 'applied into table ip ipts-filter');
  await inNs('bash', ['-c', 'for i in 1 2 3; do echo x > /dev/udp/127.0.0.1/9; done'], { quiet: true });
  const inputPackets = async (): Promise<number> => {
    const shown = JSON.parse(await captureCli(['show', ...common, '--table', 'filter', '--json'])) as { tables: { chains: { name: string; rules: { packets: number }[] }[] }[] };
    return shown.tables[0]?.chains.find((c) => c.name === 'INPUT')?.rules[0]?.packets ?? -1;
  };
  const before = await inputPackets();
  await cli(['show', ...common, '--table', 'filter']);
  const dir = mkdtempSync(join(tmpdir(), 'ipts-demo-'));
  try {
    const changed = join(dir, 'demo-8080.yaml');
    writeFileSync(changed, readFileSync(RULES, 'utf8').replace('destPorts: [80, 443]', 'destPorts: [80, 443, 8080]'));
    say(dim('  The web rule now also opens 8080 (a copy of the file with one rule changed):'));
    const plan = await cli(['plan', ...common, '-f', changed]);
    expectCode(plan, 2, 'drift: one rule differs');
    const commands = plan.stdout.split('\n').filter((l) => l !== '');
    if (commands.length !== 1 || !commands[0]?.startsWith('replace rule ip ipts-filter ipts-tcp handle ')) throw new Error(`expected one replace command, got:\n${plan.stdout}`);
    say(`  ${green('✓')} one command: replace that rule by its handle`);
    expectCode(await cli(['apply', ...common, '-f', changed]), 0, 'applied');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const after = await inputPackets();
  if (before <= 0 || after !== before) throw new Error(`the INPUT rule's counter should be kept: ${before} packets before, ${after} after`);
  say(`  ${green('✓')} the untouched INPUT rule kept its counter (${after} packets)`);
  expectCode(await cli(['cleanup', '--yes', ...common]), 0, 'our nftables table deleted');
}

/** The CLI's stdout, not shown. */
async function captureCli(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(out).toString('utf8')));
  });
}

async function captureNs(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns as string, cmd, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', () => resolve(Buffer.concat(out).toString('utf8')));
  });
}

async function waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
  await waitForAsync(async () => cond(), timeoutMs, what);
}

async function waitForAsync(cond: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(100);
  }
}

function onSignal(signal: NodeJS.Signals): void {
  say();
  say(yellow(`Interrupted (${signal}): cleaning up.`));
  cleanup();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
process.on('SIGHUP', onSignal);
process.on('exit', cleanup);

main().then(
  () => {
    cleanup();
    process.exit(0);
  },
  (error: unknown) => {
    say();
    process.stderr.write(`${red('demo failed:')} ${(error as Error).message}\n`);
    cleanup();
    process.exit(1);
  },
);
