// An exception nobody catches: the SDK sends it as fatal with a crashed session, and the
// process exits with status 1.
const Sentry = require('@sentry/node');

Sentry.init({ dsn: process.env.SENTRY_DSN, release: 'shop-api@2.4.0', environment: 'live-test' });
Sentry.setUser({ id: 'node-user-2' });

setTimeout(function rebuildIndex() {
  throw new RangeError('index rebuild ran out of pages');
}, 100);
