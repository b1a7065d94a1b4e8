//! Runtime-free waiting primitives for scenarios: a gate responders wait
//! behind, and a counter a scenario can wait on.

use std::sync::{Mutex, MutexGuard};

use event_listener::Event;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A semaphore starting empty: [`pass`](Self::pass) waits for a permit,
/// [`open`](Self::open) hands permits out.
#[derive(Default)]
pub struct Gate {
    permits: Mutex<usize>,
    changed: Event,
}

impl Gate {
    /// Lets `n` more waiters through.
    pub fn open(&self, n: usize) {
        *lock(&self.permits) += n;
        self.changed.notify(usize::MAX);
    }

    /// Waits for a permit and takes it.
    pub async fn pass(&self) {
        loop {
            let listener = self.changed.listen();
            {
                let mut permits = lock(&self.permits);
                if *permits > 0 {
                    *permits -= 1;
                    return;
                }
            }
            listener.await;
        }
    }
}

/// A number that goes up and down, and can be waited on.
#[derive(Default)]
pub struct Counter {
    value: Mutex<usize>,
    changed: Event,
}

impl Counter {
    /// Adds one; returns the new value.
    pub fn up(&self) -> usize {
        let mut value = lock(&self.value);
        *value += 1;
        let now = *value;
        drop(value);
        self.changed.notify(usize::MAX);
        now
    }

    /// Takes one away; returns the new value.
    pub fn down(&self) -> usize {
        let mut value = lock(&self.value);
        *value -= 1;
        let now = *value;
        drop(value);
        self.changed.notify(usize::MAX);
        now
    }

    /// The value now.
    pub fn get(&self) -> usize {
        *lock(&self.value)
    }

    /// Waits until the value is at least `n`.
    pub async fn at_least(&self, n: usize) {
        loop {
            let listener = self.changed.listen();
            if self.get() >= n {
                return;
            }
            listener.await;
        }
    }
}
