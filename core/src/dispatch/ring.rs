//! A consistent-hash ring with virtual nodes (as timebertt's sharder: sorted tokens,
//! lookup by binary search, rebuilt on membership change).

use super::stable_hash;

/// A consistent-hash ring: each member owns `vnodes` tokens; a position belongs to the
/// member of the first token at or after it (wrapping around).
///
/// Adding a member takes over only the arcs just before its new tokens (about
/// `1/(N+1)` of all positions); removing one hands only its arcs to the members of the
/// following tokens. Tokens are [`stable_hash`]`((member, vnode))`, so a ring is the
/// same in every run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HashRing {
    vnodes: usize,
    /// (token, member), sorted.
    tokens: Vec<(u64, usize)>,
}

impl HashRing {
    /// An empty ring whose members get `vnodes` tokens each.
    pub fn new(vnodes: usize) -> Self {
        HashRing {
            vnodes: vnodes.max(1),
            tokens: Vec::new(),
        }
    }

    /// A ring of `members`.
    pub fn with_members(members: impl IntoIterator<Item = usize>, vnodes: usize) -> Self {
        let mut ring = HashRing::new(vnodes);
        for m in members {
            ring.tokens
                .extend((0..ring.vnodes).map(|v| (Self::token(m, v), m)));
        }
        ring.tokens.sort_unstable();
        ring
    }

    /// The token of `member`'s virtual node `vnode`.
    pub fn token(member: usize, vnode: usize) -> u64 {
        stable_hash(&(member as u64, vnode as u64))
    }

    /// Virtual nodes per member.
    pub fn vnodes(&self) -> usize {
        self.vnodes
    }

    /// Adds `member` (no-op if present).
    pub fn insert(&mut self, member: usize) {
        if self.contains(member) {
            return;
        }
        self.tokens
            .extend((0..self.vnodes).map(|v| (Self::token(member, v), member)));
        self.tokens.sort_unstable();
    }

    /// Removes `member` (no-op if absent).
    pub fn remove(&mut self, member: usize) {
        self.tokens.retain(|&(_, m)| m != member);
    }

    /// Whether `member` is on the ring.
    pub fn contains(&self, member: usize) -> bool {
        self.tokens.iter().any(|&(_, m)| m == member)
    }

    /// The members, ascending.
    pub fn members(&self) -> Vec<usize> {
        let mut m: Vec<usize> = self.tokens.iter().map(|&(_, m)| m).collect();
        m.sort_unstable();
        m.dedup();
        m
    }

    /// The member owning `position`, or `None` on an empty ring.
    pub fn owner(&self, position: u64) -> Option<usize> {
        if self.tokens.is_empty() {
            return None;
        }
        let i = self.tokens.partition_point(|&(t, _)| t < position);
        Some(self.tokens[if i == self.tokens.len() { 0 } else { i }].1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_the_next_token_wrapping() {
        let ring = HashRing::with_members([0, 1, 2], 10);
        assert_eq!(ring.tokens.len(), 30);
        let (first_token, first_member) = ring.tokens[0];
        let (last_token, _) = *ring.tokens.last().unwrap();
        assert_eq!(ring.owner(first_token), Some(first_member));
        assert_eq!(ring.owner(last_token + 1), Some(first_member), "wraps");
        assert_eq!(ring.owner(0), Some(first_member));
        let (t1, m1) = ring.tokens[1];
        assert_eq!(ring.owner(first_token + 1), Some(m1));
        assert_eq!(ring.owner(t1), Some(m1));
        assert_eq!(HashRing::new(5).owner(42), None);
    }

    #[test]
    fn membership_changes() {
        let mut ring = HashRing::with_members([0, 1], 100);
        ring.insert(5);
        ring.insert(5);
        assert_eq!(ring.members(), [0, 1, 5]);
        assert_eq!(ring.tokens.len(), 300);
        ring.remove(0);
        assert_eq!(ring.members(), [1, 5]);
        assert!(!ring.contains(0));
        assert_eq!(ring, HashRing::with_members([1, 5], 100));
    }

    #[test]
    fn shares_are_balanced_with_100_vnodes() {
        let ring = HashRing::with_members(0..4, 100);
        let mut counts = [0usize; 4];
        for k in 0..40_000u64 {
            counts[ring.owner(stable_hash(&k)).unwrap()] += 1;
        }
        for c in counts {
            assert!((7_000..13_000).contains(&c), "{counts:?}");
        }
    }
}
