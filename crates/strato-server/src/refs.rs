//! Reference counts of one object: per role, the references each connection holds and the
//! references in flight (serialized handles not yet received).
//!
//! Most objects are referenced by one connection, so the counts live in a small vector that
//! holds one entry inline (no allocation) rather than a map per role.

use smallvec::SmallVec;
use strato_proto::Role;

use crate::table::ConnId;

/// The references of one object, by role.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    /// (connection, role, count), one entry per connection and role with a count above 0.
    held: SmallVec<[(ConnId, Role, u32); 1]>,
    /// References in flight, per role.
    lent: [u32; 3],
}

fn index(role: Role) -> usize {
    match role {
        Role::Handle => 0,
        Role::Sender => 1,
        Role::Receiver => 2,
    }
}

impl Refs {
    /// `conn` takes a reference.
    pub fn take(&mut self, conn: ConnId, role: Role) {
        match self
            .held
            .iter_mut()
            .find(|(c, r, _)| *c == conn && *r == role)
        {
            Some((_, _, count)) => *count = count.saturating_add(1),
            None => self.held.push((conn, role, 1)),
        }
    }

    /// `conn` drops one reference.
    pub fn drop_one(&mut self, conn: ConnId, role: Role) {
        let Some(at) = self
            .held
            .iter()
            .position(|(c, r, _)| *c == conn && *r == role)
        else {
            return;
        };
        self.held[at].2 -= 1;
        if self.held[at].2 == 0 {
            self.held.swap_remove(at);
        }
    }

    /// `conn` is gone: all its references drop.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.held.retain(|(c, _, _)| *c != conn);
    }

    /// A reference is in flight.
    pub fn lend(&mut self, role: Role) {
        let lent = &mut self.lent[index(role)];
        *lent = lent.saturating_add(1);
    }

    /// `conn` receives a reference in flight.
    pub fn adopt(&mut self, conn: ConnId, role: Role) {
        let lent = &mut self.lent[index(role)];
        *lent = lent.saturating_sub(1);
        self.take(conn, role);
    }

    /// References alive in `role`.
    pub fn count(&self, role: Role) -> u64 {
        let held: u64 = self
            .held
            .iter()
            .filter(|(_, r, _)| *r == role)
            .map(|(_, _, n)| u64::from(*n))
            .sum();
        held + u64::from(self.lent[index(role)])
    }

    /// Whether no reference of any kind is left.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty() && self.lent.iter().all(|n| *n == 0)
    }

    /// Whether a live connection holds a reference.
    pub fn held(&self) -> bool {
        !self.held.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_role_and_connection() {
        let mut refs = Refs::default();
        refs.take(1, Role::Sender);
        refs.take(1, Role::Sender);
        refs.take(2, Role::Receiver);
        refs.lend(Role::Sender);
        assert_eq!(refs.count(Role::Sender), 3);
        refs.drop_one(1, Role::Sender);
        refs.adopt(3, Role::Sender);
        assert_eq!(
            (refs.count(Role::Sender), refs.count(Role::Receiver)),
            (2, 1)
        );
        refs.drop_conn(1);
        refs.drop_conn(2);
        assert!(refs.held() && !refs.is_empty());
        refs.drop_one(3, Role::Sender);
        assert!(refs.is_empty());
    }
}
