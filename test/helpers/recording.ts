// A command factory that runs real commands and records each one with the stdin it was given,
// so tests can assert exactly what the Table sent to iptables-restore.
import { PassThrough } from 'node:stream';
import { spawnCommand, type CommandFactory, type CommandOptions, type SpawnedCommand } from '../../src/commands';

export interface RecordedCall {
  readonly command: string;
  readonly args: readonly string[];
  /** The fd given as the child's stdout (the native reader's pipe), if any. */
  readonly stdoutFd: number | undefined;
  input: string;
}

export interface Recorder {
  readonly factory: CommandFactory;
  readonly calls: RecordedCall[];
  /** Inputs given to a restore binary (ip6tables-*-restore or iptables-*-restore), excluding --version. */
  restoreInputs(): string[];
  /** The save runs. */
  saveCalls(): RecordedCall[];
  /** How many times a save binary ran. */
  saveCount(): number;
  clear(): void;
}

export function recordingFactory(inner: CommandFactory = spawnCommand): Recorder {
  const calls: RecordedCall[] = [];
  const record = (command: string, args: readonly string[], options?: CommandOptions): SpawnedCommand => {
    const child = inner(command, args, options);
    const call: RecordedCall = { command, args: [...args], stdoutFd: options?.stdoutFd, input: '' };
    calls.push(call);
    const tee = new PassThrough();
    tee.on('data', (chunk: Buffer) => {
      call.input += chunk.toString('utf8');
    });
    tee.pipe(child.stdin);
    // A child that dies mid-write destroys its stdin; pipe() then just stops, and a writer on
    // the tee would wait for a 'drain' that never comes. Destroy the tee with it.
    child.stdin.once('close', () => tee.destroy());
    return { ...child, stdin: tee, kill: child.kill };
  };
  // Options (the native reader's stdout fd) pass through, so recorded Tables read as users' do.
  const factory: CommandFactory = Object.assign(record, { acceptsStdoutFd: inner.acceptsStdoutFd === true });
  const words = (c: RecordedCall): string[] => [c.command, ...c.args];
  return {
    factory,
    calls,
    restoreInputs: () =>
      calls.filter((c) => words(c).some((w) => /tables-(legacy|nft)-restore$/.test(w)) && !c.args.includes('--version')).map((c) => c.input),
    saveCalls: () => calls.filter((c) => words(c).some((w) => /tables-(legacy|nft)-save$/.test(w))),
    saveCount: () => calls.filter((c) => words(c).some((w) => /tables-(legacy|nft)-save$/.test(w))).length,
    clear: () => {
      calls.length = 0;
    },
  };
}
