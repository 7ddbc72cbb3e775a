//! The dashboard: two node cards, replication, last sync and pending diffs, alerts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph, Sparkline, Wrap};

use crate::format;
use crate::pair::model::{NodeStatus, PairStatus, Severity};
use crate::pair::report;
use crate::pair::roles::{PairRoles, Role};
use crate::sync::pending::PlanBasis;
use crate::ui::app::{App, Pane};
use crate::ui::theme::Theme;

pub fn render(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let split = app
        .status
        .as_ref()
        .is_some_and(|s| s.roles == PairRoles::SplitBrain);
    let [banner, cards, repl, summary, alerts] = Layout::vertical([
        Constraint::Length(split as u16),
        Constraint::Length(10),
        Constraint::Length(6),
        Constraint::Length(2),
        Constraint::Min(3),
    ])
    .areas(area);
    if split {
        frame.render_widget(
            Line::styled(
                " SPLIT BRAIN: both databases are writable. Only one node may take writes. ",
                theme.banner,
            )
            .centered(),
            banner,
        );
    }
    let columns = Layout::horizontal([Constraint::Fill(1), Constraint::Fill(1)]).split(cards);
    for (i, col) in columns.iter().enumerate() {
        let node = app.status.as_ref().and_then(|s| s.nodes.get(i));
        let name = app.nodes.get(i).map_or("?", |n| n.name.as_str());
        let ssh = app.nodes.get(i).map_or(String::new(), |n| n.ssh.clone());
        render_card(app, theme, frame, *col, name, &ssh, node);
    }
    render_replication(app, theme, frame, repl);
    render_summary(app, theme, frame, summary);
    render_alerts(app, theme, frame, alerts);
}

fn role_badge(theme: &Theme, role: Role) -> Span<'static> {
    let (text, style) = match role {
        Role::Main => (" MAIN ", theme.ok),
        Role::Mirror => (" MIRROR ", theme.ok),
        Role::SplitBrain => (" SPLIT BRAIN ", theme.banner),
        Role::ReadOnly => (" READ-ONLY ", theme.warn),
        Role::Unknown => (" UNKNOWN ", theme.crit),
    };
    Span::styled(text, style.add_modifier(ratatui::style::Modifier::REVERSED))
}

fn render_card(
    app: &App,
    theme: &Theme,
    frame: &mut Frame,
    area: Rect,
    name: &str,
    ssh: &str,
    node: Option<&NodeStatus>,
) {
    let mut title = vec![Span::styled(format!(" {name} "), theme.header)];
    let lines = match node {
        None => vec![Line::styled("probing…", theme.dim)],
        Some(n) => {
            title.push(role_badge(theme, n.role));
            title.push(Span::styled(format!(" {ssh} "), theme.dim));
            card_lines(app, theme, n)
        }
    };
    let border = if app.pane == Pane::Nodes {
        theme.focus_border
    } else {
        theme.border
    };
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: true }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(Line::from(title)),
        ),
        area,
    );
}

/// A card's label column.
fn field(theme: &Theme, label: &str) -> Span<'static> {
    Span::styled(format!("{label:<7}"), theme.dim)
}

/// Green when good, red when not.
fn good(theme: &Theme, ok: bool) -> ratatui::style::Style {
    if ok { theme.ok } else { theme.crit }
}

/// A probed node's card: SSH, OpenKM, database, then what its agent counted.
fn card_lines(app: &App, theme: &Theme, n: &NodeStatus) -> Vec<Line<'static>> {
    let mut lines = vec![Line::from(vec![
        field(theme, "ssh"),
        match (&n.ssh_error, n.ssh_rtt_ms) {
            (Some(e), _) => Span::styled(format!("DOWN {e}"), theme.crit),
            (None, rtt) => Span::styled(
                format!("ok{}", rtt.map_or(String::new(), |r| format!(" {r:.0} ms"))),
                theme.ok,
            ),
        },
    ])];
    let f = n.facts.as_ref();
    lines.push(openkm_line(theme, f));
    lines.extend(db_lines(theme, n));
    if let Some(f) = f {
        lines.extend(facts_lines(app, theme, f));
    }
    lines
}

