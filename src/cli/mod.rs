//! The command line: a thin face over the engine, for operators, cron and monitoring.

mod agent_cmd;
mod config_cmd;
mod docs_cmd;
mod drill_cmd;
mod flow_cmd;
mod follow_cmd;
mod status_cmd;
mod sync_cmd;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use color_eyre::eyre::{Result, eyre};

use crate::config::{self, Config, PlanMode};
use crate::sync::manifest::BuildStats;

/// okmirror keeps an OpenKM main server and its mirror in step, and moves the service
/// between them when the main dies. Without a command it opens the console.
#[derive(Debug, Parser)]
#[command(name = "okmirror", version, about, long_about = None)]
pub struct Cli {
    /// Config file (default: ~/.config/okmirror/okmirror.toml, or $OKMIRROR_CONFIG).
    #[arg(
        long,
        short = 'c',
        global = true,
        env = "OKMIRROR_CONFIG",
        value_name = "PATH"
    )]
    pub config: Option<PathBuf>,
    /// Console without mutating actions (sync, failover are hidden).
    #[arg(long, global = true)]
    pub readonly: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// What to do; none opens the console.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Probe both nodes once and print the pair's state. Exit codes follow monitoring
    /// plugins: 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Status {
        /// Print JSON.
        #[arg(long, conflicts_with = "prometheus")]
        json: bool,
        /// Print Prometheus text format (for node_exporter's textfile collector).
        #[arg(long)]
        prometheus: bool,
        /// Skip computing the pending file diffs (faster).
        #[arg(long)]
        no_diff: bool,
    },
    /// Copy the main's files to the mirror: plan, bulk pass, short freeze, final pass,
    /// database caught up, SHA-256 verify, last-sync record. Exit 0 only when verified.
    Sync {
        /// Plan and check only; nothing moves.
        #[arg(long)]
        dry_run: bool,
        /// Do not ask for confirmation (cron).
        #[arg(long, short = 'y')]
        yes: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Confirm a plan that deletes more than the limits: give the exact number.
        #[arg(long, value_name = "N")]
        allow_deletes: Option<u64>,
        /// How the bulk pass finds what to copy (default: the config's `[sync] plan`).
        #[arg(long, value_enum)]
        plan: Option<crate::config::PlanMode>,
    },
    /// Ship new datastore files to the mirror as their rows replicate, within seconds
    /// (runs until stopped; the package's okmirror-follow.service runs it). Never
    /// deletes, never replaces, never writes on the main.
    Follow {
        /// One pass (ship what the mirror lacks now), then exit: for cron. Exit 1 when
        /// files are still missing.
        #[arg(long)]
        once: bool,
        /// rsync --bwlimit in KiB/s (default: the config's `[follow] bwlimit_kbps`).
        #[arg(long, value_name = "KIB_PER_S")]
        bwlimit: Option<u64>,
        /// Print the final record as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Planned move of the service to the mirror (both nodes up, no data loss).
    Switchover {
        /// The node that becomes the main.
        #[arg(long, value_name = "NODE")]
        to: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// The main is down: fence it and promote the mirror.
    Failover {
        /// The node that becomes the main.
        #[arg(long, value_name = "NODE")]
        to: String,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Bring a former main back as the mirror of the current main.
    Rejoin {
        /// The former main.
        node: String,
        /// Give up the former main's errant transactions: save its binlogs, then replace
        /// its database with a dump of the current main's.
        #[arg(long)]
        reseed: bool,
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Continue the unfinished flow from its first unfinished step.
    Resume {
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Undo the unfinished flow instead of finishing it (only before promotion began):
    /// a frozen old main takes writes again.
    Rollback {
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// Close the unfinished flow's journal without running anything more (after the
    /// nodes were checked by hand). Needs the word typed: --confirm-node abandon.
    Abandon {
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// DR rehearsal: switchover to the mirror and back while a probe writes through the
    /// front door; reports each step's time, the RTO and the RPO (saved under the data
    /// dir's drills/). Promotion needs both names typed: --confirm-node for each node.
    /// Exit 0 only when both switchovers completed and no acknowledged write was lost.
    Drill {
        #[command(flatten)]
        flow: FlowArgs,
    },
    /// List what a sync would change on the mirror (main -> mirror).
    Diff {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// How to find the changes: `scan` (an rsync dry run over the whole Tomcat home)
        /// or `journal` (the datastore files of versions created since the mirror's last
        /// verified sync that it lacks; no walk of the datastore).
        #[arg(long, value_enum, default_value_t = PlanMode::Scan)]
        plan: PlanMode,
    },
    /// Helpers that run on a node (okmirror installed there), called over SSH.
    Agent {
        #[command(subcommand)]
        action: AgentAction,
    },
    /// Check both nodes' prerequisites (SSH both ways, rsync, folders, binlog and GTID
    /// settings, grants, read-only flags, clocks, disk room, HAProxy, agent) and name the
    /// fix for each problem. Changes nothing. Exit 0 all passed, 1 warnings, 2 failures.
    Doctor {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Work with the config file.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Print a shell completion script (the package installs them for bash, zsh, fish).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), made from these same definitions.
    Man,
}

/// Options shared by the guided flows.
#[derive(Debug, Clone, clap::Args)]
pub struct FlowArgs {
    /// Show every step (commands and SQL) and touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Answer yes to ordinary confirmations (not to typed ones).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Confirm a step that needs a node's name typed (fencing, promotion); repeatable.
    #[arg(long, value_name = "NAME")]
    pub confirm_node: Vec<String>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Confirm that the flow's file copies may delete more than the sync's limits on
    /// the target: give the exact number the refusal named.
    #[arg(long, value_name = "N")]
    pub allow_deletes: Option<u64>,
}

/// `okmirror agent ...`
#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// Print the SHA-256 manifest of a folder (`sha256<TAB>size<TAB>path` lines). With
    /// --cache FOLDER, folders whose stat stamp did not move are not read again, and
    /// files whose stamp and size did not move are not hashed again.
    Manifest {
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Print every folder and file under a folder with its size, time and permissions
    /// (`d<TAB>path`, `f<TAB>size<TAB>mtime<TAB>perm<TAB>path`, then `end<TAB>lines`), for
    /// a scan plan. With --cache FOLDER (a manifest's), folders whose stat stamp did not
    /// move are not read again; the cache is not written.
    Listing {
        #[arg(long)]
        root: PathBuf,
        #[arg(long)]
        cache: Option<PathBuf>,
    },
    /// Copy this okmirror binary to the node(s) at their `agent_path`, checked by SHA-256
    /// on the node, then renamed into place (refused on another architecture).
    Install {
        /// One node; both when left out.
        node: Option<String>,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `okmirror config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the config without touching any node (exit 0 valid, 1 invalid).
    Check,
    /// Print an annotated example config.
    Example,
    /// Print the path of the config file that would be used.
    Path,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode> {
    use crate::failover::FlowKind;
    let given = cli.config.as_deref();
    // The config, for the commands that need one (loaded only then).
    let cfg = || load(given).map(|(_, cfg)| cfg);
    match cli.command {
        None => {
            let (path, cfg) = load(given)?;
            crate::ui::run(cfg, path, cli.readonly).await?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Status {
            json,
            prometheus,
            no_diff,
        }) => status(given, json, prometheus, no_diff).await,
        Some(Command::Sync {
            dry_run,
            yes,
            json,
            allow_deletes,
            plan,
        }) => {
            let mut cfg = cfg()?;
            if let Some(p) = plan {
                cfg.sync.plan = p;
            }
            sync_cmd::sync(cfg, dry_run, yes, json, allow_deletes).await
        }
        Some(Command::Follow {
            once,
            bwlimit,
            json,
        }) => follow_cmd::follow(cfg()?, once, bwlimit, json).await,
        Some(Command::Switchover { to, flow }) => {
            flow_cmd::start(cfg()?, FlowKind::Switchover, &to, flow).await
        }
        Some(Command::Failover { to, flow }) => {
            flow_cmd::start(cfg()?, FlowKind::Failover, &to, flow).await
        }
        Some(Command::Rejoin { node, reseed, flow }) => {
            let kind = if reseed {
                FlowKind::Reseed
            } else {
                FlowKind::Rejoin
            };
            flow_cmd::start(cfg()?, kind, &node, flow).await
        }
        Some(Command::Resume { flow }) => flow_cmd::resume(cfg()?, flow).await,
        Some(Command::Rollback { flow }) => flow_cmd::rollback(cfg()?, flow).await,
        Some(Command::Abandon { flow }) => flow_cmd::abandon(flow),
        Some(Command::Drill { flow }) => drill_cmd::drill(cfg()?, flow).await,
        Some(Command::Diff { json, plan }) => status_cmd::diff(cfg()?, json, plan).await,
        Some(Command::Agent { action }) => agent(given, action).await,
        Some(Command::Config { action }) => config_action(given, action),
        Some(Command::Doctor { json }) => doctor(given, json).await,
        Some(Command::Completions { shell }) => docs_cmd::completions(shell),
        Some(Command::Man) => docs_cmd::man(),
    }
}

/// `okmirror status`: a config that cannot be read is UNKNOWN to a monitoring system.
async fn status(
    given: Option<&Path>,
    json: bool,
    prometheus: bool,
    no_diff: bool,
) -> Result<ExitCode> {
    let cfg = match load(given) {
        Ok((_, c)) => c,
        Err(e) => {
            println!("UNKNOWN: {e:#}");
            return Ok(ExitCode::from(3));
        }
    };
    let format = if json {
        status_cmd::Format::Json
    } else if prometheus {
        status_cmd::Format::Prometheus
    } else {
        status_cmd::Format::Human
    };
    status_cmd::status(cfg, format, !no_diff).await
}

/// `okmirror agent ...`: the manifest needs no config (it runs on a node).
async fn agent(given: Option<&Path>, action: AgentAction) -> Result<ExitCode> {
    match action {
        AgentAction::Manifest { root, cache } => walk_to_stdout(
            crate::sync::manifest::build,
            &root,
            cache.as_deref(),
            "manifest",
        ),
        AgentAction::Listing { root, cache } => walk_to_stdout(
            crate::sync::manifest::listing,
            &root,
            cache.as_deref(),
            "listing",
        ),
        AgentAction::Install { node, json } => {
            let (_, cfg) = load(given)?;
            agent_cmd::install(cfg, node, json).await
        }
    }
}

/// A walk of `root` (a manifest or a listing) written to stdout, buffered.
fn walk_to_stdout(
    walk: fn(&Path, Option<&Path>, &mut dyn Write) -> Result<BuildStats>,
    root: &Path,
    cache: Option<&Path>,
    what: &str,
) -> Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stats = walk(root, cache, &mut out)?;
    out.flush()?;
    tracing::info!(?stats, root = %root.display(), "{what} made");
    Ok(ExitCode::SUCCESS)
}

/// `okmirror config ...`
fn config_action(given: Option<&Path>, action: ConfigAction) -> Result<ExitCode> {
    match action {
        ConfigAction::Example => {
            print_out(config::EXAMPLE)?;
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Path => {
            println!("{}", config_path(given)?.display());
            Ok(ExitCode::SUCCESS)
        }
        ConfigAction::Check => config_cmd::check(&config_path(given)?),
    }
}

/// `okmirror doctor`: a config that does not load is itself the failure (exit 2).
async fn doctor(given: Option<&Path>, json: bool) -> Result<ExitCode> {
    let (path, cfg) = match load(given) {
        Ok(r) => r,
        Err(e) => {
            println!("okmirror doctor: the config does not load:\n{e}");
            println!("fix: okmirror config check; okmirror config example shows every key");
            return Ok(ExitCode::from(2));
        }
    };
    let report = crate::doctor::run(cfg, &path).await;
    if json {
        print_out(&format!("{}\n", crate::doctor::json(&report)?))?;
    } else {
        print_out(&crate::doctor::human(&report))?;
    }
    Ok(ExitCode::from(report.exit_code()))
}

/// Writes to stdout; a closed pipe (`okmirror diff | head`) ends quietly, not in a panic.
pub fn print_out(text: &str) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.map_err(|e| eyre!("writing to stdout: {e}")),
    }
}

/// The config file to use: `--config`, `$OKMIRROR_CONFIG`, or the default location.
pub fn config_path(given: Option<&Path>) -> Result<PathBuf> {
    match given {
        Some(p) => Ok(p.to_path_buf()),
        None => config::default_path()
            .ok_or_else(|| eyre!("no home directory to find the config in; pass --config PATH")),
    }
}

/// Loads and validates the config, turning its errors into one report.
pub fn load(given: Option<&Path>) -> Result<(PathBuf, Config)> {
    let path = config_path(given)?;
    let cfg = config::load_file(&path).map_err(|e| eyre!("{e}"))?;
    Ok((path, cfg))
}
