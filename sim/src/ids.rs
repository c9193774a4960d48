//! Deterministic randomness: Mongo-style ids and per-execution draws derived from the seed.
//!
//! Per-execution draws (transition length, stuck or not) are a pure function of the seed, the
//! execution id and how many transitions it has had, so the outcome does not depend on the order
//! in which concurrent requests arrive.

use std::collections::HashSet;

/// SplitMix64: a tiny, well-mixed hash step; good enough to derive reproducible draws.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a of a string, to fold an id into a draw.
pub fn hash_str(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A uniform draw in `[0, 1)` for (seed, id, salt).
pub fn unit_draw(seed: u64, id: &str, salt: u64) -> f64 {
    let bits = mix(seed ^ mix(hash_str(id) ^ mix(salt)));
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// Hands out unique 24-hex-digit ids (the shape of Mongo ObjectIds), reproducible from the seed.
#[derive(Debug)]
pub struct IdGenerator {
    seed: u64,
    counter: u64,
    issued: HashSet<String>,
}

impl IdGenerator {
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            counter: 0,
            issued: HashSet::new(),
        }
    }

    /// Marks an id given explicitly (by a scenario file) as taken.
    pub fn reserve(&mut self, id: &str) -> bool {
        self.issued.insert(id.to_owned())
    }

    pub fn next_id(&mut self) -> String {
        loop {
            self.counter += 1;
            let hi = mix(self.seed ^ mix(self.counter));
            let lo = mix(hi ^ self.counter);
            // 8 hex digits from `hi` (a timestamp-like prefix in real ObjectIds), 16 from `lo`.
            let id = format!("{:08x}{:016x}", hi >> 32, lo);
            if self.issued.insert(id.clone()) {
                return id;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_24_hex_unique_and_reproducible() {
        let mut a = IdGenerator::new(7);
        let mut b = IdGenerator::new(7);
        let ids: Vec<String> = (0..1000).map(|_| a.next_id()).collect();
        for id in &ids {
            assert_eq!(id.len(), 24);
            assert!(id.chars().all(|c| c.is_ascii_hexdigit()));
            assert_eq!(*id, b.next_id());
        }
        let unique: HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        assert_ne!(IdGenerator::new(8).next_id(), ids[0]);
    }

    #[test]
    fn unit_draw_is_in_range() {
        for salt in 0..1000 {
            let d = unit_draw(1, "abc", salt);
            assert!((0.0..1.0).contains(&d));
        }
    }
}