/// OpenKM's service and its HTTP answer.
fn openkm_line(theme: &Theme, f: Option<&crate::pair::remote::RemoteFacts>) -> Line<'static> {
    let mut openkm = vec![field(theme, "openkm")];
    match f.and_then(|f| f.service_running) {
        Some(r) => openkm.push(Span::styled(
            if r { "running" } else { "STOPPED" },
            good(theme, r),
        )),
        None => openkm.push(Span::styled("?", theme.dim)),
    }
    match f.and_then(|f| f.http) {
        Some((200, ms)) => openkm.push(Span::styled(format!(" · http 200 {ms:.1} ms"), theme.ok)),
        Some((0, _)) => openkm.push(Span::styled(" · http no answer", theme.crit)),
        Some((c, _)) => openkm.push(Span::styled(format!(" · http {c}"), theme.crit)),
        None => {}
    }
    Line::from(openkm)
}

/// The database's version and read-only flags, or why it does not answer.
fn db_lines(theme: &Theme, n: &NodeStatus) -> Vec<Line<'static>> {
    match (&n.db, &n.db_error) {
        (Some(d), _) => vec![
            Line::from(vec![
                field(theme, "db"),
                Span::raw(short_version(&d.version)),
            ]),
            Line::from(vec![
                field(theme, "flags"),
                Span::raw(format!(
                    "read_only {} · sys.ro {}",
                    if d.read_only { "yes" } else { "no" },
                    d.system_readonly
                        .map_or("missing".into(), |v| v.to_string())
                )),
            ]),
        ],
        (None, Some(e)) => vec![Line::from(vec![
            field(theme, "db"),
            Span::styled(format!("DOWN {e}"), theme.crit),
        ])],
        (None, None) => vec![Line::from(vec![
            field(theme, "db"),
            Span::styled("?", theme.dim),
        ])],
    }
}

/// What the node's probe counted: disk, datastore, repository UUID, agent.
fn facts_lines(
    app: &App,
    theme: &Theme,
    f: &crate::pair::remote::RemoteFacts,
) -> Vec<Line<'static>> {
    let disk = match (f.disk_total, f.disk_free) {
        (Some(t), Some(fr)) if t > 0 => {
            format!("{:.1}% free", fr as f64 * 100.0 / t as f64)
        }
        _ => "?".into(),
    };
    let now = app.status.as_ref().map_or(0, |s| s.taken_at);
    let ds = match (f.datastore_files, f.datastore_bytes, f.datastore_counted_at) {
        _ if f.datastore_missing => Span::styled("datastore MISSING", theme.crit),
        (Some(c), b, Some(at)) => Span::raw(format!(
            "{c} files{} ({})",
            b.map_or(String::new(), |b| format!(" · {}", format::bytes(b))),
            format::duration_secs(now.saturating_sub(at) as f64)
        )),
        _ => Span::styled("not counted yet (each verify counts)", theme.dim),
    };
    let (note, uuid_style) = match app.status.as_deref().map(uuids_match) {
        Some(Some(false)) => (" DIFFERS", theme.crit),
        Some(Some(true)) => (" (same)", Style::new()),
        _ => ("", Style::new()),
    };
    let uuid = f.repository_uuid.as_deref().map_or("?".to_string(), |u| {
        format!("{}…{note}", u.get(..8).unwrap_or(u))
    });
    vec![
        Line::from(vec![field(theme, "disk"), Span::raw(disk)]),
        Line::from(vec![field(theme, "store"), ds]),
        Line::from(vec![field(theme, "repo"), Span::styled(uuid, uuid_style)]),
        Line::from(vec![field(theme, "agent"), agent_span(theme, f)]),
    ]
}

/// The node's okmirror agent: its version, flagged when it is not this console's.
fn agent_span(theme: &Theme, f: &crate::pair::remote::RemoteFacts) -> Span<'static> {
    let console = crate::node::agent::VERSION;
    match f.agent_version.as_deref() {
        None => Span::styled("none (verify uses sha256sum)", theme.dim),
        Some(v) if v == console => Span::styled(v.to_string(), theme.ok),
        Some(v) => Span::styled(format!("{v} ≠ console {console}"), theme.warn),
    }
}

fn uuids_match(s: &PairStatus) -> Option<bool> {
    let u: Vec<_> = s
        .nodes
        .iter()
        .map(|n| n.facts.as_ref().and_then(|f| f.repository_uuid.clone()))
        .collect();
    match (u.first().cloned().flatten(), u.get(1).cloned().flatten()) {
        (Some(a), Some(b)) => Some(a == b),
        _ => None,
    }
}

