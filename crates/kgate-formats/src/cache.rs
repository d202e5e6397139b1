//! A bounded cache for what kgate keeps of a Schema Registry's answers (schemas by id,
//! ids by schema, parsed schemas): clients choose the schemas and ids they send, so an
//! unbounded map would grow with every new one. The least recently used entries are
//! dropped once the cache holds too many entries or too many bytes; a dropped entry is
//! only asked of the registry (or parsed) again.

use std::collections::HashMap;
use std::hash::Hash;

/// Most entries of one cache: the size of Confluent's serializer caches.
pub const CACHE_ENTRIES: usize = 1000;

/// Most bytes behind the entries of one cache: schema text, and for parsed JSON
/// Schemas what their validators compiled.
pub const CACHE_BYTES: usize = 64 * 1024 * 1024;

/// A map that keeps at most `max_entries` entries weighing at most `max_bytes` in all
/// (an entry heavier than that alone is not kept), dropping the least recently used.
#[derive(Debug)]
pub struct BoundedCache<K, V> {
    entries: HashMap<K, Entry<V>>,
    max_entries: usize,
    max_bytes: usize,
    bytes: usize,
    /// Counts uses: an entry's `used` is the count at its last use.
    clock: u64,
}

#[derive(Debug)]
struct Entry<V> {
    value: V,
    bytes: usize,
    used: u64,
}

impl<K: Eq + Hash + Clone, V: Clone> BoundedCache<K, V> {
    /// An empty cache with these bounds.
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        BoundedCache {
            entries: HashMap::new(),
            max_entries: max_entries.max(1),
            max_bytes,
            bytes: 0,
            clock: 0,
        }
    }

    /// The value of `key`, counted as a use.
    pub fn get(&mut self, key: &K) -> Option<V> {
        self.clock += 1;
        let entry = self.entries.get_mut(key)?;
        entry.used = self.clock;
        Some(entry.value.clone())
    }

    /// Keeps `value` for `key`, weighing `bytes`, dropping the least recently used
    /// entries it needs room from.
    pub fn insert(&mut self, key: K, value: V, bytes: usize) {
        if let Some(old) = self.entries.remove(&key) {
            self.bytes -= old.bytes;
        }
        if bytes > self.max_bytes {
            return;
        }
        while !self.entries.is_empty()
            && (self.entries.len() >= self.max_entries || self.bytes + bytes > self.max_bytes)
        {
            self.evict_one();
        }
        self.clock += 1;
        self.bytes += bytes;
        self.entries.insert(
            key,
            Entry {
                value,
                bytes,
                used: self.clock,
            },
        );
    }

    /// Weighs every entry again with `weigh`, for values whose size changes while they
    /// are kept, and drops the least recently used entries while the cache is too heavy
    /// (and any entry too heavy alone).
    pub fn reweigh(&mut self, weigh: impl Fn(&V) -> usize) {
        let max_bytes = self.max_bytes;
        self.entries.retain(|_, entry| {
            entry.bytes = weigh(&entry.value);
            entry.bytes <= max_bytes
        });
        self.bytes = self.entries.values().map(|e| e.bytes).sum();
        while self.bytes > self.max_bytes {
            self.evict_one();
        }
    }

    /// The weight of the entries kept, in all.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// How many entries are kept.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Drops the least recently used entry. A scan: entries are few, and only a miss
    /// that finds the cache full, or entries weighed again past its bound, come here.
    fn evict_one(&mut self) {
        let oldest = self
            .entries
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone());
        if let Some(key) = oldest
            && let Some(entry) = self.entries.remove(&key)
        {
            self.bytes -= entry.bytes;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_entry_goes_first() {
        let mut cache = BoundedCache::new(2, 1000);
        cache.insert(1, "one", 1);
        cache.insert(2, "two", 1);
        assert_eq!(cache.get(&1), Some("one"));
        cache.insert(3, "three", 1);
        assert_eq!(cache.get(&2), None, "2 was used least recently");
        assert_eq!(cache.get(&1), Some("one"));
        assert_eq!(cache.get(&3), Some("three"));
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn bytes_are_bounded_and_an_entry_too_heavy_alone_is_not_kept() {
        let mut cache = BoundedCache::new(100, 10);
        cache.insert("a", 1, 4);
        cache.insert("b", 2, 4);
        cache.insert("c", 3, 4);
        assert_eq!(cache.get(&"a"), None, "a made room for c");
        assert_eq!((cache.get(&"b"), cache.get(&"c")), (Some(2), Some(3)));
        cache.insert("huge", 4, 11);
        assert_eq!(cache.get(&"huge"), None);
        assert_eq!(cache.len(), 2, "nothing was dropped for it");
        // Replacing an entry counts its new weight only.
        cache.insert("b", 5, 6);
        assert_eq!((cache.get(&"b"), cache.get(&"c")), (Some(5), Some(3)));
        assert!(cache.bytes <= 10);
    }

    #[test]
    fn entries_that_grew_are_weighed_again_and_the_oldest_make_room() {
        // Each value is what its entry weighs once it has grown; inserted light.
        let mut cache = BoundedCache::new(100, 10);
        cache.insert("a", 4usize, 1);
        cache.insert("b", 9, 1);
        cache.insert("c", 4, 1);
        assert_eq!(cache.get(&"a"), Some(4), "a is now the most recently used");
        assert_eq!(cache.bytes(), 3);
        cache.reweigh(|v| *v);
        // 17 bytes in all: b, the least recently used, goes.
        assert_eq!(cache.get(&"b"), None);
        assert_eq!((cache.get(&"a"), cache.get(&"c")), (Some(4), Some(4)));
        assert_eq!(cache.bytes(), 8);
        // An entry that grew past the whole cache's bound goes, however recently used.
        cache.insert("d", 11, 1);
        assert_eq!(cache.get(&"d"), Some(11));
        cache.reweigh(|v| *v);
        assert_eq!(cache.get(&"d"), None);
        assert_eq!((cache.len(), cache.bytes()), (2, 8));
    }
}
