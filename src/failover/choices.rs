//! Which flows apply to the pair as it is now. The console's wizard offers exactly
//! these, and the command line asks the same rule before it starts a flow named on it.
//! Pure (the pair as last probed in, the choices out), so it is unit tested.

use super::flow::FlowKind;
use crate::config::NodeId;
use crate::pair::model::PairStatus;
use crate::pair::roles::{PairRoles, Role};

/// A flow the operator can pick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub kind: FlowKind,
    /// The old main.
    pub old: NodeId,
    /// The new (or current) main.
    pub new: NodeId,
    pub label: String,
    pub why: String,
}

/// The flows that apply, and a note when none does or a choice needs care.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applicable {
    pub choices: Vec<Choice>,
    pub note: Option<String>,
}

/// Why a reseed, in the list.
const RESEED_WHY: &str =
    "when the rejoin found errant transactions: saves its binlogs, then replaces its database";

/// The flows that apply to the pair as last probed (`None`: not probed yet); `names`
/// are the nodes' names, by index.
pub fn applicable(status: Option<&PairStatus>, names: &[&str]) -> Applicable {
    let Some(s) = status else {
        return Applicable {
            choices: Vec::new(),
            note: Some("waiting for the first probe".into()),
        };
    };
    let pick = Pick { names };
    let (choices, note) = match &s.roles {
        PairRoles::Normal { main, mirror } => (pick.normal(s, *main, *mirror), None),
        PairRoles::Partial {
            known,
            role: Role::Mirror,
        } => (
            vec![pick.choice(
                FlowKind::Failover,
                known.other(),
                *known,
                "the main does not answer: fence it, promote the mirror",
            )],
            None,
        ),
        PairRoles::SplitBrain => (
            pick.rejoins(
                &[
                    (NodeId::First, NodeId::Second),
                    (NodeId::Second, NodeId::First),
                ],
                "keep the writes of the node you make the main",
            ),
            Some("SPLIT BRAIN: both nodes take writes; rejoin the stale former main".into()),
        ),
        PairRoles::NoneWritable => (pick.none_writable(s), Some("no node takes writes".into())),
        PairRoles::Partial { .. } | PairRoles::Unknown => (
            Vec::new(),
            Some("wait until the other node answers, then rejoin it".into()),
        ),
    };
    Applicable { choices, note }
}

/// Builds the choices, named with the nodes' names.
struct Pick<'a> {
    names: &'a [&'a str],
}

impl Pick<'_> {
    fn name(&self, i: NodeId) -> &str {
        self.names.get(i.index()).copied().unwrap_or("?")
    }

    /// How a flow reads in the list.
    fn label(&self, kind: FlowKind, old: NodeId, new: NodeId) -> String {
        let (o, n) = (self.name(old), self.name(new));
        match kind {
            FlowKind::Switchover => format!("switchover to {n}"),
            FlowKind::Failover => format!("failover to {n} ({o} is down)"),
            FlowKind::Rejoin => format!("rejoin {o} as the mirror of {n}"),
            FlowKind::Reseed => format!("reseed {o} from {n} and rejoin it"),
        }
    }

    fn choice(&self, kind: FlowKind, old: NodeId, new: NodeId, why: &str) -> Choice {
        Choice {
            kind,
            old,
            new,
            label: self.label(kind, old, new),
            why: why.to_string(),
        }
    }

    /// A stale former main can be rejoined, or reseeded when its rejoin found errant
    /// transactions: every rejoin of `pairs` (old, new), then every reseed.
    fn rejoins(&self, pairs: &[(NodeId, NodeId)], why: &str) -> Vec<Choice> {
        let rejoins = pairs
            .iter()
            .map(|&(o, n)| self.choice(FlowKind::Rejoin, o, n, why));
        let reseeds = pairs
            .iter()
            .map(|&(o, n)| self.choice(FlowKind::Reseed, o, n, RESEED_WHY));
        rejoins.chain(reseeds).collect()
    }

    /// A main and a read-only node: a switchover when the read-only one replicates,
    /// else it is a stale former main to rejoin.
    fn normal(&self, s: &PairStatus, main: NodeId, mirror: NodeId) -> Vec<Choice> {
        if replicates(s, mirror) {
            vec![self.choice(
                FlowKind::Switchover,
                main,
                mirror,
                "planned, both nodes up: no data loss",
            )]
        } else {
            self.rejoins(
                &[(mirror, main)],
                "a read-only node that replicates from nobody: a stale former main",
            )
        }
    }

    /// Nobody takes writes: promote whichever node replicates.
    fn none_writable(&self, s: &PairStatus) -> Vec<Choice> {
        NodeId::BOTH
            .into_iter()
            .filter(|&i| replicates(s, i))
            .map(|i| {
                self.choice(
                    FlowKind::Failover,
                    i.other(),
                    i,
                    "no node takes writes: promote the replica",
                )
            })
            .collect()
    }
}

