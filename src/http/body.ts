import type { IncomingMessage } from 'node:http';

/**
 * Whether a request announces a body (a non-zero Content-Length, or chunked): one that may still
 * be arriving when its head is in, and so is worth refusing before it is read.
 */
export function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
