//! The event ids the receiver stored or is storing, so that a retry or a replay is answered
//! without storing the event twice. Bounded: ids are 16 bytes each, at most [`REMEMBERED_IDS`]
//! of them, the oldest forgotten first. A copy that arrives while the first is still being
//! written waits for that write's outcome, so it never gets 200 before the event is stored.

use std::collections::{HashMap, VecDeque};

use tokio::sync::watch;

/// Event ids remembered for deduplication (the oldest are forgotten first).
pub const REMEMBERED_IDS: usize = 100_000;

/// The outcome of storing an event: `None` while it is being written.
pub type Outcome = watch::Receiver<Option<bool>>;

enum Entry {
    Stored,
    Storing(Outcome),
}

/// What the receiver should do with a delivery, given the ids it knows.
pub enum Claim {
    /// New: the caller stores it and reports through the sender.
    Fresh(watch::Sender<Option<bool>>),
    /// Another copy is being written: wait for its outcome.
    Storing(Outcome),
    /// Stored already.
    Stored,
}

/// The ids, bounded.
#[derive(Default)]
pub struct SeenIds {
    entries: HashMap<u128, Entry>,
    order: VecDeque<u128>,
}

impl SeenIds {
    /// Records a stored id (one read back from the lake at startup).
    pub fn stored(&mut self, id: u128) {
        if self.entries.insert(id, Entry::Stored).is_none() {
            self.remember(id);
        }
    }

    /// Claims `id` for a delivery.
    pub fn claim(&mut self, id: u128) -> Claim {
        match self.entries.get(&id) {
            Some(Entry::Stored) => Claim::Stored,
            Some(Entry::Storing(outcome)) => Claim::Storing(outcome.clone()),
            None => {
                let (tx, rx) = watch::channel(None);
                self.entries.insert(id, Entry::Storing(rx));
                self.remember(id);
                Claim::Fresh(tx)
            }
        }
    }

    /// The write of `id` ended: stored, or forgotten so that Notion's retry is stored.
    pub fn finished(&mut self, id: u128, stored: bool) {
        if stored {
            if let Some(e) = self.entries.get_mut(&id) {
                *e = Entry::Stored;
            }
        } else {
            self.entries.remove(&id);
            self.order.retain(|x| *x != id);
        }
    }

    fn remember(&mut self, id: u128) {
        self.order.push_back(id);
        while self.order.len() > REMEMBERED_IDS {
            if let Some(old) = self.order.pop_front() {
                self.entries.remove(&old);
            }
        }
    }

    /// Ids remembered.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copies_wait_for_the_first_write_and_memory_is_bounded() {
        let mut seen = SeenIds::default();
        let Claim::Fresh(tx) = seen.claim(1) else {
            panic!("new")
        };
        let Claim::Storing(rx) = seen.claim(1) else {
            panic!("being written")
        };
        assert_eq!(*rx.borrow(), None);
        tx.send(Some(true)).unwrap();
        seen.finished(1, true);
        assert_eq!(*rx.borrow(), Some(true));
        assert!(matches!(seen.claim(1), Claim::Stored));
        // A failed write is forgotten: the retry is fresh.
        let Claim::Fresh(_) = seen.claim(2) else {
            panic!("new")
        };
        seen.finished(2, false);
        assert!(matches!(seen.claim(2), Claim::Fresh(_)));
        for id in 10..(10 + REMEMBERED_IDS as u128 + 5) {
            seen.stored(id);
        }
        assert_eq!(seen.len(), REMEMBERED_IDS);
        assert!(matches!(seen.claim(10), Claim::Fresh(_)), "the oldest went");
    }
}
