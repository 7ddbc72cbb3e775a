//! The okmirror database user's grants against the documented minimum (README, "Database
//! users and grants"): `SHOW GRANTS` parsed into global and per-schema privilege sets.

use std::collections::{BTreeMap, BTreeSet};

use crate::db::Flavour;

/// Privileges okmirror needs on `*.*`, by server family.
pub fn global_needed(flavour: Flavour) -> &'static [&'static str] {
    match flavour {
        Flavour::MariaDb => &[
            "RELOAD",
            "PROCESS",
            "BINLOG ADMIN",
            "READ_ONLY ADMIN",
            "REPLICATION SLAVE ADMIN",
            "SLAVE MONITOR",
        ],
        Flavour::MySql => &[
            "RELOAD",
            "PROCESS",
            "REPLICATION CLIENT",
            "REPLICATION_SLAVE_ADMIN",
            "SYSTEM_VARIABLES_ADMIN",
            "CONNECTION_ADMIN",
        ],
    }
}

/// Privileges okmirror needs on OpenKM's schema and on its own `okmirror` schema (the
/// DDL ones only for dump mode and reseed, which import with `mysql`). MySQL checks
/// REFERENCES for the foreign keys a dump recreates; MariaDB does not.
pub fn schema_needed(flavour: Flavour) -> impl Iterator<Item = &'static str> {
    const BOTH: &[&str] = &[
        "SELECT",
        "INSERT",
        "UPDATE",
        "CREATE",
        "DROP",
        "ALTER",
        "LOCK TABLES",
    ];
    let mysql: &[&str] = match flavour {
        Flavour::MariaDb => &[],
        Flavour::MySql => &["REFERENCES"],
    };
    BOTH.iter().chain(mysql).copied()
}

/// Broader than okmirror needs: worth a warning, never a failure.
const TOO_BROAD: &[&str] = &[
    "SUPER",
    "ALL PRIVILEGES",
    "GRANT OPTION",
    "SHUTDOWN",
    "FILE",
];

/// What `SHOW GRANTS` says: privileges on `*.*`, and per schema (unquoted name).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Grants {
    pub global: BTreeSet<String>,
    pub schemas: BTreeMap<String, BTreeSet<String>>,
}

/// Parses `GRANT a, b ON x.* TO ...` lines; others (roles, proxies, table grants) are
/// ignored, which can only make a check stricter.
pub fn parse(lines: &[String]) -> Grants {
    let mut g = Grants::default();
    for line in lines {
        let Some(rest) = line.strip_prefix("GRANT ") else {
            continue;
        };
        let Some((privs, after)) = rest.split_once(" ON ") else {
            continue;
        };
        let Some((on, _)) = after.split_once(" TO ") else {
            continue;
        };
        let set: BTreeSet<String> = split_privileges(privs);
        match on.trim() {
            "*.*" => g.global.extend(set),
            target => {
                if let Some(schema) = target.strip_suffix(".*") {
                    let name = schema.trim_matches('`').replace("\\_", "_");
                    g.schemas.entry(name).or_default().extend(set);
                }
            }
        }
    }
    g
}

/// `SELECT, INSERT, UPDATE (col)` as upper-case names; `ALL` spelled out.
fn split_privileges(privs: &str) -> BTreeSet<String> {
    privs
        .split(',')
        .map(|p| {
            let p = p.split('(').next().unwrap_or(p).trim().to_ascii_uppercase();
            if p == "ALL" {
                "ALL PRIVILEGES".to_string()
            } else {
                p
            }
        })
        .filter(|p| !p.is_empty())
        .collect()
}

impl Grants {
    fn has_global(&self, p: &str) -> bool {
        self.global.contains(p) || self.global.contains("ALL PRIVILEGES")
    }

    fn has_on(&self, schema: &str, p: &str) -> bool {
        self.has_global(p)
            || self
                .schemas
                .get(schema)
                .is_some_and(|s| s.contains(p) || s.contains("ALL PRIVILEGES"))
    }