/// Node `i` is set up as a replica (running or not).
fn replicates(s: &PairStatus, i: NodeId) -> bool {
    s.nodes
        .get(i.index())
        .and_then(|n| n.db.as_ref())
        .is_some_and(|d| d.replica.is_some())
}

/// What a face does with a flow asked for by name (the command line's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The wizard offers it too.
    Offered,
    /// Not offered now, and refused (`refused_unless_offered`): the message says why
    /// and what applies.
    Refuse(String),
    /// Not offered now, but the flow's own checks decide: the message is a warning.
    Warn(String),
}

/// Whether a flow asked for by name is refused when the wizard would not offer it. Only
/// a switchover: its preflight refuses every such pair anyway (later, and in a journal),
/// so refusing first takes nothing away. The command line deliberately allows more of
/// the others, whose own assessment and confirmations decide: a failover of a main that
/// still answers (fenced by proof, the fence command or the typed name before anything
/// is promoted), a rejoin or a reseed of a mirror that replicates (to repair broken
/// replication, or to give up its errant transactions).
pub fn refused_unless_offered(kind: FlowKind) -> bool {
    kind == FlowKind::Switchover
}

/// Judges `kind` from `old` to `new` against what applies.
pub fn judge(
    applicable: &Applicable,
    kind: FlowKind,
    old: NodeId,
    new: NodeId,
    names: &[&str],
) -> Verdict {
    let offered = applicable
        .choices
        .iter()
        .any(|c| (c.kind, c.old, c.new) == (kind, old, new));
    if offered {
        return Verdict::Offered;
    }
    let message = not_offered(applicable, kind, old, new, names);
    if refused_unless_offered(kind) {
        Verdict::Refuse(message)
    } else {
        Verdict::Warn(message)
    }
}

