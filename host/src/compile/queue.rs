//! The compile queue: at most `limit` compiles run at once; the others wait
//! in order of plugin priority (higher first), then arrival (first come,
//! first served).
//!
//! Invariants:
//! - `running` ≤ `limit` at all times; a [`Slot`] is one unit of `running`.
//! - Dropping a slot hands it straight to the best waiter (so `running` does
//!   not dip and a newcomer cannot jump the queue), or frees it.
//! - A waiter that gave up (its receiver dropped) is skipped, never served.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

struct Waiter {
    priority: i32,
    seq: u64,
    tx: oneshot::Sender<Slot>,
}

impl PartialEq for Waiter {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Waiter {}
impl PartialOrd for Waiter {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiter {
    /// The heap's top is the highest priority, then the earliest arrival.
    fn cmp(&self, other: &Self) -> Ordering {
        self.priority.cmp(&other.priority).then(other.seq.cmp(&self.seq))
    }
}

#[derive(Default)]
struct State {
    running: usize,
    seq: u64,
    waiting: BinaryHeap<Waiter>,
}

/// Bounds how many compiles run at once.
pub struct Queue {
    limit: usize,
    state: Mutex<State>,
}

/// The right to run one compile; freed (or passed on) when dropped.
pub struct Slot {
    /// None only for a slot that was never handed out.
    queue: Option<Arc<Queue>>,
}

/// What the queue holds right now.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct QueueStats {
    pub limit: usize,
    pub running: usize,
    pub waiting: usize,
}

impl Queue {
    pub fn new(limit: usize) -> Arc<Queue> {
        Arc::new(Queue { limit: limit.max(1), state: Mutex::new(State::default()) })
    }

    /// Waits for a slot; higher `priority` is served first.
    pub async fn enter(self: &Arc<Self>, priority: i32) -> Slot {
        let rx = {
            let mut s = self.state.lock().unwrap();
            if s.running < self.limit && s.waiting.is_empty() {
                s.running += 1;
                return Slot { queue: Some(self.clone()) };
            }
            let (tx, rx) = oneshot::channel();
            s.seq += 1;
            let seq = s.seq;
            s.waiting.push(Waiter { priority, seq, tx });
            rx
        };
        // The slot itself travels through the channel: if this future is
        // dropped after the hand-over, the slot drops with it and moves on.
        match rx.await {
            Ok(slot) => slot,
            // Senders live in the queue, which we hold: not reachable.
            Err(_) => unreachable!("compile queue dropped a waiter"),
        }
    }

    pub fn stats(&self) -> QueueStats {
        let s = self.state.lock().unwrap();
        QueueStats { limit: self.limit, running: s.running, waiting: s.waiting.len() }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(queue) = self.queue.take() else { return };
        let mut s = queue.state.lock().unwrap();
        while let Some(w) = s.waiting.pop() {
            match w.tx.send(Slot { queue: Some(queue.clone()) }) {
                Ok(()) => return, // handed over: `running` stays the same
                // Nobody waits there any more: this slot never existed.
                Err(mut unsent) => unsent.queue = None,
            }
        }
        s.running -= 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn bounded_and_ordered_by_priority_then_arrival() {
        let q = Queue::new(2);
        let a = q.enter(0).await;
        let b = q.enter(0).await;
        assert_eq!(q.stats().running, 2);
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (name, prio) in [("low-1", 0), ("low-2", 0), ("high", 5)] {
            let (q, order) = (q.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _slot = q.enter(prio).await;
                order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }));
            tokio::time::sleep(Duration::from_millis(10)).await; // fixes arrival order
        }
        assert_eq!(q.stats().waiting, 3);
        drop(a);
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(q.stats().running, 2, "the slot was handed over, not freed");
        drop(b);
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec!["high", "low-1", "low-2"]);
        assert_eq!(q.stats().running, 0);
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_is_skipped() {
        let q = Queue::new(1);
        let a = q.enter(0).await;
        let gone = tokio::time::timeout(Duration::from_millis(10), q.enter(9)).await;
        assert!(gone.is_err());
        drop(a);
        assert_eq!(q.stats().running, 0);
        let _c = q.enter(0).await;
        assert_eq!(q.stats().running, 1);
    }
}
