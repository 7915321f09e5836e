// The assertion the bad-input tests share: the call throws InvalidRuleError naming the value.
import { expect } from 'vitest';
import { InvalidRuleError } from '../../src/errors';

export function expectInvalidRule(run: () => unknown, badValueText: string): void {
  let err: unknown;
  try {
    run();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(InvalidRuleError);
  expect((err as Error).message).toContain(badValueText);
}
