//! The fake's webhook deliveries, the way Notion delivers: a subscription first sends its
//! verification token to the receiver; afterwards each edit's event waits [`Subscription::delay`],
//! `page.content_updated` events of one page in that window are aggregated into one (their
//! updated blocks together; with [`Subscription::delay_jitter`], each event waits on its own
//! for a random delay in a range instead), the window's events are delivered in shuffled order, each signed
//! (`X-Notion-Signature`), and an attempt answered other than 2xx (or not answered) is retried
//! with the next `attempt_number`, up to 8 attempts.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::webhooks::signature::{SIGNATURE_HEADER, sign};

/// Attempts per event, as Notion makes.
pub const MAX_ATTEMPTS: u32 = 8;

/// Where and how the fake delivers.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The receiver's URL.
    pub url: String,
    /// The token the verification request sends and deliveries are signed with.
    pub verification_token: crate::notion::SecretString,
    /// How long events wait (and aggregate) before delivery.
    pub delay: Duration,
    /// When not zero, each event waits on its own, `delay` plus a random share of this (no
    /// aggregation): deliveries spread over a range of delays, as Notion's do.
    pub delay_jitter: Duration,
    /// Deliver a window's events in shuffled order.
    pub shuffle: bool,
    /// Wait before attempt 2, 3…; the last entry repeats.
    pub retry_delays: Vec<Duration>,
    /// Seed of the shuffle.
    pub seed: u64,
}

impl Subscription {
    /// A subscription to `url` with test-friendly timings (events wait 100 ms; retries after
    /// 100 ms, doubling to 1.6 s).
    pub fn to(url: &str, verification_token: &str) -> Subscription {
        Subscription {
            url: url.to_string(),
            verification_token: crate::notion::SecretString::new(verification_token),
            delay: Duration::from_millis(100),
            delay_jitter: Duration::ZERO,
            shuffle: true,
            retry_delays: [100, 200, 400, 800, 1600]
                .map(Duration::from_millis)
                .to_vec(),
            seed: 7,
        }
    }
}

/// What the deliveries did so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct DeliveryStats {
    /// Events emitted by edits.
    pub emitted: u64,
    /// Events sent (after aggregation).
    pub events: u64,
    /// Requests made (attempts).
    pub attempts: u64,
    /// Attempts answered 2xx.
    pub delivered: u64,
    /// Attempts that failed (non-2xx or no answer).
    pub failed: u64,
    /// Events given up after the last attempt.
    pub dropped: u64,
    /// Events waiting or being retried.
    pub pending: u64,
}

/// The running deliveries of one subscription.
#[derive(Debug, Clone)]
pub struct Dispatcher {
    queue: mpsc::UnboundedSender<Value>,
    stats: Arc<Mutex<DeliveryStats>>,
}

fn bump(stats: &Mutex<DeliveryStats>, f: impl FnOnce(&mut DeliveryStats)) {
    if let Ok(mut s) = stats.lock() {
        f(&mut s);
    }
}

impl Dispatcher {
    /// Sends the verification request, then starts delivering.
    pub async fn subscribe(sub: Subscription) -> Result<Dispatcher, String> {
        let http = reqwest::Client::new();
        let body = serde_json::json!({"verification_token": sub.verification_token.expose()});
        let answer = http
            .post(&sub.url)
            .json(&body)
            .send()
            .await
            .map_err(|e| format!("the verification request to {} failed: {e}", sub.url))?;
        if !answer.status().is_success() {
            return Err(format!(
                "the receiver answered the verification request with {}",
                answer.status()
            ));
        }
        let (queue, inbox) = mpsc::unbounded_channel();
        let stats = Arc::new(Mutex::new(DeliveryStats::default()));
        tokio::spawn(run(sub, http, inbox, Arc::clone(&stats)));
        Ok(Dispatcher { queue, stats })
    }

    /// Queues an edit's event.
    pub fn emit(&self, event: Value) {
        bump(&self.stats, |s| {
            s.emitted += 1;
            s.pending += 1;
        });
        if self.queue.send(event).is_err() {
            bump(&self.stats, |s| {
                s.pending -= 1;
                s.dropped += 1;
            });
        }
    }

