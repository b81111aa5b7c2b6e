// Operational errors: what an operator can fix (a busy port, a bad HOST, an unusable data
// directory) is reported in one line naming the thing and what to do, exit code 2, no stack.
import type { Config } from '../config.ts';

/** A failure the operator must fix; the message is one line, without the `convene: ` prefix. */
export class OperationalError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OperationalError';
  }
}

/** The errno of a Node system error (`EADDRINUSE`, `EACCES`…), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

const REASONS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOENT: 'no such file or directory',
  ENOTDIR: 'a parent is not a directory',
  ENOSPC: 'no space left on device',
};

/** A short reason for a file-system errno, e.g. `permission denied`. */
export function reasonOf(code: string | undefined): string {
  return (code && REASONS[code]) ?? code ?? 'unknown error';
}

/**
 * The one-line message for a failure while starting, or null for an unknown error (which is then
 * printed in full). Listen and lookup failures are recognised by their errno and syscall.
 */
export function operationalMessage(err: unknown, config: Config): string | null {
  if (err instanceof OperationalError) return err.message;
  const code = errnoOf(err);
  const syscall = (err as { syscall?: unknown }).syscall;
  if (syscall === 'listen') {
    if (code === 'EADDRINUSE') return `port ${config.port} is already in use: stop the other process or set PORT to a free port`;
    if (code === 'EACCES') return `no permission to listen on port ${config.port}: set PORT to a port above 1023, or let node bind low ports (CAP_NET_BIND_SERVICE)`;
    if (code === 'EADDRNOTAVAIL') return `HOST ${config.host} is not an address of this machine: set HOST to one of its addresses, or 0.0.0.0 for all`;
  }
  if (syscall === 'getaddrinfo' || syscall === 'queryA' || syscall === 'queryAaaa') {
    if (code === 'ENOTFOUND') return `HOST ${JSON.stringify(config.host)} does not resolve to an address: set HOST to an IP address or a name this machine can resolve (0.0.0.0 listens on all interfaces)`;
    if (code === 'EAI_AGAIN') return `HOST ${JSON.stringify(config.host)} could not be resolved (the name server did not answer): set HOST to an IP address, or check the resolver`;
  }
  return null;
}
