#!/usr/bin/env node
// iptables-sync: keep iptables equal to a rules file (the package's bin; the commands live in
// src/cli/).
//
//   iptables-sync plan  -f rules.yaml     print the exact iptables-restore input apply would run
//   iptables-sync apply -f rules.yaml     apply once
//   iptables-sync watch -f rules.yaml     reconcile loop: repairs what other programs break
//   iptables-sync show                    our chains and inserts, with rule IDs and counters
//   iptables-sync cleanup --yes           remove every chain and insert of ours
//
// Exit codes: 0 ok (plan: in sync), 1 error, 2 plan found drift.
import { runAsProcess } from './cli/program';

export { buildProgram, main } from './cli/program';
export { EXIT_DRIFT, EXIT_ERROR, EXIT_OK, parseDuration } from './cli/options';
export { CliLogger, describeSummary } from './cli/output';
export { parseListenAddress } from './cli/listen-address';

if (require.main === module) runAsProcess();