fn short_version(v: &str) -> String {
    let flavour = crate::db::Flavour::of_version(v).name();
    format!("{flavour} {}", v.split(['-', '+']).next().unwrap_or(v))
}

fn render_replication(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let block = Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border)
        .title(" replication ");
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text, spark] = Layout::horizontal([Constraint::Fill(3), Constraint::Fill(2)]).areas(inner);
    let Some(s) = &app.status else {
        frame.render_widget(Line::styled("probing…", theme.dim), text);
        return;
    };
    let mut lines = vec![lag_line(s, theme)];
    let mirror = s.mirror();
    match mirror
        .and_then(|m| m.db.as_ref())
        .and_then(|d| d.replica.as_ref())
    {
        Some(r) => lines.extend(replica_lines(theme, r, mirror)),
        None => lines.push(Line::styled(report::replication_line(s), theme.warn)),
    }
    lines.push(files_behind_line(s, theme));
    if s.lag.writer_stalled {
        lines.push(Line::styled("heartbeat writer stalled", theme.warn));
    }
    frame.render_widget(Paragraph::new(lines), text);
    render_lag_history(app, theme, frame, spark);
}

/// The heartbeat lag, coloured by how far behind, and the transactions behind.
fn lag_line(s: &PairStatus, theme: &Theme) -> Line<'static> {
    let lag_style = match s.lag.heartbeat_secs {
        Some(l) if l >= 60.0 => theme.crit,
        Some(l) if l >= 5.0 => theme.warn,
        Some(_) => theme.ok,
        None => theme.dim,
    };
    Line::from(vec![
        Span::styled("lag    ", theme.dim),
        Span::styled(
            s.lag.heartbeat_secs.map_or("unknown".into(), |l| {
                format!("{} (heartbeat)", format::duration_secs(l))
            }),
            lag_style,
        ),
        Span::raw(
            s.lag
                .transactions_behind
                .map_or(String::new(), |t| format!(" · {t} trx behind")),
        ),
    ])
}

/// The mirror's replica threads, then its last error or its applied GTID set.
fn replica_lines(
    theme: &Theme,
    r: &crate::db::replica::ReplicaStatus,
    mirror: Option<&NodeStatus>,
) -> Vec<Line<'static>> {
    let thread = |name: &str, state: crate::db::replica::ThreadState| {
        Span::styled(
            format!("{name} {}", state.word()),
            good(theme, state == crate::db::replica::ThreadState::Yes),
        )
    };
    let threads = Line::from(vec![
        Span::styled("thread ", theme.dim),
        thread("IO", r.io),
        Span::raw(" · "),
        thread("SQL", r.sql),
        Span::raw(format!(
            " · behind {} · from {}",
            r.seconds_behind.map_or("NULL".into(), |s| format!("{s} s")),
            r.source_host
        )),
    ]);
    let err = r.last_sql_error.as_ref().or(r.last_io_error.as_ref());
    let second = match err {
        Some(e) => Line::styled(format!("error  {e}"), theme.crit),
        None => Line::from(vec![
            Span::styled("gtid   ", theme.dim),
            Span::raw(
                mirror
                    .and_then(|m| m.db.as_ref())
                    .map_or(String::new(), |d| d.gtid_applied.clone()),
            ),
        ]),
    };
    vec![threads, second]
}

/// The lag's recent history as a sparkline, titled with its peak.
fn render_lag_history(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let data: Vec<u64> = app.lag_history.iter().copied().collect();
    let width = area.width as usize;
    let tail = &data[data.len().saturating_sub(width)..];
    frame.render_widget(
        Sparkline::default()
            .data(tail)
            .style(theme.spark)
            .block(Block::default().title(Span::styled(
                format!(
                    "lag history (max {})",
                    format::duration_secs(tail.iter().max().copied().unwrap_or(0) as f64 / 1000.0)
                ),
                theme.dim,
            ))),
        area,
    );
}

