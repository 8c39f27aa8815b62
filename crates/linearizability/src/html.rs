//! A checked history as a self-contained HTML page (inline CSS, no script, no network), and
//! the same findings as plain text for a test's output.
//!
//! Per partition that is not linearizable, or was left undecided by the time limit or the cache
//! bound: each client's operations as
//! bars on a time line, the longest linearizable prefix in green and numbered in its order, the
//! operation where it breaks in red, the rest in grey; hovering over a bar shows the operation,
//! its times and the state after it; a table lists the prefix with the state after each step,
//! then the breaking operation (linked to its bar). Linearizable partitions, and those cut
//! short because another was illegal, are listed in one line each.
//!
//! The time axis is by rank, not by scale: every distinct call or return time of the partition
//! gets one column. Only the order of times matters to linearizability, and a scaled axis over
//! a 15-second test would squeeze millisecond operations into slivers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};

use crate::check::{CheckReport, PartitionReport, PartitionVerdict, Undecided};
use crate::history::{NEVER_RETURNED, Operation};
use crate::model::Model;

/// Characters of a description or state shown in bars, tooltips and table cells; the rest is
/// elided in the middle (the start and the end, where appended values differ, are kept).
pub const DESCRIPTION_CHARS_MAX: usize = 160;

/// Prefix rows in a partition's table; a longer prefix shows its last rows (the ones nearest
/// the break).
pub const TABLE_ROWS_MAX: usize = 1000;

/// Width of one time column, in CSS pixels, at least: small histories get wider columns, up
/// to [`COLUMN_PX_MAX`], so that their bars have room for their descriptions.
const COLUMN_PX_MIN: usize = 14;
/// Width of one time column at most, in CSS pixels.
const COLUMN_PX_MAX: usize = 70;
/// The width small histories are spread over, in CSS pixels.
const TIMELINE_PX: usize = 1000;
/// Average width of a character of a bar's label, in CSS pixels (11 px sans-serif).
const LABEL_CHAR_PX: usize = 6;
/// Height of one client's row, in CSS pixels.
const ROW_PX: usize = 26;
/// Space left of the time line for client names, in CSS pixels.
const GUTTER_PX: usize = 80;

/// Writes the page for `report` (a check of `history` against `model`) to `path` and returns
/// the path, for the test to print.
///
/// # Errors
/// The I/O error if the file cannot be written.
pub fn write_html<M: Model>(
    path: impl AsRef<Path>,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    report: &CheckReport,
) -> io::Result<PathBuf> {
    let path = path.as_ref().to_path_buf();
    std::fs::write(&path, render_html(model, history, report))?;
    Ok(path)
}

/// The page [`write_html`] writes.
pub fn render_html<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    report: &CheckReport,
) -> String {
    let mut page = String::new();
    page.push_str(PAGE_HEAD);
    let _ = write!(
        page,
        "<h1>History: {}</h1><p>{} operations in {} partitions, checked in {:.3} s.</p>",
        escape(&report.result.to_string()),
        history.len(),
        report.partitions.len(),
        report.elapsed.as_secs_f64()
    );
    page.push_str(LEGEND);
    // Drawn in full: what was found illegal or left undecided by the limits. Listed in one
    // line each: the linearizable partitions, and those the check stopped early because
    // another was illegal (their search was cut short, so there is nothing to show).
    let (mut linearizable, mut stopped) = (Vec::new(), Vec::new());
    for (index, partition) in report.partitions.iter().enumerate() {
        match partition.verdict {
            PartitionVerdict::Ok => linearizable.push(index),
            PartitionVerdict::Unknown(Undecided::StoppedAfterIllegal) => stopped.push(index),
            _ => render_partition(&mut page, model, history, index, partition),
        }
    }
    let lists = [
        ("Linearizable partitions", linearizable),
        (
            "Partitions not finished (the check stopped at the first illegal one)",
            stopped,
        ),
    ];
    for (title, indices) in lists {
        render_partition_list(&mut page, model, history, report, title, &indices);
    }
    page.push_str("</body></html>\n");
    page
}

/// A titled list of partitions, one line each: size and first operation.
fn render_partition_list<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    report: &CheckReport,
    title: &str,
    indices: &[usize],
) {
    if indices.is_empty() {
        return;
    }
    let _ = write!(page, "<h2>{title} ({})</h2><ul>", indices.len());
    for &index in indices {
        let partition = &report.partitions[index];
        let first = partition.operations.first().map_or_else(String::new, |&op| {
            let o = &history[op];
            format!(", first {}", model.describe_operation(&o.input, &o.output))
        });
        let _ = write!(
            page,
            "<li>partition {index}: {} operations{}</li>",
            partition.operations.len(),
            escape(&shorten(&first))
        );
    }
    page.push_str("</ul>");
}

