//! A small least-recently-used map, for caches keyed by what strangers
//! choose (a client's `jwks_uri`): when full, one entry — the one used
//! longest ago — makes room for the next, so filling the cache with new
//! keys never empties it of the ones in use.

use std::collections::{BTreeMap, HashMap};

/// At most `capacity` entries; each read or write marks its entry used.
/// Every operation is O(log n): entries by key, and keys by their last use
/// (a counter that only grows).
pub(crate) struct LruMap<V> {
    capacity: usize,
    entries: HashMap<String, (V, u64)>,
    by_use: BTreeMap<u64, String>,
    uses: u64,
}

impl<V> LruMap<V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> LruMap<V> {
        LruMap {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            by_use: BTreeMap::new(),
            uses: 0,
        }
    }

    fn next_use(&mut self) -> u64 {
        self.uses = self.uses.wrapping_add(1);
        self.uses
    }

    /// The value of `key`, marked used.
    pub(crate) fn get(&mut self, key: &str) -> Option<&V> {
        let used = self.next_use();
        let (_, last) = self.entries.get_mut(key)?;
        self.by_use.remove(last);
        *last = used;
        self.by_use.insert(used, key.to_owned());
        self.entries.get(key).map(|(value, _)| value)
    }

    /// Sets `key` to `value`, marked used; when the map is full and `key`
    /// is new, the least recently used entry goes first.
    pub(crate) fn insert(&mut self, key: String, value: V) {
        let used = self.next_use();
        if let Some((_, last)) = self.entries.get(&key) {
            self.by_use.remove(last);
        } else if self.entries.len() >= self.capacity
            && let Some((_, oldest)) = self.by_use.pop_first()
        {
            self.entries.remove(&oldest);
        }
        self.by_use.insert(used, key.clone());
        self.entries.insert(key, (value, used));
    }

    /// How many entries it holds.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first_one_at_a_time() {
        let mut lru = LruMap::new(3);
        for key in ["a", "b", "c"] {
            lru.insert(key.to_owned(), key.to_uppercase());
        }
        // a read marks an entry used: "b" is now the oldest
        assert_eq!(lru.get("a").map(String::as_str), Some("A"));
        lru.insert("d".into(), "D".into());
        assert_eq!(lru.len(), 3);
        assert!(lru.get("b").is_none(), "the least recently used is evicted");
        for kept in ["a", "c", "d"] {
            assert!(lru.get(kept).is_some(), "{kept} was evicted");
        }
        // order of use now: a, c, d; overwriting "a" marks it used
        lru.insert("a".into(), "A2".into());
        assert_eq!(lru.len(), 3);
        lru.insert("e".into(), "E".into());
        assert!(lru.get("c").is_none());
        assert_eq!(lru.get("a").map(String::as_str), Some("A2"));
        assert!(lru.get("d").is_some() && lru.get("e").is_some());
    }

    #[test]
    fn a_flood_of_new_keys_never_empties_it_of_one_in_use() {
        let mut lru = LruMap::new(1_024);
        lru.insert("https://client.example/jwks".into(), 1);
        for i in 0..10_000 {
            lru.insert(format!("https://attacker.example/{i}"), 0);
            // the real client keeps using its entry
            if i % 512 == 0 {
                assert!(lru.get("https://client.example/jwks").is_some(), "{i}");
            }
            assert!(lru.len() <= 1_024);
        }
        assert_eq!(lru.get("https://client.example/jwks"), Some(&1));
    }
}
