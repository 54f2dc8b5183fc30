// Adds `Authorization: Bearer <key>` to every request and passes the rest through, streams
// included: the conformance suite has no option for a header, and harepay answers 401 without it.
// Usage: node auth-proxy.mjs LISTEN_PORT HAREPAY_PORT KEY
import http from 'node:http';
const [listenPort, targetPort, key] = process.argv.slice(2);
http.createServer((req, res) => {
  const headers = { ...req.headers, authorization: `Bearer ${key}` };
  const upstream = http.request({ host: '127.0.0.1', port: targetPort, path: req.url, method: req.method, headers }, (up) => {
    res.writeHead(up.statusCode, up.headers);
    up.pipe(res);
  });
  upstream.on('error', (e) => { res.writeHead(502); res.end(String(e)); });
  req.pipe(upstream);
}).listen(listenPort, '127.0.0.1');