/// "a switchover to dms1 does not apply to the pair as it is now (note); what applies:
/// switchover to dms2".
fn not_offered(
    applicable: &Applicable,
    kind: FlowKind,
    old: NodeId,
    new: NodeId,
    names: &[&str],
) -> String {
    let pick = Pick { names };
    let asked = match kind {
        FlowKind::Switchover | FlowKind::Failover => {
            format!("a {} to {}", kind.word(), pick.name(new))
        }
        FlowKind::Rejoin | FlowKind::Reseed => {
            format!("a {} of {}", kind.word(), pick.name(old))
        }
    };
    let note = applicable
        .note
        .as_ref()
        .map(|n| format!(" ({n})"))
        .unwrap_or_default();
    let what = if applicable.choices.is_empty() {
        "no flow applies now".to_string()
    } else {
        let labels: Vec<&str> = applicable
            .choices
            .iter()
            .map(|c| c.label.as_str())
            .collect();
        format!("what applies: {}", labels.join("; "))
    };
    format!("{asked} does not apply to the pair as it is now{note}; {what}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;
    use crate::db::replica::{ReplicaStatus, ThreadState};
    use crate::db::status::{DbStatus, Flavour};
    use crate::pair::model::{Lag, NodeStatus, Severity};

    const NAMES: [&str; 2] = ["dms1", "dms2"];

    fn replica() -> ReplicaStatus {
        ReplicaStatus {
            io: ThreadState::Yes,
            sql: ThreadState::No,
            seconds_behind: None,
            source_host: "dms1.example.org".into(),
            source_port: Some(3306),
            io_state: String::new(),
            sql_state: String::new(),
            last_io_error: None,
            last_sql_error: None,
            gtid_mode: true,
            retrieved_gtid: "0-1-1".into(),
        }
    }

    fn node(name: &str, read_only: bool, replica: Option<ReplicaStatus>) -> NodeStatus {
        NodeStatus {
            name: name.into(),
            host: name.into(),
            role: Role::Unknown,
            ssh_rtt_ms: None,
            ssh_error: None,
            facts: None,
            db: Some(DbStatus {
                version: "10.11.19-MariaDB".into(),
                flavour: Flavour::MariaDb,
                server_id: 1,
                read_only,
                super_read_only: None,
                system_readonly: Some(read_only),
                gtid_binlog: String::new(),
                gtid_applied: String::new(),
                replica,
            }),
            db_error: None,
            last_sync: None,
            last_sync_error: None,
        }
    }

    /// dms1 the main, dms2 its replicating mirror.
    fn status() -> PairStatus {
        PairStatus {
            pair: "p".into(),
            taken_at: 0,
            nodes: vec![
                node("dms1", false, None),
                node("dms2", true, Some(replica())),
            ],
            roles: PairRoles::Normal { main: A, mirror: B },
            lag: Lag::default(),
            pending: None,
            pending_error: None,
            files_behind: None,
            alerts: Vec::new(),
            severity: Severity::Ok,
        }
    }

    fn kinds(s: Option<&PairStatus>) -> Vec<(FlowKind, NodeId, NodeId)> {
        applicable(s, &NAMES)
            .choices
            .iter()
            .map(|c| (c.kind, c.old, c.new))
            .collect()
    }

    #[test]
    fn the_choices_follow_the_pair() {
        use FlowKind::*;
        let mut s = status();
        assert_eq!(kinds(Some(&s)), [(Switchover, A, B)]);
        s.roles = PairRoles::Partial {
            known: B,
            role: Role::Mirror,
        };
        assert_eq!(kinds(Some(&s)), [(Failover, A, B)]);
        s.roles = PairRoles::SplitBrain;
        assert_eq!(
            kinds(Some(&s)),
            [
                (Rejoin, A, B),
                (Rejoin, B, A),
                (Reseed, A, B),
                (Reseed, B, A)
            ]
        );
        // A read-only node replicating from nobody is a stale former main.
        s.roles = PairRoles::Normal { main: B, mirror: A };
        assert_eq!(kinds(Some(&s)), [(Rejoin, A, B), (Reseed, A, B)]);
        assert!(kinds(None).is_empty());
    }

    #[test]
    fn without_a_main_the_replica_is_promoted_and_otherwise_one_waits() {
        let mut s = status();
        s.roles = PairRoles::NoneWritable;
        let a = applicable(Some(&s), &NAMES);
        assert_eq!(a.choices.len(), 1);
        assert_eq!(a.choices[0].label, "failover to dms2 (dms1 is down)");
        assert_eq!(a.note.as_deref(), Some("no node takes writes"));
        for roles in [
            PairRoles::Unknown,
            PairRoles::Partial {
                known: A,
                role: Role::Main,
            },
        ] {
            s.roles = roles;
            let a = applicable(Some(&s), &NAMES);
            assert!(a.choices.is_empty());
            assert!(a.note.is_some_and(|n| n.contains("wait until")));
        }
        assert_eq!(
            applicable(None, &NAMES).note.as_deref(),
            Some("waiting for the first probe")
        );
    }

    #[test]
    fn the_labels_name_the_nodes() {
        let mut s = status();
        s.roles = PairRoles::SplitBrain;
        let a = applicable(Some(&s), &NAMES);
        let labels: Vec<&str> = a.choices.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels[0], "rejoin dms1 as the mirror of dms2");
        assert_eq!(labels[3], "reseed dms2 from dms1 and rejoin it");
        assert!(a.note.is_some_and(|n| n.starts_with("SPLIT BRAIN")));
        // Names missing: a placeholder, never a panic.
        assert_eq!(
            applicable(Some(&status()), &[]).choices[0].label,
            "switchover to ?"
        );
    }

    #[test]
    fn only_a_switchover_not_offered_is_refused() {
        let s = status();
        let a = applicable(Some(&s), &NAMES);
        assert_eq!(
            judge(&a, FlowKind::Switchover, A, B, &NAMES),
            Verdict::Offered
        );
        // dms1 is already the main.
        let Verdict::Refuse(m) = judge(&a, FlowKind::Switchover, B, A, &NAMES) else {
            panic!("a switchover to the main is refused");
        };
        assert_eq!(
            m,
            "a switchover to dms1 does not apply to the pair as it is now; \
             what applies: switchover to dms2"
        );
        // A failover of a main that answers is the command line's to allow.
        let Verdict::Warn(m) = judge(&a, FlowKind::Failover, A, B, &NAMES) else {
            panic!("a failover is warned about, not refused");
        };
        assert!(m.starts_with("a failover to dms2 does not apply"), "{m}");
        let Verdict::Warn(m) = judge(&a, FlowKind::Reseed, B, A, &NAMES) else {
            panic!("a reseed of the mirror is warned about");
        };
        assert!(m.starts_with("a reseed of dms2 does not apply"), "{m}");
    }

    #[test]
    fn a_refusal_carries_the_note_when_nothing_applies() {
        let mut s = status();
        s.roles = PairRoles::Unknown;
        let a = applicable(Some(&s), &NAMES);
        assert_eq!(
            judge(&a, FlowKind::Switchover, A, B, &NAMES),
            Verdict::Refuse(
                "a switchover to dms2 does not apply to the pair as it is now (wait until the \
                 other node answers, then rejoin it); no flow applies now"
                    .into()
            )
        );
        assert!(refused_unless_offered(FlowKind::Switchover));
        assert!(!refused_unless_offered(FlowKind::Failover));
        assert!(!refused_unless_offered(FlowKind::Rejoin));
        assert!(!refused_unless_offered(FlowKind::Reseed));
    }
}
