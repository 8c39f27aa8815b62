//! The page of a failing history: written where asked, self-contained, and naming the
//! operation where the history breaks; the text summary says the same.

mod common;

use common::{Workload, linearizable_kv_history, perturb_with_unwritten_value};
use linearizability::models::kv::KvModel;
use linearizability::{CheckOptions, CheckResult, check_operations, describe_failure, write_html};

#[test]
fn a_stale_read_is_drawn_with_its_prefix_and_break() {
    let history = [
        KvModel::put(0, "x", "1", 0, 10),
        KvModel::append(1, "x", "<2>", 12, 15),
        KvModel::get(2, "x", "1", 20, 30),
        KvModel::get(0, "y", "", 0, 30),
    ];
    let options = CheckOptions {
        stop_at_first_illegal: false,
        ..CheckOptions::default()
    };
    let report = check_operations(&KvModel, &history, &options).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);

    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = write_html(dir.path().join("history.html"), &KvModel, &history, &report)
        .expect("the page is written");
    let page = std::fs::read_to_string(&path).expect("the page can be read");
    assert!(page.starts_with("<!DOCTYPE html>") && page.trim_end().ends_with("</html>"));
    for fetch in ["<script", "<link", "src=", "@import", "url("] {
        assert!(!page.contains(fetch), "self-contained: no {fetch}");
    }
    assert!(
        page.contains("It breaks at <a href=\"#op-2\">operation 2</a>"),
        "names the breaking operation"
    );
    assert!(
        page.contains("get(&#39;x&#39;) -&gt; &#39;1&#39;"),
        "describes it, escaped"
    );
    assert!(
        page.contains("&#39;1&lt;2&gt;&#39;"),
        "shows the state after the prefix"
    );
    assert!(
        page.contains("<g class=\"breaking\" id=\"op-2\">"),
        "highlights it, linked"
    );
    assert_eq!(
        page.matches("<g class=\"prefix\" id=").count(),
        2,
        "put and append linearize"
    );
    assert!(
        page.contains("Linearizable partitions (1)"),
        "key y is listed apart"
    );

    let text = describe_failure(&KvModel, &history, &report);
    assert!(text.contains("2 of 3 operations linearize"), "{text}");
    assert!(
        text.contains("breaks at operation 2 (client 2, 20..30): get('x') -> '1'"),
        "{text}"
    );
}

#[test]
fn a_large_failing_history_gets_a_bounded_page() {
    let mut history = linearizable_kv_history(3, &Workload::lab3(10, 1_000, 5));
    let changed = perturb_with_unwritten_value(&mut history, 4_321);
    let report = check_operations(&KvModel, &history, &CheckOptions::default()).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path =
        write_html(dir.path().join("large.html"), &KvModel, &history, &report).expect("the page is written");
    let page = std::fs::read_to_string(&path).expect("the page can be read");
    assert!(page.contains(&format!(
        "It breaks at <a href=\"#op-{changed}\">operation {changed}</a> "
    )));
    // One partition drawn in full (about 2,000 operations), the rest listed: a few MB at most.
    assert_eq!(
        page.matches("<h2>Partition ").count(),
        1,
        "only the illegal key is drawn"
    );
    assert!(page.len() < 8_000_000, "{} bytes", page.len());
}

#[test]
fn a_page_can_be_drawn_for_any_verdict_even_an_empty_history() {
    use linearizability::models::register::RegisterModel;
    let report = check_operations(&RegisterModel, &[], &CheckOptions::default()).expect("empty");
    assert_eq!(report.result, CheckResult::Ok);
    let page = linearizability::html::render_html(&RegisterModel, &[], &report);
    assert!(page.contains("History: linearizable") && page.contains("0 operations"));
}

#[test]
fn a_pending_operation_shows_as_never_returned() {
    use linearizability::Operation;
    use linearizability::models::kv::{KvInput, KvOutput};
    // The pending put is seen by one read, then not by a later one: illegal, with the put in
    // the prefix and in the text of the break.
    let put = KvInput::Put {
        key: "x".into(),
        value: "1".into(),
    };
    let history = [
        Operation::pending(0, put, 0, KvOutput::default()),
        KvModel::get(1, "x", "1", 10, 20),
        KvModel::get(1, "x", "", 30, 40),
    ];
    let report = check_operations(&KvModel, &history, &CheckOptions::default()).expect("well-formed");
    assert_eq!(report.result, CheckResult::Illegal);
    let page = linearizability::html::render_html(&KvModel, &history, &report);
    assert!(
        !page.contains(&u64::MAX.to_string()),
        "the raw end of time is shown"
    );
    assert!(
        page.contains("[0, never returned]"),
        "the bar's tooltip says it never returned"
    );
    assert!(
        page.contains("<td>0</td><td>never returned</td>"),
        "the prefix table says it never returned"
    );
}
