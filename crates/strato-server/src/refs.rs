//! Reference counts of one object: per role, the references each connection holds and the
//! references in flight (serialized handles not yet received).

use std::collections::HashMap;

use strato_proto::Role;

use crate::table::ConnId;

#[derive(Debug, Default)]
struct RoleRefs {
    held: HashMap<ConnId, u64>,
    lent: u64,
}

impl RoleRefs {
    fn total(&self) -> u64 {
        self.held.values().sum::<u64>() + self.lent
    }
}

/// The references of one object, by role.
#[derive(Debug, Default)]
pub(crate) struct Refs {
    roles: [RoleRefs; 3],
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
        *self.roles[index(role)].held.entry(conn).or_default() += 1;
    }

    /// `conn` drops one reference.
    pub fn drop_one(&mut self, conn: ConnId, role: Role) {
        let held = &mut self.roles[index(role)].held;
        if let Some(count) = held.get_mut(&conn) {
            *count -= 1;
            if *count == 0 {
                held.remove(&conn);
            }
        }
    }

    /// `conn` is gone: all its references drop.
    pub fn drop_conn(&mut self, conn: ConnId) {
        for role in &mut self.roles {
            role.held.remove(&conn);
        }
    }

    /// A reference is in flight.
    pub fn lend(&mut self, role: Role) {
        self.roles[index(role)].lent += 1;
    }

    /// `conn` receives a reference in flight.
    pub fn adopt(&mut self, conn: ConnId, role: Role) {
        let refs = &mut self.roles[index(role)];
        refs.lent = refs.lent.saturating_sub(1);
        self.take(conn, role);
    }

    /// References alive in `role`.
    pub fn count(&self, role: Role) -> u64 {
        self.roles[index(role)].total()
    }

    /// Whether no reference of any kind is left.
    pub fn is_empty(&self) -> bool {
        self.roles.iter().all(|r| r.total() == 0)
    }

    /// Whether a live connection holds a reference.
    pub fn held(&self) -> bool {
        self.roles.iter().any(|r| !r.held.is_empty())
    }
}
