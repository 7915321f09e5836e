// What test/helpers/native-smoke.js must print, computed independently of the package: rule IDs
import { expect } from 'vitest';
// from node:crypto's SHA-224 by the definition, reader results from the dump's own comments.

export interface SmokeExpectation {
  readonly arch: string;
  readonly path: string;
  readonly digest: string;
  readonly sha224: (data: Buffer) => Buffer;
}

function ids(chain: string, lines: readonly string[], sha224: (data: Buffer) => Buffer): string[] {
  let h = sha224(Buffer.from(chain, 'utf8'));
  return lines.map((line) => {
    h = sha224(Buffer.concat([h, Buffer.from(line, 'utf8')]));
    return h.toString('base64url').slice(0, 16);
  });
}

export function expectedSmoke(e: SmokeExpectation): Record<string, unknown> {
  const chains = { INPUT: ['abcdefghijklmnop', ''], 'cali-x': ['0123456789abcdef'] };
  const dumpBytes = 197;
  return {
    arch: e.arch,
    node: expect.stringMatching(/^v\d+\./),
    info: { loaded: true, path: e.path, tried: expect.arrayContaining([e.path]) },
    sourceDigest: e.digest,
    hashes: ids('cali-x', ['-A cali-x HASH --jump DROP', '-A cali-x HASH', '-A cali-x HASH -m comment --comment "é"'], e.sha224),
    stream: { implementation: 'native', bytes: dumpBytes, chains },
    pipe: { implementation: 'native', bytes: dumpBytes, chains },
    locks: { flockBusyWhileHeld: true, socketBusyWhileHeld: true, freeAfterClose: true },
  };
}

export function parseSmoke(stdout: string): unknown {
  return JSON.parse(stdout) as unknown;
}
