// What an operator's command is: its words, its arguments and options (from which its usage, its
// help and the checking of what was typed are all made), and what it does with the store.
import type { Config } from '../config.ts';
import type { RoomStore } from '../store/store.ts';

/** Exit codes a script can rely on (documented in docs/operations.md#operator-commands). */
export const Exit = {
  /** Done (for `rooms tail`: the meeting ended, or it was stopped by SIGINT/SIGTERM). */
  done: 0,
  /** Not done: what it names is not there, or the rules refuse; retrying the same won't help. */
  notDone: 1,
  /** Usage or environment: a mistyped command, a bad value, bad configuration, no database. */
  usage: 2,
} as const;

/** The command ran, and the answer is no (exit 1). The message says what to do instead. */
export class Refused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Refused';
  }
}

/** What was typed does not fit the command (exit 2); its usage is printed after the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface OptionSpec {
  /** Without the dashes: `json` for `--json`. */
  name: string;
  /** The value's placeholder when the option takes one (`SEQ`); absent for a switch. */
  value?: string;
  help: string;
}

/** A switch shared by listings and shows. */
export const JSON_OPTION: OptionSpec = { name: 'json', help: 'print one JSON document instead of text' };

export interface Command {
  /** The words that name it: `['rooms', 'kick']`. */
  words: string[];
  /** Its arguments as the usage shows them: upper case, optional ones in brackets, `...` for the rest. */
  args: string;
  /** One line for the list of commands. */
  summary: string;
  /** What `--help` adds below the usage line. */
  help: string;
  options?: OptionSpec[];
  /**
   * What it needs of the store: `none` (it opens none), `existing` (reads or changes what a server
   * made: a missing database is a mistake, not something to create), or `create` (may be the first).
   */
  store: 'none' | 'existing' | 'create';
  /** Runs until the thing it follows ends: SIGINT and SIGTERM then stop it cleanly (exit 0). */
  follows?: boolean;
  run(ctx: Context): Promise<void>;
}

/** What a command runs with: its arguments, its options, the store and the configuration. */
export interface Context {
  args: string[];
  /** The value of an option (`true` for a switch given), undefined when not given. */
  option(name: string): string | true | undefined;
  store: RoomStore;
  config: Config;
  /** Aborted by SIGINT or SIGTERM: long-running commands stop and exit 0. */
  stopped: AbortSignal;
  /** One line on stdout. */
  print(line: string): void;
  /** A JSON document on stdout: indented when `pretty`, else one line (JSON lines). */
  printJson(value: unknown, pretty?: boolean): void;
}
