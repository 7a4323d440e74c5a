import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, "vitest: N passed, N failed, N skipped", that CI reads.
 * In CI a skipped test counts as a failure: a skip there means a required part was missing.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const skippedNames: string[] = [];
    for (const module of testModules) {
      const tests = [...module.children.allTests()];
      // A failing hook or import fails the file while its tests show as skipped: count the file.
      if (module.state() === 'failed' && !tests.some((test) => test.result().state === 'failed')) failed++;
      for (const test of tests) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          skippedNames.push(test.fullName);
        }
      }
    }
    if (process.env.CI && skipped > 0) {
      process.exitCode = 1;
      console.log(`\nCI does not accept skipped tests; skipped:\n  ${skippedNames.join('\n  ')}`);
    }
    console.log(`\nvitest: ${passed} passed, ${failed} failed, ${skipped} skipped`);
  }
}
