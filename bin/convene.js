#!/usr/bin/env node
// `npx convene <command>`: the sources are TypeScript, so tsx's loader is registered before the
// entry is imported (the same loader `npm start` uses through `node --import tsx`).
import { register } from 'tsx/esm/api';

register();
const { runConvene } = await import('../src/cli.ts');
await runConvene(process.argv.slice(2));
