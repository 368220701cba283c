// The Node row of the incoming steal language matrix: listens on port 80
// on every address (Node's default dual-stack "::"), answers every request
// (GET /healthz too: the kubelet's probes are stolen with the rest) with
// "LOCAL node <path> peer=<ip>", where <ip> is req.socket.remoteAddress,
// and prints one JSON line per request.
'use strict';
const http = require('http');

const server = http.createServer((req, res) => {
  const path = new URL(req.url, 'http://x').pathname;
  const peer = req.socket.remoteAddress;
  process.stdout.write(JSON.stringify({ ev: 'req', lang: 'node', path, peer }) + '\n');
  res.writeHead(200, { 'Content-Type': 'text/plain' });
  res.end(`LOCAL node ${path} peer=${peer}\n`);
});
server.on('error', (err) => {
  console.error(err);
  process.exit(1);
});
server.listen(80);
