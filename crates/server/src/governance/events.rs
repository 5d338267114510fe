//! What changed, for whoever watches in this process: the dashboard's
//! server-sent events. Minting and revocation publish here; a change made
//! by another instance on the same database is not seen here, which is why
//! the dashboard's stream also re-reads the registry every
//! [`TICK`](crate::endpoints::dashboard) (see docs/design.md,
//! "Administrators and the dashboard").

use tokio::sync::broadcast;

use crate::service::Server;

/// How many events a slow watcher may fall behind before it skips ahead
/// (it re-reads the registry anyway).
const CAPACITY: usize = 256;

/// A change to the registry (or, in later rounds, to approvals,
/// kill-switches and the audit trail).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub(crate) enum Event {
    /// A passport was minted.
    Minted {
        /// Its `jti`.
        jti: String,
    },
    /// Passports were revoked (the named one and its descendants).
    Revoked {
        /// Their `jti`s.
        jtis: Vec<String>,
    },
}

/// The in-process broadcast.
#[derive(Debug)]
pub(crate) struct Events {
    sender: broadcast::Sender<Event>,
}

impl Default for Events {
    fn default() -> Events {
        Events {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl Events {
    /// A receiver of every event published from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.sender.subscribe()
    }
}

/// Tells the watchers of `server` about `event` (nobody watching is fine).
pub(crate) fn publish(server: &Server, event: Event) {
    let _ = server.inner.events.sender.send(event);
}
