// Whether a module is the program node was started with, rather than imported by a test or by
// bin/convene.js: only then does it read process.argv and run.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export function isProgram(moduleUrl: string): boolean {
  const argv1 = process.argv[1];
  try {
    return argv1 !== undefined && realpathSync(argv1) === fileURLToPath(moduleUrl);
  } catch {
    return false;
  }
}
