// The RTM stand-in in a process of its own (so that the load generator does not slow Agora's side):
// started with its options as JSON in argv[2]; prints `standin <url> <report url>`; the report URL
// answers what was accepted (time, payload) and how many calls were refused.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startRtmStandin } from '../../test/helpers/rtm-standin.ts';

const standin = await startRtmStandin(JSON.parse(process.argv[2]!));
const report = http.createServer((req, res) => {
  const from = Number(new URL(req.url!, 'http://x').searchParams.get('from') ?? 0);
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ accepted: standin.accepted.slice(from).map((r) => [r.at, r.payload]), refused: standin.refused.length, total: standin.accepted.length }));
});
report.listen(0, '127.0.0.1', () => console.log(`standin ${standin.url} http://127.0.0.1:${(report.address() as AddressInfo).port}`));
process.on('SIGTERM', () => void standin.close().then(() => process.exit(0)));
