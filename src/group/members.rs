//! The membership of a group: members in slots, each found by a [`SessionId`] that stays
//! valid while its member is in, and a name. Shared by the blocking [`Group`] and the
//! async group (feature `tokio`), whose members are sessions of their own kind.
//!
//! [`Group`]: crate::Group

use crate::engine::session::Session;
use crate::engine::transport::Transport;
use crate::group::SessionId;

/// Members of type `M` (a session) in slots. A slot freed by a removal is reused, with its
/// generation bumped, so that the old id finds nothing.
pub(crate) struct Members<M> {
    slots: Vec<Slot<M>>,
    free: Vec<u32>,
    len: usize,
}

struct Slot<M> {
    generation: u32,
    member: Option<(String, M)>,
}

impl<M> Default for Members<M> {
    fn default() -> Self {
        Members {
            slots: Vec::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl<M> Members<M> {
    /// Adds a member, named `session-N` after its slot unless `name` is given.
    pub(crate) fn insert(&mut self, name: Option<String>, member: M) -> SessionId {
        let index = match self.free.pop() {
            Some(index) => index,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    member: None,
                });
                u32::try_from(self.slots.len() - 1).expect("fewer than 2^32 sessions")
            }
        };
        let slot = &mut self.slots[index as usize];
        let name = name.unwrap_or_else(|| format!("session-{index}"));
        slot.member = Some((name, member));
        self.len += 1;
        SessionId {
            index,
            generation: slot.generation,
        }
    }

    /// Takes a member out; its id then finds nothing.
    pub(crate) fn remove(&mut self, id: SessionId) -> Option<M> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        let (_, member) = slot.member.take()?;
        slot.generation = slot.generation.wrapping_add(1);
        self.free.push(id.index);
        self.len -= 1;
        Some(member)
    }

    fn entry(&self, id: SessionId) -> Option<&(String, M)> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.member.as_ref())
            .flatten()
    }

    /// The member with this id.
    pub(crate) fn get(&self, id: SessionId) -> Option<&M> {
        self.entry(id).map(|(_, m)| m)
    }

    /// The member with this id, mutably.
    pub(crate) fn get_mut(&mut self, id: SessionId) -> Option<&mut M> {
        let slot = self.slots.get_mut(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.member.as_mut())
            .flatten()
            .map(|(_, m)| m)
    }

    /// The member's name.
    pub(crate) fn name(&self, id: SessionId) -> Option<&str> {
        self.entry(id).map(|(name, _)| name.as_str())
    }

    /// The member's name, or `(removed)`.
    pub(crate) fn name_of(&self, id: SessionId) -> &str {
        self.name(id).unwrap_or("(removed)")
    }

    /// The members with their ids, in slot order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (SessionId, &M)> {
        self.slots.iter().enumerate().filter_map(|(index, slot)| {
            let (_, member) = slot.member.as_ref()?;
            let id = SessionId {
                index: index as u32,
                generation: slot.generation,
            };
            Some((id, member))
        })
    }

    /// The members with their ids, mutably.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (SessionId, &mut M)> {
        self.slots
            .iter_mut()
            .enumerate()
            .filter_map(|(index, slot)| {
                let generation = slot.generation;
                let (_, member) = slot.member.as_mut()?;
                let id = SessionId {
                    index: index as u32,
                    generation,
                };
                Some((id, member))
            })
    }

    /// The ids, in slot order.
    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.iter().map(|(id, _)| id).collect()
    }

    /// How many members there are.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// How many slots there are (an upper bound of every id's [`SessionId::slot`]).
    pub(crate) fn slots(&self) -> usize {
        self.slots.len()
    }
}

/// A member that is a session over `T`: what a wait over the group reads and matches.
pub(crate) trait Member<T: Transport> {
    fn session(&self) -> &Session<T>;
    fn session_mut(&mut self) -> &mut Session<T>;
}

impl<T: Transport> Member<T> for Session<T> {
    fn session(&self) -> &Session<T> {
        self
    }

    fn session_mut(&mut self) -> &mut Session<T> {
        self
    }
}
