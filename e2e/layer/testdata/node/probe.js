// The Node row of the layer's runtime matrix: performs the cells named on
// the command line, in order, and prints "CELL <name> OK <value>" or
// "CELL <name> ERR <error>" for each.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const http = require('http');
const dgram = require('dgram');
const dns = require('dns');
const net = require('net');

function httpGet(url) {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { timeout: 10000 }, (res) => {
      let body = '';
      res.on('data', (d) => { body += d; });
      res.on('end', () => resolve(body));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

const cells = {
  read: async () => fs.promises.readFile('/app/test.txt', 'utf8'),
  list: async () => fs.readdirSync('/app').sort().join(','),
  stat: async () => String((await fs.promises.stat('/app/test.txt')).size),
  kube: async () => fs.readFileSync(path.join(process.env.HOME, '.kube', 'config'), 'utf8'),
  http: async () => httpGet('http://internal-only.mirrord-e2e.svc/'),
  udp: () => new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.send(process.env.PROBE_TOKEN, 31415, 'udp-logger.mirrord-e2e.svc', (err) => {
      s.close();
      if (err) reject(err); else resolve('sent');
    });
  }),
  'resolve-web': async () => (await dns.promises.lookup('web', { family: 4 })).address,
  'resolve-k8s': async () => (await dns.promises.lookup('kubernetes.default.svc', { family: 4 })).address,
  hostname: async () => os.hostname(),
  peer: () => new Promise((resolve, reject) => {
    const s = net.connect({ host: 'internal-only.mirrord-e2e.svc', port: 80, timeout: 10000 }, () => {
      const v = s.remoteAddress + ':' + s.remotePort;
      s.end();
      resolve(v);
    });
    s.on('timeout', () => s.destroy(new Error('timeout')));
    s.on('error', reject);
  }),
};

(async () => {
  for (const cell of process.argv.slice(2)) {
    try {
      if (!cells[cell]) throw new Error('unknown cell ' + cell);
      const v = await cells[cell]();
      console.log(`CELL ${cell} OK ${String(v).trim().replace(/\n/g, '\\n')}`);
    } catch (e) {
      console.log(`CELL ${cell} ERR ${String(e.code || '')} ${String(e.message).replace(/\n/g, '\\n')}`);
    }
  }
})();
