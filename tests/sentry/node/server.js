// Request-mode sessions: an HTTP server whose requests the SDK aggregates into per-minute
// session counts; one request fails with a captured exception.
const Sentry = require('@sentry/node');

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: 'shop-api@2.4.0',
  environment: 'live-test',
  integrations: [Sentry.httpIntegration({ sessionFlushingDelayMS: 500 })],
});

const http = require('node:http');

const server = http.createServer((req, res) => {
  if (req.url.startsWith('/fail')) {
    Sentry.captureException(new Error('order lookup failed for ' + req.url));
    res.writeHead(500);
    res.end('failed');
    return;
  }
  res.writeHead(200);
  res.end('ok');
});

server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const get = (path) =>
    new Promise((done) => http.get({ port, path }, (res) => res.resume().on('end', done)));
  for (const path of ['/a', '/b', '/fail/7', '/c', '/d']) {
    await get(path);
  }
  setTimeout(async () => {
    server.close();
    await Sentry.close(5000);
  }, 1500);
});
