// The problems loadConfig names for an environment (none: it loads), for the configuration tests.
import { ConfigError, loadConfig } from '../../src/config.ts';

export function configProblems(env: Record<string, string>): string[] {
  try {
    loadConfig(env);
    return [];
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems;
  }
}
