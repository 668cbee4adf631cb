//! Reference counts of one object: per role, the references each connection holds and the
//! references in flight (serialized handles not yet received).
//!
//! Most objects are referenced by one connection, so the counts live in a small vector that
//! holds one entry inline (no allocation) rather than a map per role.

use strato_proto::Role;
use thin_vec::ThinVec;

use crate::table::ConnId;

/// The connection that stands for references in flight: real connections count from 1.
const IN_FLIGHT: ConnId = 0;

/// The references of one object, by role: 16 bytes, with no allocation while one
/// connection (in one role) holds them all.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    /// One entry per connection and role with a count above 0; references in flight are
    /// held by [`IN_FLIGHT`].
    held: Holders,
}

/// A list of [`Held`] that keeps one entry inline: 16 bytes (a `SmallVec` takes 24).
#[derive(Debug, Default)]
enum Holders {
    #[default]
    Empty,
    One(Held),
    Many(ThinVec<Held>),
}

impl Holders {
    fn as_slice(&self) -> &[Held] {
        match self {
            Holders::Empty => &[],
            Holders::One(held) => std::slice::from_ref(held),
            Holders::Many(all) => all,
        }
    }

    fn as_mut_slice(&mut self) -> &mut [Held] {
        match self {
            Holders::Empty => &mut [],
            Holders::One(held) => std::slice::from_mut(held),
            Holders::Many(all) => all,
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, Held> {
        self.as_slice().iter()
    }

    fn push(&mut self, held: Held) {
        *self = match std::mem::take(self) {
            Holders::Empty => Holders::One(held),
            Holders::One(first) => Holders::Many(thin_vec::thin_vec![first, held]),
            Holders::Many(mut all) => {
                all.push(held);
                Holders::Many(all)
            }
        };
    }

    /// Keeps the entries `keep` says to; back inline once one is left.
    fn retain(&mut self, keep: impl Fn(&Held) -> bool) {
        *self = match std::mem::take(self) {
            Holders::One(held) if keep(&held) => Holders::One(held),
            Holders::Many(mut all) => {
                all.retain(|h| keep(h));
                match all.len() {
                    0 => Holders::Empty,
                    1 => Holders::One(all[0]),
                    _ => Holders::Many(all),
                }
            }
            _ => Holders::Empty,
        };
    }

    fn is_empty(&self) -> bool {
        self.as_slice().is_empty()
    }
}

/// The references one connection holds in one role, in 8 bytes: the role in the top two
/// bits of `role_count`, the count (saturating at 2³⁰ − 1) below.
#[derive(Debug, Clone, Copy)]
struct Held {
    conn: ConnId,
    role_count: u32,
}

const COUNT_BITS: u32 = 30;
const MAX_COUNT: u32 = (1 << COUNT_BITS) - 1;

impl Held {
    fn new(conn: ConnId, role: Role) -> Held {
        Held {
            conn,
            role_count: (code(role) << COUNT_BITS) | 1,
        }
    }

    fn is(&self, conn: ConnId, role: Role) -> bool {
        self.conn == conn && self.role_code() == code(role)
    }

    fn role_code(&self) -> u32 {
        self.role_count >> COUNT_BITS
    }

    fn count(&self) -> u32 {
        self.role_count & MAX_COUNT
    }

    fn add(&mut self, delta: i64) {
        let count = (i64::from(self.count()) + delta).clamp(0, i64::from(MAX_COUNT)) as u32;
        self.role_count = (self.role_count & !MAX_COUNT) | count;
    }
}

fn code(role: Role) -> u32 {
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
            .as_mut_slice()
            .iter_mut()
            .find(|h| h.is(conn, role))
        {
            Some(held) => held.add(1),
            None => self.held.push(Held::new(conn, role)),
        }
    }

    /// `conn` drops one reference.
    pub fn drop_one(&mut self, conn: ConnId, role: Role) {
        let Some(held) = self
            .held
            .as_mut_slice()
            .iter_mut()
            .find(|h| h.is(conn, role))
        else {
            return;
        };
        held.add(-1);
        if held.count() == 0 {
            self.held.retain(|h| h.count() > 0);
        }
    }

    /// `conn` is gone: all its references drop.
    pub fn drop_conn(&mut self, conn: ConnId) {
        self.held.retain(|h| h.conn != conn);
    }

    /// A reference is in flight.
    pub fn lend(&mut self, role: Role) {
        self.take(IN_FLIGHT, role);
    }

    /// `conn` receives a reference in flight.
    pub fn adopt(&mut self, conn: ConnId, role: Role) {
        self.drop_one(IN_FLIGHT, role);
        self.take(conn, role);
    }

    /// References alive in `role`, held or in flight.
    pub fn count(&self, role: Role) -> u64 {
        self.held
            .iter()
            .filter(|h| h.role_code() == code(role))
            .map(|h| u64::from(h.count()))
            .sum()
    }

    /// Whether no reference of any kind is left.
    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Whether a live connection holds a reference.
    pub fn held(&self) -> bool {
        self.held.iter().any(|h| h.conn != IN_FLIGHT)
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

    #[test]
    fn one_holder_fits_inline_in_16_bytes() {
        assert_eq!(std::mem::size_of::<Refs>(), 16);
        let mut refs = Refs::default();
        refs.take(u32::MAX, Role::Receiver);
        refs.take(u32::MAX, Role::Receiver);
        assert_eq!(refs.count(Role::Receiver), 2);
        assert_eq!(refs.count(Role::Handle), 0);
        assert!(matches!(refs.held, Holders::One(_)));
    }

    #[test]
    fn a_lent_reference_adopted_by_nobody_else_keeps_the_object() {
        let mut refs = Refs::default();
        refs.take(1, Role::Handle);
        refs.lend(Role::Handle);
        refs.drop_conn(1);
        assert!(!refs.held() && !refs.is_empty());
        refs.adopt(2, Role::Handle);
        assert!(refs.held());
        assert_eq!(refs.count(Role::Handle), 1);
    }
}
