//! Mail waiting to be sent. Requests hand their messages over and answer at once, so
//! how long an SMTP server takes never shows in a response (a slow answer to
//! "forgot password" would tell whether the address has an account).

use super::{Email, Mailer};
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// Messages that may wait; beyond it new ones are dropped with a warning.
const CAPACITY: usize = 1_000;
/// Deliveries under way at once.
const SENDERS: u32 = 4;

enum Job {
    Send(Email),
    Flush(oneshot::Sender<()>),
}

#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Job>,
}

impl Outbox {
    /// Starts the background task that sends through `mailer`.
    pub fn start(mailer: Mailer) -> Outbox {
        let (tx, mut rx) = mpsc::channel::<Job>(CAPACITY);
        tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(SENDERS as usize));
            while let Some(job) = rx.recv().await {
                match job {
                    Job::Send(email) => {
                        let Ok(slot) = slots.clone().acquire_owned().await else {
                            break;
                        };
                        let mailer = mailer.clone();
                        tokio::spawn(async move {
                            if let Err(e) = mailer.send(email).await {
                                tracing::warn!(error = %e, "mail not sent");
                            }
                            drop(slot);
                        });
                    }
                    Job::Flush(done) => {
                        // Every delivery started before the flush has ended once all
                        // slots are free again.
                        let _ = slots.acquire_many(SENDERS).await;
                        let _ = done.send(());
                    }
                }
            }
        });
        Outbox { tx }
    }

    /// Queues a message; never waits.
    pub fn enqueue(&self, email: Email) {
        if let Err(e) = self.tx.try_send(Job::Send(email)) {
            let to = match e.into_inner() {
                Job::Send(email) => email.to,
                Job::Flush(_) => String::new(),
            };
            tracing::warn!(%to, "mail queue full or closed; message dropped");
        }
    }

    /// Waits until every queued message has been handed to the mail server (or failed).
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Job::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn queued_mail_is_sent_in_the_background() {
        let (mailer, sent) = Mailer::memory();
        let outbox = Outbox::start(mailer);
        for i in 0..10 {
            outbox.enqueue(Email {
                to: format!("user{i}@example.com"),
                subject: "s".into(),
                text: "t".into(),
                html: "h".into(),
            });
        }
        outbox.flush().await;
        assert_eq!(sent.lock().unwrap().len(), 10);
    }
}