/// The findings of a check as text: per illegal or undecided partition, how far the longest
/// prefix got, the state there, and the operation that breaks it.
pub fn describe_failure<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    report: &CheckReport,
) -> String {
    let mut text = format!("history is {}\n", report.result);
    for (index, partition) in report.partitions.iter().enumerate() {
        if partition.verdict == PartitionVerdict::Ok {
            continue;
        }
        let states = replay(model, history, &partition.longest_prefix);
        let _ = writeln!(
            text,
            "partition {index}: {:?}; {} of {} operations linearize, state then {}",
            partition.verdict,
            partition.longest_prefix.len(),
            partition.operations.len(),
            shorten(&model.describe_state(states.last().expect("init is always there")))
        );
        if let Some(op) = partition.breaking_operation {
            let o = &history[op];
            let _ = writeln!(
                text,
                "  breaks at operation {op} (client {}, {}..{}): {}",
                o.client_id,
                o.call_time,
                time_text(o.return_time),
                shorten(&model.describe_operation(&o.input, &o.output))
            );
        }
    }
    text
}

/// The states along `prefix`: `init`, then the state after each operation.
fn replay<M: Model>(
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    prefix: &[usize],
) -> Vec<M::State> {
    let mut states = vec![model.init()];
    for &op in prefix {
        let state = states.last().expect("init is always there");
        let next = model.step(state, &history[op].input, &history[op].output);
        states.push(next.expect("the checker only reports prefixes the model accepts"));
    }
    states
}

fn render_partition<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    index: usize,
    partition: &PartitionReport,
) {
    let states = replay(model, history, &partition.longest_prefix);
    let last_state = states.last().expect("init is always there");
    let _ = write!(
        page,
        "<h2>Partition {index}: {}</h2><p>{} operations; the longest linearizable prefix found \
         has {} (green, numbered in order); the state after it is <code>{}</code>.</p>",
        escape(&verdict_text(partition.verdict)),
        partition.operations.len(),
        partition.longest_prefix.len(),
        escape(&shorten(&model.describe_state(last_state)))
    );
    if let Some(op) = partition.breaking_operation {
        let o = &history[op];
        let verdict = match model.step(last_state, &o.input, &o.output) {
            None => "the model rejects it in that state".to_owned(),
            Some(_) => "the model accepts it there, but every order that places it next fails \
                        later"
                .to_owned(),
        };
        let _ = write!(
            page,
            "<p class=\"break\">It breaks at <a href=\"#op-{op}\">operation {op}</a> (client {}, \
             red): <code>{}</code>: \
             its response arrived before any legal order could place it; {verdict}.</p>",
            o.client_id,
            escape(&shorten(&model.describe_operation(&o.input, &o.output)))
        );
    }
    render_timeline(page, model, history, partition, &states);
    render_table(page, model, history, partition, &states);
}

fn verdict_text(verdict: PartitionVerdict) -> String {
    match verdict {
        PartitionVerdict::Ok => "linearizable".to_owned(),
        PartitionVerdict::Illegal => "not linearizable".to_owned(),
        PartitionVerdict::Unknown(why) => format!("undecided ({why:?})"),
    }
}

fn render_timeline<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition: &PartitionReport,
    states: &[M::State],
) {
    let ops = &partition.operations;
    let times: BTreeSet<u64> = ops
        .iter()
        .flat_map(|&i| [history[i].call_time, history[i].return_time])
        .collect();
    let column: BTreeMap<u64, usize> = times.iter().enumerate().map(|(c, &t)| (t, c)).collect();
    let clients: BTreeSet<usize> = ops.iter().map(|&i| history[i].client_id).collect();
    let row: BTreeMap<usize, usize> = clients.iter().enumerate().map(|(r, &c)| (c, r)).collect();
    let position: BTreeMap<usize, usize> = partition
        .longest_prefix
        .iter()
        .enumerate()
        .map(|(p, &op)| (op, p))
        .collect();
    let column_px = (TIMELINE_PX / times.len().max(1)).clamp(COLUMN_PX_MIN, COLUMN_PX_MAX);
    let width = GUTTER_PX + (times.len() + 1) * column_px;
    let height = clients.len() * ROW_PX + 4;
    let _ = write!(
        page,
        "<div class=\"timeline\"><svg width=\"{width}\" height=\"{height}\" \
         xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (&client, &r) in &row {
        let y = r * ROW_PX + ROW_PX / 2 + 5;
        let _ = write!(
            page,
            "<text class=\"client\" x=\"4\" y=\"{y}\">client {client}</text>"
        );
    }
    for &op in ops {
        let o = &history[op];
        let x = GUTTER_PX + column[&o.call_time] * column_px;
        let w = (column[&o.return_time] - column[&o.call_time]) * column_px + column_px / 2;
        let y = row[&o.client_id] * ROW_PX + 2;
        let description = shorten(&model.describe_operation(&o.input, &o.output));
        let (class, label, after) = match position.get(&op) {
            Some(&p) => {
                let state = shorten(&model.describe_state(&states[p + 1]));
                (
                    "prefix",
                    format!("{}", p + 1),
                    format!("; #{} in the prefix, state after: {state}", p + 1),
                )
            }
            None if partition.breaking_operation == Some(op) => {
                ("breaking", "✗".to_owned(), "; where the prefix breaks".to_owned())
            }
            None => ("other", String::new(), String::new()),
        };
        let _ = write!(
            page,
            "<g class=\"{class}\" id=\"op-{op}\"><title>operation {op}: {} [{}, {}]{}</title>\
             <rect x=\"{x}\" y=\"{y}\" width=\"{w}\" height=\"{}\" rx=\"3\"/>\
             <text x=\"{}\" y=\"{}\">{}</text></g>",
            escape(&description),
            o.call_time,
            time_text(o.return_time),
            escape(&after),
            ROW_PX - 6,
            x + 3,
            y + ROW_PX / 2 + 2,
            escape(&fit_label(&label, &description, w))
        );
    }
    page.push_str("</svg></div>");
}

