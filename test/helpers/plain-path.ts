// A PATH on which iptables exists only under its plain names (iptables-save, iptables-restore),
// as on hosts before iptables 1.8.0, which also had no `*-legacy-*` names. Tests of such hosts
// (an old restore that does not lock itself) need it: a Table asks a binary's --version only
// when its name does not already say it is 1.8.0 or later.
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Backend } from './netns';

const MULTI: Readonly<Record<Backend, string>> = { legacy: '/usr/sbin/xtables-legacy-multi', nft: '/usr/sbin/xtables-nft-multi' };
const PLAIN_NAMES = ['iptables', 'iptables-save', 'iptables-restore', 'ip6tables', 'ip6tables-save', 'ip6tables-restore'];
/** What a Table (and `ip netns exec`) runs besides iptables. */
const TOOLS = ['/usr/sbin/ip', '/usr/bin/cat', '/usr/bin/env', '/usr/bin/bash', '/usr/bin/sh'];

/** Creates the directory (plain names linked to this host's multi binary, and TOOLS); the caller removes it. */
export function plainIptablesDir(backend: Backend): string {
  const dir = mkdtempSync(join(tmpdir(), 'ipts-plain-path-'));
  for (const name of PLAIN_NAMES) symlinkSync(MULTI[backend], join(dir, name));
  for (const tool of TOOLS) symlinkSync(tool, join(dir, tool.split('/').pop() as string));
  return dir;
}

/** Runs `work` with only `dir` on PATH; PATH is restored after, also on failure. */
export async function withPath<T>(dir: string, work: () => Promise<T>): Promise<T> {
  const saved = process.env.PATH;
  process.env.PATH = dir;
  try {
    return await work();
  } finally {
    process.env.PATH = saved;
  }
}

/** plainIptablesDir for the duration of `work`, removed after. */
export async function withPlainIptables<T>(backend: Backend, work: () => Promise<T>): Promise<T> {
  const dir = plainIptablesDir(backend);
  try {
    return await withPath(dir, work);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
