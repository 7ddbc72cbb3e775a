//! How a background job ended badly, as a type the faces match on: a cancel is told
//! from a failure by the error's type (`sync::events::Cancelled`), never by its text.

use color_eyre::eyre::Report;

use crate::sync::events::{Cancelled, is_cancelled_error};

/// Why a background job (plan, sync, flow) gave no result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskError {
    /// The operator (or a signal) cancelled it.
    Cancelled,
    /// It failed: the whole error chain, formatted once (`{:#}`) where it happened, so
    /// the faces show the context as well as the cause.
    Failed(String),
}

/// What a background job reports when it ends.
pub type TaskResult<T> = Result<T, TaskError>;

impl TaskError {
    /// Whether the job was cancelled rather than failed.
    pub fn is_cancelled(&self) -> bool {
        matches!(self, TaskError::Cancelled)
    }
}

/// Classifies an error by its chain's types: any `Cancelled` in it makes a cancel.
impl From<Report> for TaskError {
    fn from(e: Report) -> TaskError {
        if is_cancelled_error(&e) {
            TaskError::Cancelled
        } else {
            TaskError::Failed(format!("{e:#}"))
        }
    }
}

/// The words shown to the operator: a cancel's are `Cancelled`'s own.
impl std::fmt::Display for TaskError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TaskError::Cancelled => std::fmt::Display::fmt(&Cancelled, f),
            TaskError::Failed(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for TaskError {}

#[cfg(test)]
mod tests {
    use super::*;
    use color_eyre::eyre::{WrapErr, eyre};

    #[test]
    fn a_cancel_is_told_by_its_type_even_under_context() {
        let bare = Report::new(Cancelled);
        assert_eq!(TaskError::from(bare), TaskError::Cancelled);
        let wrapped = Err::<(), _>(Report::new(Cancelled))
            .wrap_err("planning by scan")
            .wrap_err("sync")
            .unwrap_err();
        let e = TaskError::from(wrapped);
        assert!(e.is_cancelled());
        assert_eq!(e.to_string(), "cancelled by the operator");
    }

    #[test]
    fn a_failure_keeps_its_whole_chain() {
        let e = Err::<(), _>(eyre!("connection refused"))
            .wrap_err("preflight: alpha cannot reach bravo")
            .unwrap_err();
        let e = TaskError::from(e);
        assert!(!e.is_cancelled());
        assert_eq!(
            e,
            TaskError::Failed("preflight: alpha cannot reach bravo: connection refused".into())
        );
        assert_eq!(
            e.to_string(),
            "preflight: alpha cannot reach bravo: connection refused"
        );
    }

    #[test]
    fn the_word_cancel_in_a_failure_does_not_make_it_a_cancel() {
        let e = TaskError::from(eyre!("rsync received SIGUSR1 or SIGINT (cancelled)"));
        assert!(matches!(e, TaskError::Failed(_)));
        let e = TaskError::from(eyre!("cancelled by the operator"));
        assert!(
            !e.is_cancelled(),
            "the same words without the type: a failure"
        );
    }
}
