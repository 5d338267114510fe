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
//!
//! The table is bounded three ways, and each bound forgets the session
//! used least recently within it: per agent, per principal (an issuer's
//! `sub`, who may run many agents through many clients), and in all. So
//! neither one agent nor one principal can push the sessions of others
//! out, and a session in use outlives idle ones.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, PoisonError};

use passport_axum::Passport;

/// The default bound on the sessions one layer remembers.
pub const DEFAULT_MAX_SESSIONS: usize = 16_384;

/// The most sessions one agent keeps: opening another forgets the one it
/// used least recently, so one agent cannot push the others' sessions out
/// of the table.
pub const MAX_SESSIONS_PER_AGENT: usize = 64;

/// The default bound on the sessions of one principal (an issuer's `sub`),
/// whatever its number of agents: opening another forgets the one of its
/// sessions used least recently.
pub const DEFAULT_MAX_SESSIONS_PER_PRINCIPAL: usize = 1_024;

/// Who a passport acts for: its issuer and principal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Principal {
    iss: String,
    sub: String,
}

/// The agent a session belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Owner {
    principal: Principal,
    agent_id: String,
}

impl Owner {
    pub(crate) fn of(passport: &Passport) -> Owner {
        Owner {
            principal: Principal {
                iss: passport.claims().iss.clone(),
                sub: passport.principal().to_owned(),
            },
            agent_id: passport.agent_id().to_owned(),
        }
    }

    #[cfg(test)]
    pub(crate) fn for_tests(iss: &str, sub: &str, agent_id: &str) -> Owner {
        Owner {
            principal: Principal {
                iss: iss.to_owned(),
                sub: sub.to_owned(),
            },
            agent_id: agent_id.to_owned(),
        }
    }

    /// The owner's fields, each preceded by its length: no two owners
    /// share these bytes.
    pub(crate) fn encoded(&self) -> Vec<u8> {
        let fields = [
            self.principal.iss.as_bytes(),
            self.principal.sub.as_bytes(),
            self.agent_id.as_bytes(),
        ];
        let mut bytes = Vec::with_capacity(fields.iter().map(|f| 8 + f.len()).sum());
        for field in fields {
            bytes.extend_from_slice(&(field.len() as u64).to_be_bytes());
            bytes.extend_from_slice(field);
        }
        bytes
    }
}

/// The sessions a layer saw opened, with their owners, bounded.
#[derive(Debug)]
pub(crate) struct Sessions {
    max: usize,
    per_principal: usize,
    per_agent: usize,
    table: Mutex<Table>,
}

/// A session's owner and when it was last used.
#[derive(Debug)]
struct Entry {
    owner: Owner,
    used: u64,
}

#[derive(Debug, Default)]
struct Table {
    sessions: HashMap<Arc<str>, Entry>,
    /// Every session by last use (oldest first): exactly `sessions`.
    by_use: BTreeMap<u64, Arc<str>>,
    /// The last uses of each agent's sessions, and of each principal's.
    agents: HashMap<Owner, BTreeSet<u64>>,
    principals: HashMap<Principal, BTreeSet<u64>>,
    /// The last use handed out (a counter, not a time).
    clock: u64,
}

impl Table {
    fn stamp(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }

    /// Files session `id` of `owner` under last use `used`.
    fn file(&mut self, id: Arc<str>, owner: Owner, used: u64) {
        self.agents.entry(owner.clone()).or_default().insert(used);
        self.principals
            .entry(owner.principal.clone())
            .or_default()
            .insert(used);
        self.by_use.insert(used, id.clone());
        self.sessions.insert(id, Entry { owner, used });
    }

    /// Takes session `id` out of every index; its id and entry.
    fn unfile(&mut self, id: &str) -> Option<(Arc<str>, Entry)> {
        let (id, entry) = self.sessions.remove_entry(id)?;
        self.by_use.remove(&entry.used);
        if let Some(uses) = self.agents.get_mut(&entry.owner) {
            uses.remove(&entry.used);
            if uses.is_empty() {
                self.agents.remove(&entry.owner);
            }
        }
        if let Some(uses) = self.principals.get_mut(&entry.owner.principal) {
            uses.remove(&entry.used);
            if uses.is_empty() {
                self.principals.remove(&entry.owner.principal);
            }
        }
        Some((id, entry))
    }

    /// Forgets the session last used at `used`; its id.
    fn forget_used(&mut self, used: u64) -> Option<Arc<str>> {
        let id = self.by_use.get(&used)?.clone();
        self.unfile(&id).map(|(id, _)| id)
    }
}

impl Sessions {
    pub(crate) fn new(max: usize, per_principal: usize) -> Sessions {
        let max = max.max(1);
        let per_principal = per_principal.clamp(1, max);
        Sessions {
            max,
            per_principal,
            per_agent: MAX_SESSIONS_PER_AGENT.min(per_principal),
            table: Mutex::default(),
        }
    }

