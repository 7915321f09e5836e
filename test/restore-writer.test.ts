// streamRestore's handling of the child's stdout: iptables-restore --verbose output is not
// needed, so it goes to /dev/null when the factory takes an fd, and is drained otherwise (a
// child that fills a pipe nobody reads would never exit).
import { readlinkSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { nativeSpawnCommand, nodeSpawnCommand, type CommandFactory, type CommandOptions } from '../src/commands';
import { streamRestore } from '../src/restore-writer';

/** Runs `script` as the "restore" of a one-line transaction through `factory`. */
function restoreWith(factory: CommandFactory, script: string): Promise<{ readonly lines: number }> {
  return streamRestore({ run: factory, command: 'sh', args: ['-c', script], table: 'filter', timeoutMs: 10_000 }, ['-A X -j ACCEPT']);
}

describe('the restore child’s stdout', () => {
  it('goes to /dev/null when the factory takes stdoutFd: the child writes 1 MiB to it and exits', async () => {
    const given: (string | undefined)[] = [];
    const factory: CommandFactory = Object.assign(
      (command: string, args: readonly string[], options?: CommandOptions) => {
        given.push(options?.stdoutFd === undefined ? undefined : readlinkSync(`/proc/self/fd/${options.stdoutFd}`));
        return nativeSpawnCommand(command, args, options);
      },
      { acceptsStdoutFd: true },
    );
    const outcome = await restoreWith(factory, 'cat > /dev/null; head -c 1048576 /dev/zero; test "$(readlink /proc/$$/fd/1)" = /dev/null');
    expect(outcome.lines).toBe(1);
    expect(given).toEqual(['/dev/null']);
  });

  it('is drained when the factory does not take an fd: 1 MiB of output does not block the child', async () => {
    const given: (number | undefined)[] = [];
    const factory: CommandFactory = (command, args, options) => {
      given.push(options?.stdoutFd);
      return nodeSpawnCommand(command, args, options);
    };
    const outcome = await restoreWith(factory, 'cat > /dev/null; head -c 1048576 /dev/zero');
    expect(outcome.lines).toBe(1);
    expect(given).toEqual([undefined]);
  });
});
