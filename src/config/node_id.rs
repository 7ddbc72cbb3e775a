//! Which node of the pair: the first or the second in the config. Roles (main, mirror)
//! are detected live and move; a `NodeId` never does, so code names a node by it instead
//! of by index arithmetic.

use std::ops::{Index, IndexMut};

use serde::{Deserialize, Serialize};

/// One of the pair's two nodes, in config order. It serializes as that index (0 or 1),
/// as the JSON reports always have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(into = "usize", try_from = "usize")]
pub enum NodeId {
    First,
    Second,
}

impl NodeId {
    /// Both nodes, in config order.
    pub const BOTH: [NodeId; 2] = [NodeId::First, NodeId::Second];

    /// The other node of the pair.
    pub fn other(self) -> NodeId {
        match self {
            NodeId::First => NodeId::Second,
            NodeId::Second => NodeId::First,
        }
    }

    /// Its position in config order (0 or 1).
    pub fn index(self) -> usize {
        match self {
            NodeId::First => 0,
            NodeId::Second => 1,
        }
    }

    /// The node at a config position; `None` past the second.
    pub fn from_index(i: usize) -> Option<NodeId> {
        match i {
            0 => Some(NodeId::First),
            1 => Some(NodeId::Second),
            _ => None,
        }
    }
}

impl From<NodeId> for usize {
    fn from(n: NodeId) -> usize {
        n.index()
    }
}

impl TryFrom<usize> for NodeId {
    type Error = String;
    fn try_from(i: usize) -> Result<NodeId, String> {
        NodeId::from_index(i).ok_or_else(|| format!("node index {i}: a pair has nodes 0 and 1"))
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "node {}", self.index() + 1)
    }
}

/// Per-node values (config, links, status) are kept in config order: index them by node
/// (arrays get it through the slice impl).
impl<T> Index<NodeId> for [T] {
    type Output = T;
    fn index(&self, n: NodeId) -> &T {
        &self[n.index()]
    }
}

impl<T> IndexMut<NodeId> for [T] {
    fn index_mut(&mut self, n: NodeId) -> &mut T {
        &mut self[n.index()]
    }
}

impl<T> Index<NodeId> for Vec<T> {
    type Output = T;
    fn index(&self, n: NodeId) -> &T {
        &self[n.index()]
    }
}

impl<T> IndexMut<NodeId> for Vec<T> {
    fn index_mut(&mut self, n: NodeId) -> &mut T {
        &mut self[n.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_node_has_one_other_and_keeps_its_index() {
        for n in NodeId::BOTH {
            assert_eq!(n.other().other(), n);
            assert_ne!(n.other(), n);
            assert_eq!(NodeId::from_index(n.index()), Some(n));
        }
        assert_eq!(NodeId::from_index(2), None);
    }

    #[test]
    fn it_serializes_as_its_config_index() {
        assert_eq!(serde_json::to_string(&NodeId::Second).unwrap(), "1");
        assert_eq!(serde_json::from_str::<NodeId>("0").unwrap(), NodeId::First);
        assert!(serde_json::from_str::<NodeId>("2").is_err());
    }

    #[test]
    fn per_node_lists_are_indexed_by_it() {
        let v: Vec<&str> = ["alpha", "bravo"].into();
        assert_eq!(v[NodeId::Second], "bravo");
        let a = [1, 2];
        assert_eq!(a[NodeId::First], 1);
    }
}
