// The command table: every command the `convene` program knows, in the order `--help` lists them.
// A new group (e.g. `webhooks …`) is a module exporting its Command[] added here; its group help,
// its --help and the checking of its arguments come with it.
import type { Command } from './command.ts';
import { appCommands } from './apps.ts';
import { keyCommands } from './keys.ts';
import { roomCommands } from './rooms.ts';
import { tailCommand } from './tail.ts';
import { auditCommand } from './audit.ts';
import { moderationCommands } from './moderation.ts';
import { webhookCommands } from './webhooks.ts';
import { nodeCommands } from './nodes.ts';

const serveCommand: Command = {
  words: ['serve'],
  args: '',
  summary: 'start the service (the default when no command is given)',
  help: `Starts the service on PORT (default 8080) with the configured store, as \`npm start\` does. It
stops cleanly on SIGTERM or SIGINT (exit 0; a cluster node first drains on SIGTERM, over
CONVENE_DRAIN_SECONDS); a problem at start is one line on stderr and exit 2. See
docs/operations.md for the configuration.`,
  store: 'none',
  async run() {
    const { serve } = await import('../main.ts');
    await serve();
  },
};

export const COMMANDS: Command[] = [serveCommand, ...appCommands, ...keyCommands, ...roomCommands, tailCommand, auditCommand, ...moderationCommands, ...webhookCommands, ...nodeCommands];

/** The groups (`apps`, `keys`, `rooms`) and their commands, for `convene rooms --help`. */
export function groupOf(word: string): Command[] {
  return COMMANDS.filter((c) => c.words.length > 1 && c.words[0] === word);
}
