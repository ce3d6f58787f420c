/**
 * Repeats services-setup.ts's lines under the run's summary, where they are read: at the start
 * they scroll away above hundreds of test lines, and "N skipped" alone does not say why.
 */
import type { Reporter, Vitest } from 'vitest/node';

export default class ServicesReporter implements Reporter {
  private vitest?: Vitest;

  onInit(vitest: Vitest): void {
    this.vitest = vitest;
  }

  onTestRunEnd(): void {
    if (!this.vitest) return;
    for (const text of this.vitest.getRootProject().getProvidedContext().missingServices ?? []) this.vitest.logger.log(text);
  }
}