    /// The missing privileges as the `GRANT` statements that add them, for `account`
    /// (`'user'@'host'`).
    pub fn missing(&self, flavour: Flavour, schemas: &[&str], account: &str) -> Vec<String> {
        let mut fixes = Vec::new();
        let global: Vec<_> = global_needed(flavour)
            .iter()
            .filter(|p| !self.has_global(p))
            .copied()
            .collect();
        if !global.is_empty() {
            fixes.push(format!("GRANT {} ON *.* TO {account};", global.join(", ")));
        }
        for schema in schemas {
            let lack: Vec<_> = schema_needed(flavour)
                .filter(|p| !self.has_on(schema, p))
                .collect();
            if !lack.is_empty() {
                fixes.push(format!(
                    "GRANT {} ON `{schema}`.* TO {account};",
                    lack.join(", ")
                ));
            }
        }
        fixes
    }

    /// Privileges on `*.*` that okmirror does not need and that reach far.
    pub fn too_broad(&self) -> Vec<&'static str> {
        TOO_BROAD
            .iter()
            .filter(|p| self.global.contains(**p))
            .copied()
            .collect()
    }
}

/// `okmirror@127.0.0.%` (from `CURRENT_USER()`) as SQL spells an account.
pub fn account(current_user: &str) -> String {
    match current_user.rsplit_once('@') {
        Some((u, h)) => format!("'{u}'@'{h}'"),
        None => format!("'{current_user}'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    const LAB: &[&str] = &[
        "GRANT RELOAD, PROCESS, BINLOG ADMIN, READ_ONLY ADMIN, REPLICATION SLAVE ADMIN, SLAVE MONITOR ON *.* TO `okmirror`@`127.0.0.%` IDENTIFIED BY PASSWORD '*AB' REQUIRE SSL",
        "GRANT SELECT, INSERT, UPDATE, CREATE, DROP, ALTER, LOCK TABLES ON `okmdb`.* TO `okmirror`@`127.0.0.%`",
        "GRANT SELECT, INSERT, UPDATE, CREATE, DROP, ALTER, LOCK TABLES ON `okmirror`.* TO `okmirror`@`127.0.0.%`",
    ];

    #[test]
    fn the_documented_grants_are_enough_and_not_too_broad() {
        let g = parse(&lines(LAB));
        assert!(
            g.missing(
                Flavour::MariaDb,
                &["okmdb", "okmirror"],
                "'okmirror'@'127.0.0.%'"
            )
            .is_empty()
        );
        assert!(g.too_broad().is_empty());
    }

    #[test]
    fn a_missing_privilege_comes_back_as_the_grant_that_adds_it() {
        let mut l = lines(LAB);
        l[0] = l[0].replace("READ_ONLY ADMIN, ", "");
        l[2] = l[2].replace("LOCK TABLES", "INDEX");
        let g = parse(&l);
        assert_eq!(
            g.missing(Flavour::MariaDb, &["okmdb", "okmirror"], "'okmirror'@'%'"),
            [
                "GRANT READ_ONLY ADMIN ON *.* TO 'okmirror'@'%';",
                "GRANT LOCK TABLES ON `okmirror`.* TO 'okmirror'@'%';"
            ]
        );
    }

    #[test]
    fn root_has_everything_and_is_called_too_broad() {
        let g = parse(&lines(&[
            "GRANT ALL PRIVILEGES ON *.* TO `root`@`localhost` WITH GRANT OPTION",
        ]));
        assert!(
            g.missing(Flavour::MySql, &["okmdb"], "'root'@'localhost'")
                .is_empty()
        );
        assert_eq!(g.too_broad(), ["ALL PRIVILEGES"]);
        assert_eq!(account("okmirror@10.0.0.%"), "'okmirror'@'10.0.0.%'");
    }

    #[test]
    fn mysql_dynamic_privileges_are_read_from_their_own_line() {
        let g = parse(&lines(&[
            "GRANT RELOAD, PROCESS, REPLICATION CLIENT ON *.* TO `okmirror`@`%`",
            "GRANT CONNECTION_ADMIN,REPLICATION_SLAVE_ADMIN,SYSTEM_VARIABLES_ADMIN ON *.* TO `okmirror`@`%`",
            "GRANT SELECT, INSERT, UPDATE, CREATE, DROP, ALTER, LOCK TABLES, REFERENCES ON `okmdb`.* TO `okmirror`@`%`",
        ]));
        assert!(
            g.missing(Flavour::MySql, &["okmdb"], "'okmirror'@'%'")
                .is_empty()
        );
    }
}
