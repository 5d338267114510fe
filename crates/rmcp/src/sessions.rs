//! Which agent opened each MCP session, so that only that agent's
//! passports can use or end it.
//!
//! rmcp's streamable HTTP server names a session by its `Mcp-Session-Id`
//! and nothing else: any request carrying the id acts in the session
//! (posts into it, opens or resumes its event stream, answers its pending
//! requests, deletes it). MCP's security best practices ask a server to
//! bind a session to its user; here the user is the agent, named by the
//! leaf passport's issuer, principal and `agent_id`. Passports rotate
//! (each has its own `jti`) and an agent may prove possession with a new
//! key, so neither is part of the owner.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

use passport_axum::Passport;

/// The default bound on the sessions one layer remembers.
pub const DEFAULT_MAX_SESSIONS: usize = 16_384;

/// The most sessions one agent keeps: opening another forgets its oldest,
/// so one agent cannot push the others' sessions out of the table.
pub const MAX_SESSIONS_PER_AGENT: usize = 64;

/// The agent a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    iss: String,
    sub: String,
    agent_id: String,
}

impl Owner {
    pub(crate) fn of(passport: &Passport) -> Owner {
        Owner {
            iss: passport.claims().iss.clone(),
            sub: passport.principal().to_owned(),
            agent_id: passport.agent_id().to_owned(),
        }
    }
}

/// The sessions a layer saw opened, oldest first, bounded.
#[derive(Debug)]
pub(crate) struct Sessions {
    max: usize,
    table: Mutex<Table>,
}

#[derive(Debug, Default)]
struct Table {
    owners: HashMap<String, Owner>,
    /// Session ids, oldest first; exactly the keys of `owners`.
    order: VecDeque<String>,
    /// How many of `owners` each owner has.
    counts: HashMap<Owner, usize>,
}

impl Table {
    fn forget(&mut self, id: &str) {
        if let Some(owner) = self.owners.remove(id)
            && let Some(count) = self.counts.get_mut(&owner)
        {
            *count -= 1;
            if *count == 0 {
                self.counts.remove(&owner);
            }
        }
    }
}

impl Sessions {
    pub(crate) fn new(max: usize) -> Sessions {
        Sessions {
            max: max.max(1),
            table: Mutex::default(),
        }
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every update below leaves the table consistent before it can
        // panic (it cannot): a poisoned lock is still safe to use.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether session `id` was opened by `owner` (and is still
    /// remembered).
    pub(crate) fn belongs_to(&self, id: &str, owner: &Owner) -> bool {
        self.table().owners.get(id) == Some(owner)
    }

    /// Remembers that `owner` opened session `id`, forgetting the owner's
    /// oldest session when it has [`MAX_SESSIONS_PER_AGENT`], and the
    /// oldest of all when the table is full.
    pub(crate) fn opened(&self, id: &str, owner: Owner) {
        let mut table = self.table();
        if table.owners.contains_key(id) {
            // rmcp's ids are random: a repeat is not a new session, and
            // never changes hands.
            return;
        }
        let per_agent = MAX_SESSIONS_PER_AGENT.min(self.max);
        if table.counts.get(&owner).is_some_and(|n| *n >= per_agent) {
            let oldest = table
                .order
                .iter()
                .position(|s| table.owners.get(s) == Some(&owner));
            if let Some(gone) = oldest.and_then(|at| table.order.remove(at)) {
                table.forget(&gone);
            }
        }
        while table.order.len() >= self.max {
            match table.order.pop_front() {
                Some(gone) => table.forget(&gone),
                None => break,
            }
        }
        *table.counts.entry(owner.clone()).or_default() += 1;
        table.owners.insert(id.to_owned(), owner);
        table.order.push_back(id.to_owned());
    }

    /// Forgets session `id` (ended by its owner).
    pub(crate) fn ended(&self, id: &str) {
        let mut table = self.table();
        if table.owners.contains_key(id) {
            table.forget(id);
            table.order.retain(|s| s != id);
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let table = self.table();
        assert_eq!(table.owners.len(), table.order.len());
        assert_eq!(table.counts.values().sum::<usize>(), table.owners.len());
        table.owners.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn owner(agent: &str) -> Owner {
        Owner {
            iss: "https://issuer.example".to_owned(),
            sub: "alice".to_owned(),
            agent_id: agent.to_owned(),
        }
    }

    #[test]
    fn a_session_belongs_to_the_agent_that_opened_it_only() {
        let sessions = Sessions::new(10);
        sessions.opened("s1", owner("agent-a"));
        assert!(sessions.belongs_to("s1", &owner("agent-a")));
        assert!(!sessions.belongs_to("s1", &owner("agent-b")));
        let other_principal = Owner {
            sub: "bob".to_owned(),
            ..owner("agent-a")
        };
        assert!(!sessions.belongs_to("s1", &other_principal));
        let other_issuer = Owner {
            iss: "https://other.example".to_owned(),
            ..owner("agent-a")
        };
        assert!(!sessions.belongs_to("s1", &other_issuer));
        assert!(!sessions.belongs_to("s2", &owner("agent-a")));
        // the same id again never changes hands
        sessions.opened("s1", owner("agent-b"));
        assert!(sessions.belongs_to("s1", &owner("agent-a")));
        sessions.ended("s1");
        assert!(!sessions.belongs_to("s1", &owner("agent-a")));
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn the_oldest_session_is_forgotten_when_the_table_is_full() {
        let sessions = Sessions::new(3);
        for (id, agent) in [("s1", "a"), ("s2", "b"), ("s3", "c"), ("s4", "d")] {
            sessions.opened(id, owner(agent));
        }
        assert_eq!(sessions.len(), 3);
        assert!(!sessions.belongs_to("s1", &owner("a")));
        assert!(sessions.belongs_to("s2", &owner("b")));
        assert!(sessions.belongs_to("s4", &owner("d")));
    }

    #[test]
    fn one_agent_cannot_push_out_the_sessions_of_others() {
        let sessions = Sessions::new(MAX_SESSIONS_PER_AGENT + 1);
        sessions.opened("theirs", owner("b"));
        for n in 0..3 * MAX_SESSIONS_PER_AGENT {
            sessions.opened(&format!("mine-{n}"), owner("a"));
        }
        assert!(sessions.belongs_to("theirs", &owner("b")));
        assert_eq!(sessions.len(), MAX_SESSIONS_PER_AGENT + 1);
        // the agent's newest sessions are the ones kept
        let newest = format!("mine-{}", 3 * MAX_SESSIONS_PER_AGENT - 1);
        assert!(sessions.belongs_to(&newest, &owner("a")));
        assert!(!sessions.belongs_to("mine-0", &owner("a")));
    }
}
