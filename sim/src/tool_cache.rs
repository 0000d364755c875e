//! The tool cache: results of the search tools that chat messages call,
//! kept per namespace (`search_web_v1`, `search_products_v1`) for the
//! namespace's TTL. Bumping a namespace version (a knob) starts a cold
//! namespace; the old one stays until it is cleared.
//!
//! `toolCache:listNamespaceStats` reads it and `toolCache:clearNamespace`
//! empties a namespace; hits and misses are also counted in the statistics
//! (`tool_cache` in the snapshot).

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::config::ToolCacheConfig;
use crate::rng::{fnv1a, splitmix64};
use crate::tool_queue::ToolKind;

/// Entries kept per namespace; past it, expired entries are dropped first
/// and new results are not cached until there is room.
const MAX_ENTRIES: usize = 100_000;

/// Whether a lookup found a live entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lookup {
    Hit,
    Miss,
}

#[derive(Debug)]
struct Entry {
    stored: Instant,
    bytes: u64,
}

#[derive(Debug)]
struct Namespace {
    ttl: Duration,
    entries: HashMap<u64, Entry>,
    hits: u64,
    misses: u64,
    cleared: u64,
}

impl Namespace {
    fn new(ttl: Duration) -> Self {
        Namespace {
            ttl,
            entries: HashMap::new(),
            hits: 0,
            misses: 0,
            cleared: 0,
        }
    }
}

/// The cache of every namespace.
#[derive(Debug)]
pub(crate) struct ToolCache {
    cfg: ToolCacheConfig,
    seed: u64,
    spaces: Mutex<BTreeMap<String, Namespace>>,
}

impl ToolCache {
    pub(crate) fn new(cfg: ToolCacheConfig, seed: u64) -> Self {
        ToolCache {
            cfg,
            seed,
            spaces: Mutex::new(BTreeMap::new()),
        }
    }

    /// The namespace a tool writes to now; global search is not cached.
    pub(crate) fn namespace(&self, tool: ToolKind) -> Option<String> {
        match tool {
            ToolKind::Web => Some(format!("search_web_v{}", self.cfg.web_search_version)),
            ToolKind::Product => Some(format!("search_products_v{}", self.cfg.products_version)),
            ToolKind::Global => None,
        }
    }

    fn ttl(&self, tool: ToolKind) -> Duration {
        match tool {
            ToolKind::Product => self.cfg.product_search_ttl,
            ToolKind::Web | ToolKind::Global => self.cfg.web_search_ttl,
        }
    }

    /// The tools a chat message calls: none, or a search (web or product)
    /// and sometimes a global search besides. Decided by the seed and the
    /// message text, so the same message always decides the same way.
    pub(crate) fn tools_for(&self, message: &str) -> Vec<ToolKind> {
        let h = splitmix64(self.seed ^ fnv1a(message));
        if !self.drawn(h) {
            return Vec::new();
        }
        let first = if (h >> 32) % 3 == 2 {
            ToolKind::Product
        } else {
            ToolKind::Web
        };
        if (h >> 40) % 4 == 3 {
            vec![first, ToolKind::Global]
        } else {
            vec![first]
        }
    }

    /// Whether work keyed by `key` (an email's notification) calls a tool:
    /// the same share as chat messages, seeded the same way.
    pub(crate) fn calls_tool(&self, key: &str) -> bool {
        self.drawn(splitmix64(self.seed ^ fnv1a(key)))
    }

    fn drawn(&self, h: u64) -> bool {
        ((h % 10_000) as f64 / 100.0) < self.cfg.tool_call_pct
    }

    /// Looks `query` up in the tool's namespace; a miss stores a result
    /// of `bytes` bytes. An uncached tool always misses.
    pub(crate) fn lookup(&self, tool: ToolKind, query: &str, bytes: u64) -> Lookup {
        let Some(name) = self.namespace(tool) else {
            return Lookup::Miss;
        };
        let key = fnv1a(query.trim());
        let now = Instant::now();
        let mut spaces = lock(&self.spaces);
        let space = spaces
            .entry(name)
            .or_insert_with(|| Namespace::new(self.ttl(tool)));
        let ttl = space.ttl;
        if let Some(entry) = space.entries.get(&key)
            && now.duration_since(entry.stored) < ttl
        {
            space.hits += 1;
            return Lookup::Hit;
        }
        space.misses += 1;
        if space.entries.len() >= MAX_ENTRIES {
            space
                .entries
                .retain(|_, e| now.duration_since(e.stored) < ttl);
        }
        if space.entries.len() < MAX_ENTRIES {
            space.entries.insert(key, Entry { stored: now, bytes });
        }
        Lookup::Miss
    }