fn render_table<M: Model>(
    page: &mut String,
    model: &M,
    history: &[Operation<M::Input, M::Output>],
    partition: &PartitionReport,
    states: &[M::State],
) {
    let prefix = &partition.longest_prefix;
    let skipped = prefix.len().saturating_sub(TABLE_ROWS_MAX);
    page.push_str(
        "<table><tr><th>#</th><th>operation</th><th>client</th><th>call</th><th>return</th>\
         <th>state after</th></tr>",
    );
    if skipped > 0 {
        let _ = write!(
            page,
            "<tr><td colspan=\"6\">({skipped} earlier steps not shown)</td></tr>"
        );
    }
    for (p, &op) in prefix.iter().enumerate().skip(skipped) {
        let o = &history[op];
        let _ = write!(
            page,
            "<tr class=\"prefix\"><td>{}</td><td>{} <code>{}</code></td><td>{}</td><td>{}</td>\
             <td>{}</td><td><code>{}</code></td></tr>",
            p + 1,
            op,
            escape(&shorten(&model.describe_operation(&o.input, &o.output))),
            o.client_id,
            o.call_time,
            time_text(o.return_time),
            escape(&shorten(&model.describe_state(&states[p + 1])))
        );
    }
    if let Some(op) = partition.breaking_operation {
        let o = &history[op];
        let _ = write!(
            page,
            "<tr class=\"breaking\"><td>✗</td><td>{op} <code>{}</code></td><td>{}</td><td>{}</td>\
             <td>{}</td><td>cannot be placed</td></tr>",
            escape(&shorten(&model.describe_operation(&o.input, &o.output))),
            o.client_id,
            o.call_time,
            time_text(o.return_time)
        );
    }
    page.push_str("</table>");
}

/// A time as the page and the text show it: the number, or "never returned" for a pending
/// operation's return ([`NEVER_RETURNED`]).
fn time_text(time: u64) -> String {
    if time == NEVER_RETURNED {
        "never returned".to_owned()
    } else {
        time.to_string()
    }
}

/// A bar's label: its mark (position in the prefix, or the break) and as much of the
/// operation's description as fits in `width_px`.
fn fit_label(mark: &str, description: &str, width_px: usize) -> String {
    let room = (width_px.saturating_sub(6) / LABEL_CHAR_PX).saturating_sub(mark.chars().count() + 1);
    let text: String = description.chars().take(room).collect();
    match (mark.is_empty(), text.is_empty()) {
        (_, true) => mark.to_owned(),
        (true, false) => text,
        (false, false) => format!("{mark} {text}"),
    }
}

/// `text` cut to [`DESCRIPTION_CHARS_MAX`] characters, keeping its start and its end.
fn shorten(text: &str) -> String {
    let chars = text.chars().count();
    if chars <= DESCRIPTION_CHARS_MAX {
        return text.to_owned();
    }
    let head: String = text.chars().take(DESCRIPTION_CHARS_MAX / 3).collect();
    let tail: String = text.chars().skip(chars - DESCRIPTION_CHARS_MAX * 2 / 3).collect();
    format!(
        "{head} … ({} characters) … {tail}",
        chars - head.len() - tail.len()
    )
}

/// `text` with HTML's special characters escaped.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const PAGE_HEAD: &str = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Linearizability check</title><style>\
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}\
h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
code{background:#f3f3f3;padding:0 .2em;word-break:break-all}\
.timeline{overflow-x:auto;border:1px solid #ddd;margin:.8em 0;background:#fcfcfc}\
svg text{font-size:11px;pointer-events:none}\
svg text.client{fill:#555}\
g.prefix rect{fill:#9bd49b;stroke:#3a7d3a}\
g.breaking rect{fill:#f08080;stroke:#a00;stroke-width:2}\
g.other rect{fill:#ddd;stroke:#999}\
g:hover rect{stroke:#000;stroke-width:2}\
table{border-collapse:collapse;font-size:13px}\
td,th{border:1px solid #ccc;padding:2px 6px;text-align:left;vertical-align:top}\
tr.breaking td{background:#f8caca;font-weight:bold}\
p.break{color:#900}\
.legend span{display:inline-block;padding:0 .6em;margin-right:.6em;border:1px solid #999}\
</style></head><body>";

const LEGEND: &str = "<p class=\"legend\"><span style=\"background:#9bd49b\">longest linearizable \
prefix (numbered in order)</span><span style=\"background:#f08080\">where it breaks</span>\
<span style=\"background:#ddd\">not placed</span> Time runs left to right by rank: each column \
is one distinct call or return time. Hover over an operation for its times and the state after \
it.</p>";
