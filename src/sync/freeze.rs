//! The consistency point: the main stops taking writes for the final pass, and is always
//! given back its writes afterwards, whatever failed in between.

use std::time::{Duration, Instant};

use color_eyre::eyre::{Result, eyre};
use mysql_async::prelude::Queryable;

use super::guardian::{Guardian, Restore};
use crate::config::FreezeMode;
use crate::config::NodeId;
use crate::pair::Monitor;

/// A frozen pair: what the freeze took is held by watchdogs on the nodes (the main's
/// writes; with a service freeze also the mirror's OpenKM), so it comes back even if
/// this process dies before `thaw_main` and `resume_mirror` run.
pub struct Frozen {
    /// When the freeze itself began (the watchdogs armed): the main's downtime starts.
    pub began: Instant,
    mode: FreezeMode,
    main: NodeId,
    mirror: NodeId,
    main_guard: Option<Guardian>,
    mirror_guard: Option<Guardian>,
}

/// Arms the watchdogs on `main` (and with a service freeze on `mirror`), then stops
/// writes on `main`. Service mode stops the mirror's OpenKM first (it holds its index
/// open and takes no writes, so that is not the main's downtime), then the main's. On
/// failure everything is started or unlocked again before the error is returned.
/// `marker` (a file on the main) is removed by the main's watchdog once it restored.
pub async fn freeze(
    monitor: &Monitor,
    mode: FreezeMode,
    (main, mirror): (NodeId, NodeId),
    marker: Option<&str>,
) -> Result<Frozen> {
    let (m, r) = (&monitor.nodes[main], &monitor.nodes[mirror]);
    let max = monitor.cfg.sync.freeze_max_secs;
    let main_restore = match mode {
        FreezeMode::Service => Restore::Service,
        FreezeMode::Database => Restore::Database,
    };
    let arm_main = Guardian::arm(&m.ssh, &m.cfg, "sync-main", main_restore, max, marker);
    let (main_guard, mirror_guard) = match mode {
        FreezeMode::Service => {
            let arm_mirror =
                Guardian::arm(&r.ssh, &r.cfg, "sync-mirror", Restore::Service, max, None);
            let (a, b) = tokio::join!(arm_main, arm_mirror);
            (a?, Some(b?))
        }
        FreezeMode::Database => (arm_main.await?, None),
    };
    // The mirror takes no writes: stopping its OpenKM (it holds its index open) is not
    // the main's downtime, so it happens before the clock starts.
    if mode == FreezeMode::Service {
        let _ = r
            .ssh
            .run(&r.cfg.service.stop, Duration::from_secs(120))
            .await;
    }
    let mut frozen = Frozen {
        began: Instant::now(),
        mode,
        main,
        mirror,
        main_guard: Some(main_guard),
        mirror_guard,
    };
    if let Err(e) = apply(monitor, mode, main).await {
        let _ = thaw_main(monitor, &mut frozen).await;
        resume_mirror(monitor, frozen).await;
        return Err(e);
    }
    Ok(frozen)
}

/// The freeze itself (the watchdogs are armed, a service freeze's mirror stopped).
async fn apply(monitor: &Monitor, mode: FreezeMode, main: NodeId) -> Result<()> {
    let m = &monitor.nodes[main];
    match mode {
        FreezeMode::Service => {
            match m
                .ssh
                .run(&m.cfg.service.stop, Duration::from_secs(120))
                .await
            {
                Ok(o) if o.success() => Ok(()),
                Ok(o) => Err(eyre!(
                    "stopping OpenKM on {}: {}; both services were started again",
                    m.cfg.name,
                    o.stdout.trim()
                )),
                Err(e) => Err(eyre!(
                    "stopping OpenKM on {}: {e}; both services were started again",
                    m.cfg.name
                )),
            }
        }
        FreezeMode::Database => monitor
            .db(main, async |c| {
                // The global read lock waits for running commits, so no write is
                // half-done when read_only takes effect.
                c.query_drop("FLUSH TABLES WITH READ LOCK").await?;
                c.query_drop("SET GLOBAL read_only = ON").await?;
                c.query_drop("UNLOCK TABLES").await?;
                Ok(())
            })
            .await
            .map_err(|e| {
                eyre!(
                    "setting {}'s database read-only: {e:#}; writes were allowed again",
                    m.cfg.name
                )
            }),
    }
}

/// Gives the main its writes back, then stands its watchdog down. When the console's
/// own restore fails, the watchdog is asked to restore. Returns when the main had its
/// writes back (its downtime ends there, not after the watchdog's answer).
pub async fn thaw_main(monitor: &Monitor, frozen: &mut Frozen) -> Result<Instant> {
    let own = unfreeze(monitor, frozen.mode, frozen.main).await;
    let back = Instant::now();
    let Some(guard) = frozen.main_guard.take() else {
        return own.map(|()| back);
    };
    match own {
        Ok(()) => {
            if let Err(e) = guard.release().await {
                tracing::warn!("releasing the main's freeze watchdog: {e:#}");
            }
            Ok(back)
        }
        Err(e) => guard
            .restore()
            .await
            .map(|()| Instant::now())
            .map_err(|g| eyre!("{e:#}; and {g:#}")),
    }
}

/// Starts the mirror's OpenKM again after a service freeze (it was stopped for its
/// index), then stands its watchdog down (or asks it to restore, if the start failed).
pub async fn resume_mirror(monitor: &Monitor, mut frozen: Frozen) {
    if frozen.mode != FreezeMode::Service {
        return;
    }
    let r = &monitor.nodes[frozen.mirror];
    let started = r
        .ssh
        .run(&r.cfg.service.start, Duration::from_secs(300))
        .await
        .is_ok_and(|o| o.success());
    if let Some(g) = frozen.mirror_guard.take() {
        let done = if started {
            g.release().await
        } else {
            g.restore().await
        };
        if let Err(e) = done {
            tracing::warn!("the mirror's freeze watchdog: {e:#}");
        }
    }
}

/// Gives the main its writes back: the main's downtime ends when this returns.
pub async fn unfreeze(monitor: &Monitor, mode: FreezeMode, main: NodeId) -> Result<()> {
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
