//! Roles, detected live: the writable node is the main, the read-only one the mirror.
//! Config order never decides a role.

use crate::config::NodeId;
use serde::Serialize;

/// A node's role as detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    Main,
    Mirror,
    /// Writable while the other is writable too.
    SplitBrain,
    /// Read-only while the other is read-only too.
    ReadOnly,
    Unknown,
}

/// What the pair looks like as a whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum PairRoles {
    /// One writable main, one read-only mirror.
    Normal {
        main: NodeId,
        mirror: NodeId,
    },
    /// Both writable: two nodes take writes.
    SplitBrain,
    /// Nobody takes writes.
    NoneWritable,
    /// Only one side is known.
    Partial {
        known: NodeId,
        role: Role,
    },
    Unknown,
}

/// Decides roles from each node's database writability (`None`: not reachable).
pub fn detect(writable: [Option<bool>; 2]) -> (PairRoles, [Role; 2]) {
    use NodeId::{First, Second};
    use Role::*;
    match writable {
        [Some(true), Some(false)] => (
            PairRoles::Normal {
                main: NodeId::First,
                mirror: NodeId::Second,
            },
            [Main, Mirror],
        ),
        [Some(false), Some(true)] => (
            PairRoles::Normal {
                main: Second,
                mirror: First,
            },
            [Mirror, Main],
        ),
        [Some(true), Some(true)] => (PairRoles::SplitBrain, [SplitBrain, SplitBrain]),
        [Some(false), Some(false)] => (PairRoles::NoneWritable, [ReadOnly, ReadOnly]),
        [Some(w), None] => {
            let r = if w { Main } else { Mirror };
            (
                PairRoles::Partial {
                    known: First,
                    role: r,
                },
                [r, Unknown],
            )
        }
        [None, Some(w)] => {
            let r = if w { Main } else { Mirror };
            (
                PairRoles::Partial {
                    known: Second,
                    role: r,
                },
                [Unknown, r],
            )
        }
        [None, None] => (PairRoles::Unknown, [Unknown, Unknown]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;

    #[test]
    fn roles_follow_writability_not_order() {
        assert_eq!(
            detect([Some(false), Some(true)]).1,
            [Role::Mirror, Role::Main]
        );
        assert_eq!(
            detect([Some(true), Some(false)]).0,
            PairRoles::Normal { main: A, mirror: B }
        );
        assert_eq!(detect([Some(true), Some(true)]).0, PairRoles::SplitBrain);
        assert_eq!(
            detect([Some(false), Some(false)]).0,
            PairRoles::NoneWritable
        );
        assert_eq!(
            detect([None, Some(false)]),
            (
                PairRoles::Partial {
                    known: B,
                    role: Role::Mirror
                },
                [Role::Unknown, Role::Mirror]
            )
        );
        assert_eq!(detect([None, None]).0, PairRoles::Unknown);
    }
}
