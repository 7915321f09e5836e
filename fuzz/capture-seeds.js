#!/usr/bin/env node
// Captures real iptables-save dumps from both backends as fuzzing seeds (fuzz/seeds/).
//
// In a throwaway network namespace, the library itself (dist/, so run `npm run build` first)
// writes chains and inserts into filter, nat, mangle and raw for IPv4 and IPv6, next to foreign
// rules, old unhashed inserts, a foreign rule whose second comment looks like ours, and quoted
// and unquoted comments; then iptables-save (with and without counters, all tables and one
// table) is captured for each backend. Each seed gets the harness's 4-byte header (see
// save_scanner_fuzzer.cc): flags 0, hash prefix "cali:", historic set {"cali-"}.
//   node fuzz/capture-seeds.js   (root: creates and always deletes a namespace)
'use strict';
const { execFileSync } = require('node:child_process');
const { mkdirSync, writeFileSync, mkdtempSync } = require('node:fs');
const { join } = require('node:path');
const { tmpdir } = require('node:os');
const lib = require('../dist/index.js');

const { Table, Chain, Match, AcceptAction, DropAction, JumpAction, GotoAction, LogAction, SetMarkAction, DNATAction, MasqAction, ReturnAction } = lib;
const NS = `ipts-seed-${process.pid}`;
const OUT = join(__dirname, 'seeds');
const NO_LOCK = { lock() {}, unlock() {} };

function sh(cmd, args, input) {
  return execFileSync(cmd, args, { input: input ?? '', encoding: 'latin1', stdio: ['pipe', 'pipe', 'pipe'] });
}
const nsx = (cmd, args, input) => sh('ip', ['netns', 'exec', NS, cmd, ...args], input);

function header(flags = 0, prefix = 0, historic = 0) {
  return Buffer.from([flags, prefix, historic, 0]);
}

async function load(backend, v) {
  const fam = v === 6 ? 'ip6tables' : 'iptables';
  const net = v === 6 ? 'fd00::/64' : '10.0.0.0/8';
  const filter = new Table('filter', v, 'cali:', NO_LOCK, { netns: NS, backend, historicChainPrefixes: ['cali-'] });
  filter.updateChains([
    new Chain({
      name: 'cali-from-wl',
      rules: [
        { match: Match().conntrackState('RELATED,ESTABLISHED'), action: new AcceptAction() },
        { match: Match().conntrackState('INVALID'), action: new DropAction(), comment: 'drop invalid' },
        { match: Match().protocol('tcp').destPorts(80, 443, 8080), action: new SetMarkAction({ mark: 0x10 }) },
        { match: Match().sourceNet(net).markClear(0x10), action: new GotoAction({ target: 'cali-to-wl' }) },
        { match: Match().inInterface('cali+'), action: new LogAction({ prefix: 'calico-drop' }) },
        { action: new DropAction(), comment: 'Drop if no policies passed packet' },
      ],
    }),
    new Chain({ name: 'cali-to-wl', rules: [{ action: new ReturnAction() }] }),
    new Chain({ name: 'cali-empty', rules: [] }),
  ]);
  filter.setRuleInsertions('FORWARD', [{ action: new JumpAction({ target: 'cali-from-wl' }), comment: 'cali insert' }]);
  filter.setRuleInsertions('INPUT', [{ match: Match().inInterface('cali+'), action: new JumpAction({ target: 'cali-to-wl' }) }]);
  await filter.apply();

  const nat = new Table('nat', v, 'cali:', NO_LOCK, { netns: NS, backend, historicChainPrefixes: ['cali-'] });
  nat.updateChains([
    new Chain({
      name: 'cali-fip-dnat',
      rules: [{ match: Match().protocol('tcp').destPorts(80), action: new DNATAction({ destAddr: v === 6 ? 'fd00::1' : '10.0.0.1', destPort: 8080 }) }],
    }),
    new Chain({ name: 'cali-nat-outgoing', rules: [{ match: Match().outInterface('eth0'), action: new MasqAction() }] }),
  ]);
  nat.setRuleInsertions('PREROUTING', [{ action: new JumpAction({ target: 'cali-fip-dnat' }) }]);
  nat.setRuleInsertions('POSTROUTING', [{ action: new JumpAction({ target: 'cali-nat-outgoing' }) }]);
  await nat.apply();

  const mangle = new Table('mangle', v, 'cali:', NO_LOCK, { netns: NS, backend, historicChainPrefixes: ['cali-'], insertMode: 'append' });
  mangle.updateChain(new Chain({ name: 'cali-mangle', rules: [{ match: Match().markSingleBitSet(0x100), action: new AcceptAction() }] }));
  mangle.setRuleInsertions('PREROUTING', [{ action: new JumpAction({ target: 'cali-mangle' }) }]);
  await mangle.apply();

  // Foreign neighbours: a chain, an old unhashed insert (jump to ours), an unquoted comment
  // that looks like an ID, and a rule whose second comment looks like ours.
  nsx(`${fam}-${backend}`, ['-w', '-N', 'KUBE-SERVICES']);
  nsx(`${fam}-${backend}`, ['-w', '-A', 'KUBE-SERVICES', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'RETURN']);
  nsx(`${fam}-${backend}`, ['-w', '-I', 'FORWARD', '-j', 'KUBE-SERVICES']);
  nsx(`${fam}-${backend}`, ['-w', '-A', 'FORWARD', '-j', 'cali-to-wl']);
  nsx(`${fam}-${backend}`, ['-w', '-A', 'OUTPUT', '-m', 'comment', '--comment', 'cali:NotOursAtAll', '-j', 'ACCEPT']);
  nsx(`${fam}-${backend}`, ['-w', '-A', 'OUTPUT', '-m', 'comment', '--comment', 'first', '-m', 'comment', '--comment', 'cali:AAAAAAAAAAAAAAAA', '-j', 'ACCEPT']);
  nsx(`${fam}-${backend}`, ['-w', '-t', 'raw', '-A', 'PREROUTING', '-p', 'udp', '--dport', '4789', '-j', 'NOTRACK']);
}