/// Files behind beside the DB lag, coloured the same way, with follow's state.
fn files_behind_line(s: &PairStatus, theme: &Theme) -> Line<'static> {
    use crate::pair::model::Severity;
    let Some(fb) = &s.files_behind else {
        return Line::from(vec![
            Span::styled("files  ", theme.dim),
            Span::styled("unknown (no mirror)", theme.dim),
        ]);
    };
    let style = match fb.severity {
        Severity::Critical => theme.crit,
        Severity::Warning | Severity::Unknown => theme.warn,
        Severity::Ok if fb.count == 0 && fb.error.is_none() => theme.ok,
        Severity::Ok => theme.warn,
    };
    let what = match (&fb.error, fb.oldest_age_secs) {
        (Some(_), _) => "behind unknown".to_string(),
        (None, None) => "0 behind".to_string(),
        (None, Some(age)) => format!(
            "{}{} behind (oldest {})",
            if fb.truncated { "≥" } else { "" },
            fb.count,
            format::duration_secs(age)
        ),
    };
    let follow = match (&fb.follow, fb.follow_running) {
        (Some(r), true) if r.paused.is_some() => Span::styled(" · follow paused", theme.warn),
        (Some(_), true) => Span::styled(" · follow on", theme.ok),
        _ => Span::styled(" · follow off", theme.dim),
    };
    Line::from(vec![
        Span::styled("files  ", theme.dim),
        Span::styled(what, style),
        follow,
    ])
}

fn render_summary(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let mut lines = Vec::new();
    let sync = app
        .status
        .as_ref()
        .map_or("?".into(), |s| report::last_sync_line(s, s.taken_at));
    lines.push(Line::from(vec![
        Span::styled(" last sync  ", theme.dim),
        Span::raw(sync),
    ]));
    let pending = match (&app.plan, &app.plan_error, app.planning) {
        (_, Some(e), false) => Span::styled(format!("plan failed: {e}"), theme.warn),
        (Some(p), _, planning) => {
            let t = &p.totals;
            let mut s = match (&p.basis, t.is_empty()) {
                (PlanBasis::Scan, true) => "none: the mirror's files match the main's".into(),
                (PlanBasis::Journal { .. }, true) => {
                    "none: the mirror has every new document's file".into()
                }
                (_, false) => format!("{} (d)", t.summary()),
            };
            s.push_str(basis_note(&p.basis));
            if planning {
                s.push_str(" · planning…");
            }
            Span::raw(s)
        }
        (None, _, true) => Span::styled("planning…", theme.dim),
        (None, _, false) => Span::styled("not planned yet", theme.dim),
    };
    lines.push(Line::from(vec![
        Span::styled(" pending    ", theme.dim),
        pending,
    ]));
    frame.render_widget(Paragraph::new(lines), area);
}

/// How the pending plan was found, short enough for the summary line at 80 columns (the
/// diffs view says since when).
fn basis_note(basis: &PlanBasis) -> &'static str {
    match basis {
        PlanBasis::Scan => " · scan",
        PlanBasis::Journal { .. } => " · journal",
    }
}

fn render_alerts(app: &App, theme: &Theme, frame: &mut Frame, area: Rect) {
    let border = if app.pane == Pane::Alerts {
        theme.focus_border
    } else {
        theme.border
    };
    let alerts = &app.alerts;
    let rows = area.height.saturating_sub(2) as usize;
    let offset = crate::ui::app::scroll_to(0, app.alert_selected, rows);
    let lines: Vec<Line> = if alerts.is_empty() {
        vec![Line::styled("no alerts", theme.ok)]
    } else {
        alerts
            .iter()
            .enumerate()
            .skip(offset)
            .take(rows)
            .map(|(i, (since, a))| {
                let who = a
                    .node
                    .as_deref()
                    .map(|n| format!("{n}: "))
                    .unwrap_or_default();
                let mut line = Line::from(vec![
                    Span::styled(format!("{} ", super::clock(*since)), theme.dim),
                    Span::styled(
                        format!("{:<9}", a.severity.label()),
                        theme.severity(a.severity),
                    ),
                    Span::raw(format!("{who}{}", a.message)),
                ]);
                if app.pane == Pane::Alerts && i == app.alert_selected {
                    line = line.style(theme.selected);
                }
                line
            })
            .collect()
    };
    let worst = alerts
        .iter()
        .map(|(_, a)| a.severity)
        .max()
        .unwrap_or(Severity::Ok);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(border)
                .title(Line::from(vec![
                    Span::raw(" alerts, newest first "),
                    Span::styled(format!("({}) ", alerts.len()), theme.severity(worst)),
                ])),
        ),
        area,
    );
}
