//! [`Follows`]: who follows which session, both ways, bounded per follower. Nodes follow
//! sessions (`node.event chat.subscribe`, [`super::node_events`]) and connections follow
//! one session's messages (`sessions.messages.subscribe`, [`super::session_events`]).

use std::collections::{HashMap, HashSet};

/// Followers (by id, each with its `F`) of keys, at most `max_per` keys per follower.
#[derive(Debug)]
pub struct Follows<F> {
    by_key: HashMap<String, HashSet<String>>,
    followers: HashMap<String, (F, HashSet<String>)>,
    max_per: usize,
}

impl<F> Follows<F> {
    /// Empty, at most `max_per` keys per follower.
    pub fn new(max_per: usize) -> Self {
        Self {
            by_key: HashMap::new(),
            followers: HashMap::new(),
            max_per,
        }
    }

    /// `who` follows `key` (its `F` made by `data` if it follows nothing yet); `false` when
    /// it already follows the most it may.
    pub fn follow(&mut self, who: &str, key: &str, data: impl FnOnce() -> F) -> bool {
        let (_, keys) = self
            .followers
            .entry(who.to_owned())
            .or_insert_with(|| (data(), HashSet::new()));
        if !keys.contains(key) && keys.len() >= self.max_per {
            if keys.is_empty() {
                self.followers.remove(who);
            }
            return false;
        }
        keys.insert(key.to_owned());
        self.by_key
            .entry(key.to_owned())
            .or_default()
            .insert(who.to_owned());
        true
    }

    /// `who` stops following `key`.
    pub fn unfollow(&mut self, who: &str, key: &str) {
        if let Some((_, keys)) = self.followers.get_mut(who) {
            keys.remove(key);
            if keys.is_empty() {
                self.followers.remove(who);
            }
        }
        self.drop_from_key(key, who);
    }

    /// `who` follows nothing any more.
    pub fn forget(&mut self, who: &str) {
        let Some((_, keys)) = self.followers.remove(who) else {
            return;
        };
        for key in keys {
            self.drop_from_key(&key, who);
        }
    }

    fn drop_from_key(&mut self, key: &str, who: &str) {
        if let Some(set) = self.by_key.get_mut(key) {
            set.remove(who);
            if set.is_empty() {
                self.by_key.remove(key);
            }
        }
    }

    /// The followers of `key`, with their `F`.
    pub fn followers(&self, key: &str) -> impl Iterator<Item = (&String, &F)> {
        self.by_key
            .get(key)
            .into_iter()
            .flatten()
            .filter_map(|who| self.followers.get(who).map(|(f, _)| (who, f)))
    }

    /// Whether `who` follows anything.
    pub fn follows_any(&self, who: &str) -> bool {
        self.followers.contains_key(who)
    }

    /// How many follow something.
    pub fn follower_count(&self) -> usize {
        self.followers.len()
    }

    /// Forgets the followers `dead` says are gone.
    pub fn forget_where(&mut self, dead: impl Fn(&F) -> bool) {
        let gone: Vec<String> = self
            .followers
            .iter()
            .filter(|(_, (f, _))| dead(f))
            .map(|(w, _)| w.clone())
            .collect();
        for w in gone {
            self.forget(&w);
        }
    }

    /// Whether nobody follows anything.
    pub fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn follows_are_bounded_per_follower_and_forgotten_with_it() {
        let mut s: Follows<u8> = Follows::new(3);
        for i in 0..3 {
            assert!(s.follow("n1", &format!("k{i}"), || 1));
        }
        assert!(!s.follow("n1", "one-more", || 1));
        assert!(s.follow("n1", "k0", || 1), "an existing one is not refused");
        assert!(s.follow("n2", "k0", || 2));
        assert_eq!(s.followers("k0").count(), 2);
        s.unfollow("n2", "k0");
        assert!(!s.follows_any("n2"));
        assert_eq!(
            s.followers("k0")
                .map(|(w, f)| (w.clone(), *f))
                .collect::<Vec<_>>(),
            [("n1".to_owned(), 1)]
        );
        s.follow("n3", "k9", || 3);
        s.forget_where(|f| *f == 3);
        assert_eq!(s.follower_count(), 1);
        s.forget("n1");
        assert!(s.is_empty());
        assert_eq!(s.followers("k0").count(), 0);
        let mut z: Follows<()> = Follows::new(0);
        assert!(!z.follow("a", "k", || ()));
        assert_eq!(
            z.follower_count(),
            0,
            "a refused first follow leaves nothing"
        );
    }
}
