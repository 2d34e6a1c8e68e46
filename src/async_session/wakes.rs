//! Which members of an async group the reactor found ready: each member's fds are polled
//! with a waker of its own, which notes the member's slot in a queue and wakes the task
//! waiting on the group. A wait then looks only at the members in the queue — the cost of
//! a wakeup is the members that woke, not the members there are.
//!
//! The queue belongs to the group, not to a wait, so a wake that no wait has taken yet
//! (the wait was dropped, or the member was not named) is still there for the next one.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Wake, Waker};

/// The queue of woken slots and the waker of the task waiting on them.
#[derive(Debug, Default)]
pub(crate) struct Wakes {
    shared: Arc<Mutex<Queue>>,
}

#[derive(Debug, Default)]
struct Queue {
    /// Slots woken since the last `take`, each once.
    woken: Vec<usize>,
    /// By slot: in `woken`.
    queued: Vec<bool>,
    /// The task to wake when a slot is woken.
    task: Option<Waker>,
}

fn lock(shared: &Mutex<Queue>) -> MutexGuard<'_, Queue> {
    // The lock is held for a few assignments that cannot panic; a poisoned lock still
    // holds a consistent queue.
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Wakes {
    /// The waker of slot `slot`: waking it queues the slot and wakes the task.
    pub(crate) fn waker(&self, slot: usize) -> Waker {
        Waker::from(Arc::new(SlotWaker {
            slot,
            shared: Arc::clone(&self.shared),
        }))
    }

    /// Sets the task that a woken slot wakes (the one polling the wait now).
    pub(crate) fn set_task(&self, task: &Waker) {
        let mut queue = lock(&self.shared);
        if !queue.task.as_ref().is_some_and(|t| t.will_wake(task)) {
            queue.task = Some(task.clone());
        }
    }

    /// Forgets the task (its wait is over).
    pub(crate) fn clear_task(&self) {
        lock(&self.shared).task = None;
    }

    /// Moves the woken slots into `into` (cleared first), emptying the queue.
    pub(crate) fn take(&self, into: &mut Vec<usize>) {
        into.clear();
        let mut queue = lock(&self.shared);
        let Queue { woken, queued, .. } = &mut *queue;
        for &slot in woken.iter() {
            queued[slot] = false;
        }
        std::mem::swap(woken, into);
    }
}

struct SlotWaker {
    slot: usize,
    shared: Arc<Mutex<Queue>>,
}

impl Wake for SlotWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let task = {
            let mut queue = lock(&self.shared);
            if queue.queued.len() <= self.slot {
                queue.queued.resize(self.slot + 1, false);
            }
            if !std::mem::replace(&mut queue.queued[self.slot], true) {
                queue.woken.push(self.slot);
            }
            queue.task.clone()
        };
        // Woken outside the lock: the task may run at once, on another thread.
        if let Some(task) = task {
            task.wake();
        }
    }
}