    /// The deliveries so far.
    pub fn stats(&self) -> DeliveryStats {
        self.stats.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Merges the `page.content_updated` events of one page into the first of them.
fn aggregate(events: Vec<Value>) -> Vec<Value> {
    let mut out: Vec<Value> = Vec::new();
    for e in events {
        let page_content = e["type"] == "page.content_updated";
        let same = out.iter_mut().find(|o| {
            page_content
                && o["type"] == "page.content_updated"
                && o["entity"]["id"] == e["entity"]["id"]
        });
        match same {
            Some(first) => {
                let more = e["data"]["updated_blocks"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                if let Some(list) = first["data"]["updated_blocks"].as_array_mut() {
                    for b in more {
                        if !list.contains(&b) {
                            list.push(b);
                        }
                    }
                }
            }
            None => out.push(e),
        }
    }
    out
}

async fn run(
    sub: Subscription,
    http: reqwest::Client,
    mut inbox: mpsc::UnboundedReceiver<Value>,
    stats: Arc<Mutex<DeliveryStats>>,
) {
    let sub = Arc::new(sub);
    let mut rng = rand::rngs::StdRng::seed_from_u64(sub.seed);
    while let Some(first) = inbox.recv().await {
        if !sub.delay_jitter.is_zero() {
            use rand::Rng;
            let wait = sub.delay + sub.delay_jitter.mul_f64(rng.random::<f64>());
            bump(&stats, |s| s.events += 1);
            let (sub, http, stats) = (Arc::clone(&sub), http.clone(), Arc::clone(&stats));
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                deliver(sub, http, first, stats).await;
            });
            continue;
        }
        tokio::time::sleep(sub.delay).await;
        let mut window = vec![first];
        while let Ok(next) = inbox.try_recv() {
            window.push(next);
        }
        let emitted = window.len() as u64;
        let mut events = aggregate(window);
        let merged = emitted - events.len() as u64;
        bump(&stats, |s| {
            s.pending -= merged;
            s.events += events.len() as u64;
        });
        if sub.shuffle {
            events.shuffle(&mut rng);
        }
        for event in events {
            tokio::spawn(deliver(
                Arc::clone(&sub),
                http.clone(),
                event,
                Arc::clone(&stats),
            ));
        }
    }
}

/// Delivers one event, retrying until a 2xx or the last attempt.
async fn deliver(
    sub: Arc<Subscription>,
    http: reqwest::Client,
    mut event: Value,
    stats: Arc<Mutex<DeliveryStats>>,
) {
    for attempt in 1..=MAX_ATTEMPTS {
        event["attempt_number"] = attempt.into();
        let body = serde_json::to_vec(&event).unwrap_or_default();
        let signature = sign(sub.verification_token.expose(), &body);
        bump(&stats, |s| s.attempts += 1);
        let answer = http
            .post(&sub.url)
            .header("content-type", "application/json")
            .header(SIGNATURE_HEADER, signature)
            .body(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if answer.is_ok_and(|a| a.status().is_success()) {
            bump(&stats, |s| {
                s.delivered += 1;
                s.pending -= 1;
            });
            return;
        }
        bump(&stats, |s| s.failed += 1);
        if attempt < MAX_ATTEMPTS {
            let i = (attempt as usize - 1).min(sub.retry_delays.len().saturating_sub(1));
            let wait = sub
                .retry_delays
                .get(i)
                .copied()
                .unwrap_or(Duration::from_secs(1));
            tokio::time::sleep(wait).await;
        }
    }
    bump(&stats, |s| {
        s.dropped += 1;
        s.pending -= 1;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn content_events_of_one_page_aggregate() {
        let ev = |id: &str, page: &str, block: &str| json!({"id": id, "type": "page.content_updated", "entity": {"id": page, "type": "page"}, "data": {"updated_blocks": [{"id": block, "type": "block"}]}});
        let other = json!({"id": "c", "type": "comment.created", "entity": {"id": "x", "type": "comment"}, "data": {}});
        let out = aggregate(vec![
            ev("1", "p", "b1"),
            other.clone(),
            ev("2", "p", "b2"),
            ev("3", "q", "b3"),
            ev("4", "p", "b1"),
        ]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0]["id"], "1");
        assert_eq!(
            out[0]["data"]["updated_blocks"],
            json!([{"id": "b1", "type": "block"}, {"id": "b2", "type": "block"}])
        );
        assert_eq!(out[1], other);
        assert_eq!(out[2]["entity"]["id"], "q");
    }
}