async function main() {
  mkdirSync(OUT, { recursive: true });
  // Own lock file: the legacy binaries otherwise queue behind every other user of /run/xtables.lock.
  process.env.XTABLES_LOCKFILE = join(mkdtempSync(join(tmpdir(), 'ipts-lock-')), 'xtables.lock');
  sh('ip', ['netns', 'add', NS]);
  try {
    for (const backend of ['legacy', 'nft']) {
      for (const v of [4, 6]) {
        await load(backend, v);
        const save = `${v === 6 ? 'ip6tables' : 'iptables'}-${backend}-save`;
        const all = nsx(save, []);
        const counters = nsx(save, ['-c']);
        const filter = nsx(save, ['-t', 'filter']);
        const write = (name, text, h = header()) => writeFileSync(join(OUT, name), Buffer.concat([h, Buffer.from(text, 'latin1')]));
        write(`${backend}-v${v}-all.dump`, all);
        write(`${backend}-v${v}-counters.dump`, counters);
        write(`${backend}-v${v}-filter.dump`, filter);
        // Same dump, other knobs: extra-pattern reporting on, other chunking, other prefixes.
        write(`${backend}-v${v}-filter-unmatched.dump`, filter, header(0x01 | (7 << 1), 0, 2));
        // Cut mid-stream (as a killed iptables-save leaves it).
        write(`${backend}-v${v}-cut.dump`, all.slice(0, Math.floor(all.length / 2)));
      }
    }
  } finally {
    sh('ip', ['netns', 'del', NS]);
  }
  // Structural edge cases, by hand.
  const edge = {
    'edge-commit-outside.dump': 'COMMIT\n',
    'edge-rule-outside.dump': '-A FORWARD -j ACCEPT\n*filter\nCOMMIT\n',
    'edge-two-tables-open.dump': '*filter\n*nat\nCOMMIT\n',
    'edge-no-final-newline.dump': '*filter\n:cali-x - [0:0]\n-A cali-x -m comment --comment "cali:abc" -j ACCEPT\nCOMMIT',
    'edge-crlf.dump': '*filter\r\n:INPUT ACCEPT [0:0]\r\n-A INPUT -m comment --comment cali:abc -j ACCEPT\r\nCOMMIT\r\n',
    'edge-quote-only.dump': '*filter\n-A INPUT -m comment --comment "\n-A INPUT -m comment --comment \nCOMMIT\n',
  };
  for (const [name, text] of Object.entries(edge)) writeFileSync(join(OUT, name), Buffer.concat([header(), Buffer.from(text, 'latin1')]));
  console.log(`seeds written to ${OUT}`);
}

main().catch((e) => {
  try {
    sh('ip', ['netns', 'del', NS]);
  } catch {
    // gone already
  }
  console.error(e);
  process.exit(1);
});
