//! A posting list of object ids: a sorted `Vec<u32>` while it holds at most
//! [`SMALL_MAX`] ids, a `roaring` bitmap past that.
//!
//! Most posting lists of a cluster are small (one owner's dependents, one template
//! hash's pods, one app's pods): for them an insert is a binary search and a short
//! shift in one cache line or two, where a bitmap insert also searches its container
//! index and manages containers. Large lists (a namespace, `env=prod`) keep roaring's
//! bounded inserts and fast intersections. A list that shrinks back to half the bound
//! becomes a vector again (the gap keeps a list at the bound from switching on every
//! write). Not synchronized: the index keeps each list under its map shard's lock.

use roaring::RoaringBitmap;

/// The most ids a posting list keeps in its sorted vector.
pub(crate) const SMALL_MAX: usize = 32;

/// A posting list (see the [module docs](self)).
#[derive(Clone, Debug)]
pub(crate) enum Posting {
    /// At most [`SMALL_MAX`] ids, ascending, no duplicates.
    Small(Vec<u32>),
    /// More ids (or a list that has not shrunk to `SMALL_MAX / 2` yet).
    Large(RoaringBitmap),
}

impl Default for Posting {
    fn default() -> Self {
        Posting::Small(Vec::new())
    }
}

fn bitmap_of(sorted: &[u32]) -> RoaringBitmap {
    RoaringBitmap::from_sorted_iter(sorted.iter().copied())
        .unwrap_or_else(|_| sorted.iter().copied().collect())
}

impl Posting {
    /// The list holding the ids of `b`.
    pub(crate) fn from_bitmap(b: RoaringBitmap) -> Self {
        if b.len() as usize <= SMALL_MAX {
            Posting::Small(b.iter().collect())
        } else {
            Posting::Large(b)
        }
    }

    /// Adds `id` (no-op if present).
    pub(crate) fn insert(&mut self, id: u32) {
        match self {
            Posting::Small(v) => {
                // Ids mostly arrive in ascending order: append without a search.
                if v.last().is_none_or(|&last| last < id) {
                    if v.len() < SMALL_MAX {
                        v.push(id);
                        return;
                    }
                } else {
                    match v.binary_search(&id) {
                        Ok(_) => return,
                        Err(at) if v.len() < SMALL_MAX => {
                            v.insert(at, id);
                            return;
                        }
                        Err(_) => {}
                    }
                }
                let mut b = bitmap_of(v);
                b.insert(id);
                *self = Posting::Large(b);
            }
            Posting::Large(b) => {
                b.insert(id);
            }
        }
    }

    /// Removes `id` (no-op if absent).
    pub(crate) fn remove(&mut self, id: u32) {
        match self {
            Posting::Small(v) => {
                if let Ok(at) = v.binary_search(&id) {
                    v.remove(at);
                }
            }
            Posting::Large(b) => {
                if b.remove(id) && b.len() as usize <= SMALL_MAX / 2 {
                    *self = Posting::Small(b.iter().collect());
                }
            }
        }
    }

    /// Whether the list is empty.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Posting::Small(v) => v.is_empty(),
            Posting::Large(b) => b.is_empty(),
        }
    }

    /// Number of ids.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Posting::Small(v) => v.len() as u64,
            Posting::Large(b) => b.len(),
        }
    }

    /// The ids, ascending.
    pub(crate) fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        let (small, large) = match self {
            Posting::Small(v) => (Some(v.iter().copied()), None),
            Posting::Large(b) => (None, Some(b.iter())),
        };
        small
            .into_iter()
            .flatten()
            .chain(large.into_iter().flatten())
    }

    /// The ids as a bitmap.
    pub(crate) fn to_bitmap(&self) -> RoaringBitmap {
        match self {
            Posting::Small(v) => bitmap_of(v),
            Posting::Large(b) => b.clone(),
        }
    }

    /// `acc ∩= self`.
    pub(crate) fn and_into(&self, acc: &mut RoaringBitmap) {
        match self {
            Posting::Small(v) => {
                let kept: Vec<u32> = v.iter().copied().filter(|&id| acc.contains(id)).collect();
                *acc = bitmap_of(&kept);
            }
            Posting::Large(b) => *acc &= b,
        }
    }

    /// `acc ∪= self`.
    pub(crate) fn or_into(&self, acc: &mut RoaringBitmap) {
        match self {
            Posting::Small(v) => {
                for &id in v {
                    acc.insert(id);
                }
            }
            Posting::Large(b) => *acc |= b,
        }
    }

    /// Approximate bytes of the ids.
    pub(crate) fn serialized_size(&self) -> usize {
        match self {
            Posting::Small(v) => 4 * v.capacity(),
            Posting::Large(b) => b.serialized_size(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    use std::collections::BTreeSet;

    /// Random inserts and removes, ascending and not, across the small/large
    /// boundary both ways: the list always equals a `BTreeSet` model, and its
    /// representation follows the bounds.
    #[test]
    fn matches_a_set_model_across_the_representation_switch() {
        let mut rng = SmallRng::seed_from_u64(7);
        for round in 0..200 {
            let mut p = Posting::default();
            let mut model = BTreeSet::new();
            let range = if round % 2 == 0 { 64 } else { 1 << 20 };
            for step in 0..400 {
                // Grow first, then shrink, then mix.
                let insert = match step {
                    0..=149 => rng.random_bool(0.8),
                    150..=299 => rng.random_bool(0.2),
                    _ => rng.random_bool(0.5),
                };
                let id = if insert && rng.random_bool(0.5) {
                    model
                        .last()
                        .map_or(0, |&l: &u32| l + 1 + rng.random_range(0..3))
                } else {
                    rng.random_range(0..range)
                };
                if insert {
                    p.insert(id);
                    model.insert(id);
                } else {
                    p.remove(id);
                    model.remove(&id);
                }
                assert_eq!(p.len(), model.len() as u64);
                assert_eq!(p.is_empty(), model.is_empty());
                match &p {
                    Posting::Small(v) => assert!(v.len() <= SMALL_MAX),
                    Posting::Large(b) => assert!(b.len() as usize > SMALL_MAX / 2),
                }
            }
            let ids: Vec<u32> = p.iter().collect();
            assert_eq!(ids, model.iter().copied().collect::<Vec<_>>());
            assert_eq!(p.to_bitmap().iter().collect::<Vec<_>>(), ids);
        }
    }

    #[test]
    fn set_operations_agree_with_bitmaps() {
        let small = Posting::from_bitmap((0..20).map(|i| i * 3).collect());
        let large = Posting::from_bitmap((0..100).map(|i| i * 2).collect());
        assert!(matches!(small, Posting::Small(_)));
        assert!(matches!(large, Posting::Large(_)));
        for p in [&small, &large] {
            let base: RoaringBitmap = (0..90).collect();
            let mut and = base.clone();
            p.and_into(&mut and);
            assert_eq!(and, &base & &p.to_bitmap());
            let mut or = base.clone();
            p.or_into(&mut or);
            assert_eq!(or, &base | &p.to_bitmap());
        }
    }
}