    /// Per-namespace figures over at most `limit` entries (the rows a
    /// scan would read), namespaces in name order.
    pub(crate) fn stats(&self, limit: usize) -> Value {
        let now = Instant::now();
        let spaces = lock(&self.spaces);
        let mut budget = limit;
        let mut scanned = 0usize;
        let mut rows = Vec::with_capacity(spaces.len());
        for (name, space) in spaces.iter() {
            let take = space.entries.len().min(budget);
            budget -= take;
            scanned += take;
            let (mut live, mut expired, mut bytes) = (0u64, 0u64, 0u64);
            let mut oldest: Option<Duration> = None;
            for entry in space.entries.values().take(take) {
                let age = now.duration_since(entry.stored);
                if age < space.ttl {
                    live += 1;
                } else {
                    expired += 1;
                }
                bytes += entry.bytes;
                oldest = Some(oldest.map_or(age, |o| o.max(age)));
            }
            let lookups = space.hits + space.misses;
            rows.push(json!({
                "namespace": name,
                "entries": take,
                "live": live,
                "expired": expired,
                "bytes": bytes,
                "oldest_age_ms": oldest.map(|d| d.as_millis() as u64),
                "ttl_ms": space.ttl.as_millis() as u64,
                "hits": space.hits,
                "misses": space.misses,
                "hit_rate": if lookups == 0 { Value::Null } else { json!(space.hits as f64 / lookups as f64) },
                "cleared": space.cleared,
                "truncated": take < space.entries.len(),
            }));
        }
        let total: usize = spaces.values().map(|s| s.entries.len()).sum();
        json!({
            "namespaces": rows,
            "scanned": scanned,
            "limit": limit,
            "truncated": scanned < total,
        })
    }

    /// Deletes every entry of `namespace`; returns how many there were.
    pub(crate) fn clear(&self, namespace: &str) -> u64 {
        let mut spaces = lock(&self.spaces);
        match spaces.get_mut(namespace) {
            Some(space) => {
                let n = space.entries.len() as u64;
                space.entries.clear();
                space.cleared += n;
                n
            }
            None => 0,
        }
    }

    /// Entries per namespace, for the snapshot.
    pub(crate) fn entry_counts(&self) -> Vec<(String, usize)> {
        lock(&self.spaces)
            .iter()
            .map(|(name, space)| (name.clone(), space.entries.len()))
            .collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(pct: f64) -> ToolCache {
        ToolCache::new(
            ToolCacheConfig {
                web_search_ttl: Duration::from_secs(60),
                product_search_ttl: Duration::from_millis(1),
                web_search_version: 3,
                products_version: 1,
                tool_call_pct: pct,
            },
            7,
        )
    }

    #[test]
    fn a_repeated_query_hits_until_cleared() {
        let c = cache(100.0);
        assert_eq!(c.lookup(ToolKind::Web, "rust", 10), Lookup::Miss);
        assert_eq!(c.lookup(ToolKind::Web, "rust", 10), Lookup::Hit);
        assert_eq!(c.lookup(ToolKind::Web, " rust ", 10), Lookup::Hit);
        assert_eq!(c.lookup(ToolKind::Global, "rust", 10), Lookup::Miss);
        assert_eq!(
            c.lookup(ToolKind::Global, "rust", 10),
            Lookup::Miss,
            "not cached"
        );
        let stats = c.stats(5000);
        let row = &stats["namespaces"][0];
        assert_eq!(row["namespace"], "search_web_v3");
        assert_eq!(
            (row["entries"].as_u64(), row["hits"].as_u64()),
            (Some(1), Some(2))
        );
        assert_eq!(c.clear("search_web_v3"), 1);
        assert_eq!(c.clear("search_web_v3"), 0);
        assert_eq!(c.clear("nothing"), 0);
        assert_eq!(c.lookup(ToolKind::Web, "rust", 10), Lookup::Miss);
    }

    #[test]
    fn entries_expire_after_their_ttl() {
        let c = cache(100.0);
        assert_eq!(c.lookup(ToolKind::Product, "shoes", 1), Lookup::Miss);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(c.lookup(ToolKind::Product, "shoes", 1), Lookup::Miss);
        assert_eq!(c.stats(10)["namespaces"][0]["expired"], 0);
    }

    #[test]
    fn stats_scan_at_most_limit_entries() {
        let c = cache(100.0);
        for i in 0..10 {
            c.lookup(ToolKind::Web, &format!("q{i}"), 1);
        }
        let stats = c.stats(4);
        assert_eq!(stats["scanned"], 4);
        assert_eq!(stats["truncated"], true);
    }

    #[test]
    fn tool_calls_follow_the_share_and_the_text() {
        let c = cache(30.0);
        let calls = (0..10_000)
            .filter(|i| !c.tools_for(&format!("message {i}")).is_empty())
            .count();
        assert!((2_700..3_300).contains(&calls), "{calls}");
        assert_eq!(c.tools_for("same"), c.tools_for("same"));
        assert!(cache(0.0).tools_for("x").is_empty());
    }
}
