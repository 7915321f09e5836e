// The package root exports the names SPEC section 1 promises, and loads from require and import.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import * as root from '../src/index';

const promised = [
  'HASH_LENGTH', 'MAX_CHAIN_NAME_LENGTH', 'Match', 'MatchCriteria', 'AddrType',
  'AcceptAction', 'DropAction', 'ReturnAction', 'NoTrackAction', 'JumpAction', 'GotoAction', 'LogAction',
  'DNATAction', 'SNATAction', 'MasqAction', 'ClearMarkAction', 'SetMarkAction', 'SetMaskedMarkAction',
  'Rule', 'Chain', 'portsToMultiport', 'portRangesToMultiport',
  'Table', 'SharedLock', 'grabIptablesLocks', 'Err14LockTimeout', 'Err16LockTimeout', 'InvalidRuleError',
] as const;

describe('package root', () => {
  it('exports every name of SPEC section 1', () => {
    for (const name of promised) expect(root, name).toHaveProperty(name);
    expect(root.HASH_LENGTH).toBe(16);
    expect(root.MAX_CHAIN_NAME_LENGTH).toBe(28);
    expect(root.AddrType.Local).toBe('LOCAL');
  });

  it('the built package loads with require and with import (run `npm run build` first; npm test does)', () => {
    const viaRequire = execFileSync(process.execPath, ['-e', "const m = require('./dist/index.js'); process.stdout.write(typeof m.Table + typeof m.Match)"], { cwd: `${__dirname}/..` }).toString();
    expect(viaRequire).toBe('functionfunction');
    const viaImport = execFileSync(process.execPath, ['--input-type=module', '-e', "import { Table, Match } from 'iptables-sync'; process.stdout.write(typeof Table + typeof Match)"], { cwd: `${__dirname}/..` }).toString();
    expect(viaImport).toBe('functionfunction');
  });
});

describe('error classes', () => {
  it('every typed error of the package derives from IptablesSyncError', () => {
    const classes = Object.entries(root).filter(([name, value]) => typeof value === 'function' && /Error$|Timeout$/.test(name));
    expect(classes.length).toBeGreaterThan(10);
    for (const [name, cls] of classes) {
      expect((cls as { prototype: unknown }).prototype instanceof root.IptablesSyncError || cls === root.IptablesSyncError, name).toBe(true);
    }
  });
});
