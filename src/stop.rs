//! Asking running work to stop early and unwind normally: a signal (SIGTERM,
//! SIGINT), the daemon's shutdown timeout or a job's time limit requests a stop;
//! the fetch gives up at its next await, the release transaction is interrupted by
//! SQLite's progress handler and rolls back, a running export command is killed.
//! Unwinding instead of exiting on the spot is what removes the temporary payload
//! files (their destructors run) and lets the run be recorded with its real cause.

use std::sync::Arc;

use tokio::sync::watch;

/// A shared stop request with its reason. Clones share the request.
#[derive(Debug, Clone)]
pub struct Stop {
    reason: Arc<watch::Sender<Option<String>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Stop {
            reason: Arc::new(watch::Sender::new(None)),
        }
    }
}

impl Stop {
    /// A stop that is not requested yet.
    pub fn new() -> Stop {
        Stop::default()
    }

    /// Requests the stop; the first reason given is kept.
    pub fn request(&self, reason: &str) {
        self.reason.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason.to_owned());
            true
        });
    }

    /// Why the stop was requested, once it was.
    pub fn reason(&self) -> Option<String> {
        self.reason.borrow().clone()
    }

    pub fn requested(&self) -> bool {
        self.reason.borrow().is_some()
    }

    /// Returns once the stop is requested.
    pub async fn wait(&self) {
        let mut rx = self.reason.subscribe();
        // The sender lives as long as `self`, so this cannot fail while we wait.
        let _ = rx.wait_for(Option::is_some).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_reaches_every_clone_and_keeps_its_first_reason() {
        let stop = Stop::new();
        let other = stop.clone();
        assert!(!other.requested());
        stop.request("SIGTERM");
        stop.request("SIGINT");
        assert_eq!(other.reason().as_deref(), Some("SIGTERM"));
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(other.wait());
    }
}
