// captureException (with the user's feedback about it), captureMessage and an unhandled
// rejection from one process, which then exits normally.
const Sentry = require('@sentry/node');

Sentry.init({
  dsn: process.env.SENTRY_DSN,
  release: 'shop-api@2.4.0',
  environment: 'live-test',
});
Sentry.setUser({ id: 'node-user-1', email: 'node@example.com' });
Sentry.setTag('feature', 'checkout');
Sentry.addBreadcrumb({ category: 'cart', message: 'added 3 items', level: 'info' });

function applyDiscount(cart) {
  return cart.coupon.code.toUpperCase(); // TypeError: cart.coupon is undefined
}

try {
  applyDiscount({});
} catch (e) {
  const eventId = Sentry.captureException(e);
  Sentry.captureFeedback({
    message: 'The discount code field ate my coupon',
    name: 'Nora Node',
    email: 'nora@example.com',
    associatedEventId: eventId,
  });
}
Sentry.captureMessage('payment provider answered slowly', 'warning');

async function loadProfile() {
  throw new Error('profile service unreachable');
}
loadProfile();

setTimeout(async () => {
  await Sentry.close(5000);
}, 300);
