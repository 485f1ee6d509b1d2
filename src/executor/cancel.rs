//! Cancellation: a flag set once (Ctrl-C, a failing sibling step) that
//! running steps poll or wait on. Clones share the flag.

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Clone, Default)]
pub struct Cancel(Arc<(Mutex<bool>, Condvar)>);

impl Cancel {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the flag and wakes every waiter.
    pub fn cancel(&self) {
        let (m, c) = &*self.0;
        *m.lock().unwrap_or_else(|e| e.into_inner()) = true;
        c.notify_all();
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sleeps up to `d`, returning early (true) if cancelled meanwhile.
    pub fn wait_timeout(&self, d: Duration) -> bool {
        let (m, c) = &*self.0;
        let g = m.lock().unwrap_or_else(|e| e.into_inner());
        let (g, _) = c.wait_timeout_while(g, d, |cancelled| !*cancelled).unwrap_or_else(|e| e.into_inner());
        *g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_waiter_wakes_when_cancelled_from_another_thread() {
        let c = Cancel::new();
        let c2 = c.clone();
        let t = std::thread::spawn(move || c2.wait_timeout(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        c.cancel();
        assert!(t.join().unwrap());
        assert!(c.is_cancelled());
    }
}
