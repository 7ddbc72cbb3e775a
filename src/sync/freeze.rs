//! The consistency point: the main stops taking writes for the final pass, and is always
//! given back its writes afterwards, whatever failed in between.

use std::time::Duration;

use color_eyre::eyre::{Result, eyre};
use mysql_async::prelude::Queryable;

use crate::config::FreezeMode;
use crate::monitor::Monitor;

/// Stops writes on `main`. Service mode stops the mirror's OpenKM first (it holds its
/// index open and takes no writes, so that is not the main's downtime), then the main's.
/// On failure everything is started or unlocked again before the error is returned.
pub async fn freeze(monitor: &Monitor, mode: FreezeMode, main: usize, mirror: usize) -> Result<()> {
    let (m, r) = (&monitor.nodes[main], &monitor.nodes[mirror]);
    match mode {
        FreezeMode::Service => {
            let _ = r
                .ssh
                .run(&r.cfg.service.stop, Duration::from_secs(120))
                .await;
            let why = match m
                .ssh
                .run(&m.cfg.service.stop, Duration::from_secs(120))
                .await
            {
                Ok(o) if o.success() => return Ok(()),
                Ok(o) => o.stdout.trim().to_string(),
                Err(e) => e.to_string(),
            };
            // Leave nothing half-changed: a start on a running instance is harmless.
            let _ = unfreeze(monitor, mode, main).await;
            resume_mirror(monitor, mode, mirror).await;
            Err(eyre!(
                "stopping OpenKM on {}: {why}; both services were started again",
                m.cfg.name
            ))
        }
        FreezeMode::Database => {
            let r = monitor
                .db(main, async |c| {
                    // The global read lock waits for running commits, so no write is
                    // half-done when read_only takes effect.
                    c.query_drop("FLUSH TABLES WITH READ LOCK").await?;
                    c.query_drop("SET GLOBAL read_only = ON").await?;
                    c.query_drop("UNLOCK TABLES").await?;
                    Ok(())
                })
                .await;
            if let Err(e) = r {
                let _ = unfreeze(monitor, mode, main).await;
                return Err(eyre!(
                    "setting {}'s database read-only: {e:#}; writes were allowed again",
                    m.cfg.name
                ));
            }
            Ok(())
        }
    }
}

/// Gives the main its writes back: the main's downtime ends when this returns.
pub async fn unfreeze(monitor: &Monitor, mode: FreezeMode, main: usize) -> Result<()> {
    let m = &monitor.nodes[main];
    match mode {
        FreezeMode::Service => match m
            .ssh
            .run(&m.cfg.service.start, Duration::from_secs(300))
            .await
        {
            Ok(o) if o.success() => Ok(()),
            Ok(o) => Err(eyre!(
                "OpenKM did not start again on {}: {}",
                m.cfg.name,
                o.stdout.trim()
            )),
            Err(e) => Err(eyre!("OpenKM did not start again on {}: {e}", m.cfg.name)),
        },
        FreezeMode::Database => {
            let mut last = None;
            // A dropped connection is retried: a main left read-only is an outage.
            for _ in 0..5 {
                match monitor
                    .db(main, async |c| {
                        Ok(c.query_drop("SET GLOBAL read_only = OFF").await?)
                    })
                    .await
                {
                    Ok(()) => {
                        last = None;
                        break;
                    }
                    Err(e) => {
                        last = Some(e);
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                }
            }
            match last {
                None => Ok(()),
                Some(e) => Err(eyre!(
                    "{}'s database is still read-only ({e:#}); run SET GLOBAL read_only = OFF on it",
                    m.cfg.name
                )),
            }
        }
    }
}

/// Starts the mirror's OpenKM again after a service freeze (it was stopped for its index).
pub async fn resume_mirror(monitor: &Monitor, mode: FreezeMode, mirror: usize) {
    if mode == FreezeMode::Service {
        let r = &monitor.nodes[mirror];
        let _ = r
            .ssh
            .run(&r.cfg.service.start, Duration::from_secs(300))
            .await;
    }
}
