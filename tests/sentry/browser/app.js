// A page instrumented with @sentry/browser, served from another origin than the server.
// "Send" captures an exception, a message and an unhandled rejection, then shows the
// status of each answer as the SDK read it ("unreadable" when CORS hid it).
import * as Sentry from '@sentry/browser';

const params = new URLSearchParams(location.search);

Sentry.init({
  dsn: params.get('dsn'),
  release: 'storefront@7.3.0',
  environment: 'live-test',
});
Sentry.setUser({ id: 'browser-user-1' });

const statuses = [];
Sentry.getClient().on('afterSendEvent', (_event, response) => {
  statuses.push(response.statusCode ?? 'unreadable');
});
Sentry.setTag('feature', 'basket');

function basketTotal(basket) {
  return basket.lines.reduce((sum, line) => sum + line.price, 0); // lines is undefined
}

async function loadRecommendations() {
  throw new Error('recommendations request failed');
}

document.getElementById('send').addEventListener('click', async () => {
  try {
    basketTotal({});
  } catch (e) {
    Sentry.captureException(e);
  }
  Sentry.captureMessage('basket page rendered slowly', 'warning');
  loadRecommendations();
  for (let waited = 0; statuses.length < 3 && waited < 10000; waited += 50) {
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  document.getElementById('status').textContent = `answers: ${statuses.join(' ')}.`;
});
