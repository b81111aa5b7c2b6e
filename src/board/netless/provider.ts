// The Netless board provider as the composition root builds it: the rooms (made and banned over
// Netless' REST API) and the members' room tokens, both from one project's AK/SK.
import type { NetlessConfig } from './config.ts';
import { NetlessClient } from './client.ts';
import { NetlessBoardRooms } from './rooms.ts';
import { NetlessRoomTokens } from './tokens.ts';

export interface NetlessBoards {
  client: NetlessClient;
  rooms: NetlessBoardRooms;
  tokens: NetlessRoomTokens;
}

export function netlessBoards(
  config: NetlessConfig,
  /** Room tokens' lifetime, seconds (CONVENE_TOKEN_TTL, as the media tokens). */
  tokenTtl: number,
  hooks: { onError?: (err: unknown, what: string) => void; onNotice?: (what: string, details: Record<string, unknown>) => void } = {},
): NetlessBoards {
  const client = new NetlessClient(config);
  return {
    client,
    rooms: new NetlessBoardRooms(client, { retryMs: config.retryMs, ...hooks }),
    tokens: new NetlessRoomTokens(config, tokenTtl),
  };
}