    /// The bound on the sessions in all.
    #[cfg(test)]
    fn max(&self) -> usize {
        self.max
    }

    /// The bound on the sessions of one principal.
    #[cfg(test)]
    fn per_principal(&self) -> usize {
        self.per_principal
    }

    fn table(&self) -> std::sync::MutexGuard<'_, Table> {
        // Every update below leaves the table consistent before it can
        // panic (it cannot): a poisoned lock is still safe to use.
        self.table.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether session `id` was opened by `owner` (and is still
    /// remembered); if so, it counts as used now.
    pub(crate) fn belongs_to(&self, id: &str, owner: &Owner) -> bool {
        let mut table = self.table();
        if table.sessions.get(id).is_none_or(|e| e.owner != *owner) {
            return false;
        }
        if let Some((id, entry)) = table.unfile(id) {
            let used = table.stamp();
            table.file(id, entry.owner, used);
        }
        true
    }

    /// Remembers that `owner` opened session `id`. To make room it forgets
    /// the session used least recently of the owner's when the agent has
    /// [`MAX_SESSIONS_PER_AGENT`], of its principal's when the principal
    /// has its bound, and of all when the table is full. The forgotten
    /// sessions' ids, for rmcp to close.
    pub(crate) fn opened(&self, id: &str, owner: Owner) -> Vec<Arc<str>> {
        let mut table = self.table();
        let mut forgotten = Vec::new();
        if table.sessions.contains_key(id) {
            // rmcp's ids are random: a repeat is not a new session, and
            // never changes hands.
            return forgotten;
        }
        let bounds = [(Some(&owner), self.per_agent), (None, self.per_principal)];
        for (agent, bound) in bounds {
            loop {
                let uses = match agent {
                    Some(agent) => table.agents.get(agent),
                    None => table.principals.get(&owner.principal),
                };
                let Some(oldest) = uses.filter(|u| u.len() >= bound).and_then(|u| u.first()) else {
                    break;
                };
                let oldest = *oldest;
                match table.forget_used(oldest) {
                    Some(gone) => forgotten.push(gone),
                    None => break,
                }
            }
        }
        while table.sessions.len() >= self.max {
            let Some(oldest) = table.by_use.keys().next().copied() else {
                break;
            };
            match table.forget_used(oldest) {
                Some(gone) => forgotten.push(gone),
                None => break,
            }
        }
        let used = table.stamp();
        table.file(Arc::from(id), owner, used);
        forgotten
    }

    /// Forgets session `id` (ended by its owner).
    pub(crate) fn ended(&self, id: &str) {
        self.table().unfile(id);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        let table = self.table();
        let n = table.sessions.len();
        assert_eq!(table.by_use.len(), n);
        assert_eq!(table.agents.values().map(BTreeSet::len).sum::<usize>(), n);
        assert_eq!(
            table.principals.values().map(BTreeSet::len).sum::<usize>(),
            n
        );
        for entry in table.sessions.values() {
            assert!(table.agents[&entry.owner].contains(&entry.used));
            assert!(table.principals[&entry.owner.principal].contains(&entry.used));
        }
        n
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn owner_of(sub: &str, agent: &str) -> Owner {
        Owner::for_tests("https://issuer.example", sub, agent)
    }

    fn owner(agent: &str) -> Owner {
        owner_of("alice", agent)
    }

    fn ids(forgotten: Vec<Arc<str>>) -> Vec<String> {
        forgotten.iter().map(|id| id.to_string()).collect()
    }

    #[test]
    fn a_session_belongs_to_the_agent_that_opened_it_only() {
        let sessions = Sessions::new(10, 10);
        assert!(sessions.opened("s1", owner("agent-a")).is_empty());
        assert!(sessions.belongs_to("s1", &owner("agent-a")));
        assert!(!sessions.belongs_to("s1", &owner("agent-b")));
        assert!(!sessions.belongs_to("s1", &owner_of("bob", "agent-a")));
        let other_issuer = Owner::for_tests("https://other.example", "alice", "agent-a");
        assert!(!sessions.belongs_to("s1", &other_issuer));
        assert!(!sessions.belongs_to("s2", &owner("agent-a")));
        // the same id again never changes hands
        assert!(sessions.opened("s1", owner("agent-b")).is_empty());
        assert!(sessions.belongs_to("s1", &owner("agent-a")));
        sessions.ended("s1");
        assert!(!sessions.belongs_to("s1", &owner("agent-a")));
        assert_eq!(sessions.len(), 0);
    }

    #[test]
    fn owners_encode_apart() {
        // a field boundary moved is another owner, in bytes too
        let a = Owner::for_tests("https://i", "ab", "c");
        let b = Owner::for_tests("https://i", "a", "bc");
        assert_ne!(a.encoded(), b.encoded());
    }

    #[test]
    fn the_session_used_least_recently_is_forgotten_when_the_table_is_full() {
        let sessions = Sessions::new(3, 3);
        for (id, agent) in [("s1", "a"), ("s2", "b"), ("s3", "c")] {
            assert!(sessions.opened(id, owner_of(agent, agent)).is_empty());
        }
        // s1 is in use; s2 has been idle the longest
        assert!(sessions.belongs_to("s1", &owner_of("a", "a")));
        assert_eq!(ids(sessions.opened("s4", owner_of("d", "d"))), ["s2"]);
        assert_eq!(sessions.len(), 3);
        assert!(sessions.belongs_to("s1", &owner_of("a", "a")));
        assert!(!sessions.belongs_to("s2", &owner_of("b", "b")));
        assert!(sessions.belongs_to("s4", &owner_of("d", "d")));
        // a refused look-up is not a use
        assert!(!sessions.belongs_to("s3", &owner_of("x", "x")));
        assert_eq!(ids(sessions.opened("s5", owner_of("e", "e"))), ["s3"]);
    }

    #[test]
    fn one_agent_cannot_push_out_the_sessions_of_others() {
        let sessions = Sessions::new(
            MAX_SESSIONS_PER_AGENT + 1,
            DEFAULT_MAX_SESSIONS_PER_PRINCIPAL,
        );
        sessions.opened("theirs", owner("b"));
        let mut forgotten = Vec::new();
        for n in 0..3 * MAX_SESSIONS_PER_AGENT {
            forgotten.extend(ids(sessions.opened(&format!("mine-{n}"), owner("a"))));
        }
        assert!(sessions.belongs_to("theirs", &owner("b")));
        assert_eq!(sessions.len(), MAX_SESSIONS_PER_AGENT + 1);
        // the agent's own oldest sessions made room, each once
        let expected: Vec<String> = (0..2 * MAX_SESSIONS_PER_AGENT)
            .map(|n| format!("mine-{n}"))
            .collect();
        assert_eq!(forgotten, expected);
        let newest = format!("mine-{}", 3 * MAX_SESSIONS_PER_AGENT - 1);
        assert!(sessions.belongs_to(&newest, &owner("a")));
    }

    #[test]
    fn one_principal_with_many_agents_cannot_push_out_other_principals() {
        // session 11's final review, finding 1: a principal that registers many
        // clients is many agents; each under the per-agent bound, they
        // filled the table and pushed out everyone else's sessions.
        let per_principal = 8;
        let sessions = Sessions::new(per_principal + 2, per_principal);
        sessions.opened("bob-1", owner_of("bob", "agent-b"));
        sessions.opened("carol-1", owner_of("carol", "agent-c"));
        let mut forgotten = Vec::new();
        for n in 0..5 * per_principal {
            let agent = format!("agent-{n}");
            forgotten.extend(ids(sessions.opened(&format!("alice-{n}"), owner(&agent))));
        }
        assert!(sessions.belongs_to("bob-1", &owner_of("bob", "agent-b")));
        assert!(sessions.belongs_to("carol-1", &owner_of("carol", "agent-c")));
        assert_eq!(sessions.len(), per_principal + 2);
        assert_eq!(forgotten.len(), 4 * per_principal);
        assert!(forgotten.iter().all(|id| id.starts_with("alice-")));
        // alice's most recently used sessions are the ones kept
        assert!(sessions.belongs_to("alice-39", &owner("agent-39")));
        assert!(!sessions.belongs_to("alice-31", &owner("agent-31")));
    }

    #[test]
    fn each_bound_forgets_its_least_recently_used_session() {
        // per principal: alice's first session is in use, her second idle
        let sessions = Sessions::new(10, 2);
        sessions.opened("a1", owner("agent-a"));
        sessions.opened("b1", owner("agent-b"));
        assert!(sessions.belongs_to("a1", &owner("agent-a")));
        assert_eq!(ids(sessions.opened("c1", owner("agent-c"))), ["b1"]);
        // per agent: the same, within one agent's sessions
        let sessions = Sessions::new(10 * MAX_SESSIONS_PER_AGENT, 10 * MAX_SESSIONS_PER_AGENT);
        for n in 0..MAX_SESSIONS_PER_AGENT {
            sessions.opened(&format!("s{n}"), owner("a"));
        }
        assert!(sessions.belongs_to("s0", &owner("a")));
        assert_eq!(ids(sessions.opened("next", owner("a"))), ["s1"]);
        assert!(sessions.belongs_to("s0", &owner("a")));
    }

    #[test]
    fn bounds_never_exceed_the_table() {
        let sessions = Sessions::new(0, 0);
        assert_eq!((sessions.max(), sessions.per_principal()), (1, 1));
        let sessions = Sessions::new(4, 100);
        assert_eq!(sessions.per_principal(), 4);
        for n in 0..10 {
            sessions.opened(&format!("s{n}"), owner("a"));
        }
        assert_eq!(sessions.len(), 4);
    }
}
