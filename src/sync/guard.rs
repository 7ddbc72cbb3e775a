//! Safety checks before any byte moves: the direction comes from live roles only, and a
//! plan that deletes too much is refused unless the operator confirms that very number.

use crate::config::NodeId;
use crate::config::SyncConfig;
use crate::pair::roles::PairRoles;

use super::plan::PlanTotals;

/// Source and target node indices for a sync, or why there is none.
pub fn direction(roles: &PairRoles) -> Result<(NodeId, NodeId), String> {
    match roles {
        PairRoles::Normal { main, mirror } => Ok((*main, *mirror)),
        PairRoles::SplitBrain => {
            Err("refusing to sync: SPLIT BRAIN (both nodes are writable); fence one first".into())
        }
        PairRoles::NoneWritable => {
            Err("refusing to sync: no node is writable, so there is no main to copy from".into())
        }
        PairRoles::Partial { .. } => Err(
            "refusing to sync: one node's database does not answer, so roles are not certain"
                .into(),
        ),
        PairRoles::Unknown => Err("refusing to sync: roles unknown (no database answers)".into()),
    }
}

/// The deletion guard. `mirror_files` is how many files the mirror holds; `allowed` is the
/// number of deletions the operator confirmed (`--allow-deletes N`, or typed in the TUI).
pub fn check_deletes(
    totals: &PlanTotals,
    mirror_files: u64,
    cfg: &SyncConfig,
    allowed: Option<u64>,
) -> Result<(), String> {
    let deletes = totals.deleted;
    let share = if mirror_files == 0 {
        0.0
    } else {
        deletes as f64 * 100.0 / mirror_files as f64
    };
    let over = deletes > cfg.delete_limit_count || share > cfg.delete_limit_percent;
    if !over || allowed == Some(deletes) {
        return Ok(());
    }
    Err(format!(
        "refusing to sync: the plan deletes {deletes} files on the mirror ({share:.1}% of its \
         {mirror_files}), over the limit of {} files or {}%. An empty or wrongly mounted source \
         looks exactly like this. If it is really intended, confirm that number: \
         --allow-deletes {deletes}",
        cfg.delete_limit_count, cfg.delete_limit_percent
    ))
}

/// What a plan's deletions are, for the guard's refusal: datastore files (and those a
/// row of the source still references, whose only copy is then on the target) and
/// other files, with a few examples each.
pub fn what_is_deleted(plan: &super::Plan) -> String {
    let deleted: Vec<&str> = plan
        .changes
        .iter()
        .filter(|c| c.kind == super::ChangeKind::Deleted)
        .map(|c| c.path.as_str())
        .collect();
    let (store, other): (Vec<&str>, Vec<&str>) = deleted
        .iter()
        .partition(|p| crate::db::versions::version_of(p).is_some());
    let referenced: Vec<&str> = store.iter().filter_map(|p| plan.document_of(p)).collect();
    let mut s = format!(
        " What would be deleted: {} datastore file(s) (document versions) and {} other file(s)",
        store.len(),
        other.len()
    );
    if !other.is_empty() {
        s.push_str(&format!(
            " (e.g. {})",
            other[..other.len().min(3)].join(", ")
        ));
    }
    s.push('.');
    if !referenced.is_empty() {
        s.push_str(&format!(
            " {} of them belong to documents {} still lists (e.g. {}): their only copy is on \
             {}. Do not allow these deletions: a rejoin salvages them to {} first.",
            referenced.len(),
            plan.source,
            referenced[..referenced.len().min(3)].join(", "),
            plan.target,
            plan.source
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NodeId;

    const A: NodeId = NodeId::First;
    const B: NodeId = NodeId::Second;

    fn totals(deleted: u64) -> PlanTotals {
        PlanTotals {
            deleted,
            ..PlanTotals::default()
        }
    }

    #[test]
    fn a_refusal_says_what_the_deleted_files_are() {
        use super::super::{Change, ChangeKind, EntryType, Plan};
        let v = "1a3ea0ac-0b7d-4e55-9a61-2c8f0d4b7e10";
        let del = |p: &str| Change {
            kind: ChangeKind::Deleted,
            entry: EntryType::File,
            path: p.into(),
            size: 0,
        };
        let plan = Plan {
            source: "bravo".into(),
            target: "alpha".into(),
            changes: vec![
                del(&format!("repository/datastore/1a/3e/a0/ac/{v}")),
                del("webapps/old.war"),
            ],
            dirs: vec![],
            totals: PlanTotals::default(),
            warnings: vec![],
            took_ms: 0,
            documents: [(v.to_string(), "/okm:root/acme.pdf".to_string())].into(),
            basis: Default::default(),
            datastore_listed: false,
        };
        let s = what_is_deleted(&plan);
        assert!(
            s.contains(
                "1 datastore file(s) (document versions) and 1 other file(s) (e.g. webapps/old.war)"
            ),
            "{s}"
        );
        assert!(s.contains("1 of them belong to documents bravo still lists (e.g. /okm:root/acme.pdf): their only copy is on alpha"), "{s}");
    }

    #[test]
    fn deletions_over_either_limit_need_the_exact_number() {
        let cfg = SyncConfig::default(); // 100 files or 5%
        assert!(check_deletes(&totals(3), 1000, &cfg, None).is_ok());
        let err = check_deletes(&totals(60), 1000, &cfg, None).unwrap_err();
        assert!(
            err.contains("deletes 60 files on the mirror (6.0% of its 1000)"),
            "{err}"
        );
        assert!(err.ends_with("--allow-deletes 60"), "{err}");
        assert!(
            check_deletes(&totals(60), 1000, &cfg, Some(59)).is_err(),
            "a different number does not do"
        );
        assert!(check_deletes(&totals(60), 1000, &cfg, Some(60)).is_ok());
        assert!(
            check_deletes(&totals(101), 1_000_000, &cfg, None).is_err(),
            "count limit"
        );
        // An empty source would delete everything.
        assert!(check_deletes(&totals(2000), 2000, &cfg, None).is_err());
    }

    #[test]
    fn direction_only_from_clear_roles() {
        assert_eq!(
            direction(&PairRoles::Normal { main: B, mirror: A }),
            Ok((B, A))
        );
        assert!(
            direction(&PairRoles::SplitBrain)
                .unwrap_err()
                .contains("SPLIT BRAIN")
        );
        assert!(direction(&PairRoles::NoneWritable).is_err());
        assert!(direction(&PairRoles::Unknown).is_err());
    }
}
