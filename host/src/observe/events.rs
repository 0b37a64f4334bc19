//! Live events: what happens in the host, as it happens, for `GET /v1/events`,
//! `hostel watch`, the dashboard's plots and embedders.
//!
//! Invariants:
//! - Emitting never waits and never allocates when nobody listens: the event
//!   is built only if a subscriber exists (`emit` takes a closure).
//! - One bounded ring (`buffer` events) is shared by every subscriber. A
//!   subscriber that falls a full ring behind loses the oldest events and is
//!   told so once ([`Received::Lagged`]); the HTTP stream then ends with a
//!   final `dropped` event. A slow client therefore costs the host nothing
//!   but its share of the ring, and never slows a call.
//! - `seq` increases by one per event delivered to subscribers, so a client
//!   sees gaps only where it lagged.
//! - A subscriber is woken at most once per [`COALESCE`] while events flow
//!   (it drains what gathered in one go): waking a task per event would cost
//!   each call more than the call itself.

use serde::Serialize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::broadcast;

/// What happened.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A call finished (or was refused before it ran).
    Call {
        plugin: String,
        export: String,
        /// `ok`, or the error code the caller got.
        outcome: String,
        ms: f64,
        /// Whether a warm instance served it.
        warm: bool,
    },
    /// An instance was created, reused, discarded after a fault, or evicted.
    Instance {
        plugin: String,
        action: InstanceAction,
        /// Its ledger id.
        instance: u64,
        /// What it held (for `evicted`/`discarded`), or its memory estimate (for `created`).
        bytes: u64,
        /// Why it was evicted or discarded.
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// A plugin was registered, loaded, unloaded, failed to load, reloaded or removed.
    Plugin {
        plugin: String,
        action: PluginAction,
        #[serde(skip_serializing_if = "Option::is_none")]
        message: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
    },
    /// The memory pressure level changed.
    Pressure { from: String, to: String, used: u64, budget: u64 },
    /// A compile was queued, started, or finished (`ok` false: it failed).
    Compile {
        plugin: String,
        phase: CompilePhase,
        #[serde(skip_serializing_if = "Option::is_none")]
        ms: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        ok: Option<bool>,
    },
    /// A memory sample (the same one history stores): what the plots draw.
    Memory {
        used: u64,
        budget: u64,
        level: String,
        rss: u64,
        /// Bytes (instances + compiled code) per plugin holding any.
        plugins: serde_json::Value,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum InstanceAction {
    Created,
    Reused,
    Discarded,
    Evicted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PluginAction {
    Registered,
    Loaded,
    Unloaded,
    Failed,
    Reloaded,
    Removed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CompilePhase {
    Queued,
    Started,
    Finished,
}

impl Event {
    /// The `type` tag, for filters.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::Call { .. } => "call",
            Event::Instance { .. } => "instance",
            Event::Plugin { .. } => "plugin",
            Event::Pressure { .. } => "pressure",
            Event::Compile { .. } => "compile",
            Event::Memory { .. } => "memory",
        }
    }

    /// The plugin it is about, if any.
    pub fn plugin(&self) -> Option<&str> {
        match self {
            Event::Call { plugin, .. } | Event::Instance { plugin, .. } | Event::Plugin { plugin, .. } | Event::Compile { plugin, .. } => Some(plugin),
            Event::Pressure { .. } | Event::Memory { .. } => None,
        }
    }
}

/// An event with its sequence number and time.
#[derive(Debug, Clone, Serialize)]
pub struct Stamped {
    pub seq: u64,
    /// Unix milliseconds.
    pub ts_ms: u64,
    #[serde(flatten)]
    pub event: Event,
}

/// The host's event bus.
pub(crate) struct Events {
    tx: broadcast::Sender<Arc<Stamped>>,
    seq: AtomicU64,
    buffer: usize,
    /// Set when the server shuts down: every subscription ends, so graceful
    /// shutdown does not wait forever on open event streams.
    closing: tokio::sync::watch::Sender<bool>,
}

/// Events in the ring by default: a few seconds of a busy host.
pub const DEFAULT_BUFFER: usize = 4096;

/// How long a woken subscriber lets events gather before draining them.
pub const COALESCE: std::time::Duration = std::time::Duration::from_millis(10);

impl Events {
    pub fn new(buffer: usize) -> Events {
        let buffer = buffer.max(16);
        let (tx, _) = broadcast::channel(buffer);
        Events { tx, seq: AtomicU64::new(0), buffer, closing: tokio::sync::watch::channel(false).0 }
    }

    /// Sends the event `make` builds, if anyone listens.
    pub fn emit(&self, make: impl FnOnce() -> Event) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        let seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let stamped = Stamped { seq, ts_ms: crate::host::millis(std::time::SystemTime::now()), event: make() };
        let _ = self.tx.send(Arc::new(stamped));
    }

    pub fn subscribe(&self) -> Subscription {
        Subscription { rx: self.tx.subscribe(), buffer: self.buffer, closing: self.closing.subscribe(), pending: Default::default(), lagged: None }
    }

    /// Ends every subscription (now and later ones).
    pub fn close(&self) {
        self.closing.send_replace(true);
    }

    pub fn subscribers(&self) -> usize {
        self.tx.receiver_count()
    }
}

/// One subscriber's view of the bus.
pub struct Subscription {
    rx: broadcast::Receiver<Arc<Stamped>>,
    buffer: usize,
    closing: tokio::sync::watch::Receiver<bool>,
    /// Drained but not yet handed out, oldest first.
    pending: std::collections::VecDeque<Arc<Stamped>>,
    /// A lag found while draining, reported once `pending` is empty.
    lagged: Option<u64>,
}

/// What [`Subscription::recv`] got.
#[derive(Debug)]
pub enum Received {
    Event(Arc<Stamped>),
    /// The subscriber fell behind: this many events were lost.
    Lagged(u64),
    /// The host is gone.
    Closed,
}

impl Subscription {
    pub async fn recv(&mut self) -> Received {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Received::Event(e);
            }
            if let Some(n) = self.lagged.take() {
                return Received::Lagged(n);
            }
            if *self.closing.borrow() {
                return Received::Closed;
            }
            if self.drain() {
                return Received::Closed;
            }
            if !self.pending.is_empty() || self.lagged.is_some() {
                continue;
            }
            // Nothing yet: wait for one event, then let more gather.
            let got = tokio::select! {
                got = self.rx.recv() => got,
                _ = self.closing.wait_for(|closing| *closing) => return Received::Closed,
            };
            match got {
                Ok(e) => {
                    self.pending.push_back(e);
                    tokio::time::sleep(COALESCE).await;
                }
                Err(broadcast::error::RecvError::Lagged(n)) => self.lagged = Some(n),
                Err(broadcast::error::RecvError::Closed) => return Received::Closed,
            }
        }
    }

    /// Moves what the ring holds for us into `pending` without waiting; true when the bus is gone.
    fn drain(&mut self) -> bool {
        use broadcast::error::TryRecvError;
        loop {
            match self.rx.try_recv() {
                Ok(e) => self.pending.push_back(e),
                Err(TryRecvError::Empty) => return false,
                Err(TryRecvError::Lagged(n)) => {
                    self.lagged = Some(n);
                    return false;
                }
                Err(TryRecvError::Closed) => return true,
            }
        }
    }

    /// Events the ring holds: how far behind a subscriber may fall.
    pub fn buffer(&self) -> usize {
        self.buffer
    }
}

impl crate::Host {
    /// Subscribes to the host's live events. Dropping it unsubscribes.
    pub fn subscribe(&self) -> Subscription {
        self.inner.events.subscribe()
    }

    /// Ends every event subscription (the HTTP server does this when it shuts down).
    pub fn close_events(&self) {
        self.inner.events.close();
    }

    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        self.inner.events.emit(make);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn nothing_is_built_without_subscribers_and_a_laggard_is_told() {
        let bus = Events::new(16);
        bus.emit(|| panic!("built with nobody listening"));
        let mut sub = bus.subscribe();
        for i in 0..40u64 {
            bus.emit(|| Event::Pressure { from: "low".into(), to: "medium".into(), used: i, budget: 1 });
        }
        assert!(matches!(sub.recv().await, Received::Lagged(24)));
        match sub.recv().await {
            Received::Event(e) => assert_eq!(e.seq, 25),
            other => panic!("{other:?}"),
        }
        let Received::Event(e) = sub.recv().await else { panic!("no event") };
        let json = serde_json::to_value(&*e).unwrap();
        assert_eq!((json["type"].as_str(), json["seq"].as_u64(), json["used"].as_u64()), (Some("pressure"), Some(26), Some(25)));
    }
}
